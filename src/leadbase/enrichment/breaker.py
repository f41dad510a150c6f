"""A circuit breaker per provider, shared by every thread of the process.

closed: steps run; ``failures`` consecutive failures (errors, timeouts, junk;
not "no data") open it. open: steps are skipped until ``reset_seconds`` have
passed; then half-open: one trial step runs (others are still skipped). A
successful trial closes it, a failed one opens it again for another period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a step run now? In half-open state only the first caller may."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial_running = False

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            was_trial = self._trial_running
            self._trial_running = False
            if was_trial or self._consecutive >= self.failures:
                self._opened_at = self._clock()

    def release(self) -> None:
        """The allowed step did not use the provider (skipped): let another try."""
        with self._lock:
            self._trial_running = False


class BreakerRegistry:
    """One breaker per provider name; thresholds follow the latest settings."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, name: str, failures: int, reset_seconds: float) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = CircuitBreaker(name, failures, reset_seconds, self._clock)
                self._breakers[name] = breaker
            breaker.failures, breaker.reset_seconds = failures, reset_seconds
            return breaker

    def states(self) -> dict[str, State]:
        with self._lock:
            breakers = dict(self._breakers)
        return {name: breaker.state for name, breaker in breakers.items()}

    def clear(self) -> None:
        with self._lock:
            self._breakers.clear()


# The process's breakers: every job thread sees the same provider health.
BREAKERS = BreakerRegistry()
