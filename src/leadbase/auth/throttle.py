"""Login throttling: failed attempts per account and per client ip.

After ``settings.login_rate_limit`` failed logins for one account (or from one
ip) inside the window, every further attempt is refused with 429 and
Retry-After, even with the right password, until the oldest failure leaves
the window. Successful logins cost nothing. The counters live in the app's
rate limiter: process memory, or Redis shared by every replica.

Checking and recording are two steps, so attempts racing each other can each
pass the check before any failure is recorded: the overshoot is bounded by
the requests in flight at once, each paying for a password hash.
"""

from __future__ import annotations

import hashlib

from fastapi import Request
from limits import RateLimitItem

from leadbase.http.ratelimit import Limiter, RateLimitedError, limits_of


class LoginThrottle:
    def __init__(self, limiter: Limiter, rate: RateLimitItem) -> None:
        self._limiter = limiter
        self._rate = rate

    def check(self, email: str, ip: str | None) -> None:
        """RateLimitedError while the account or the ip has used up its failures."""
        waits = [self._limiter.blocked_for(self._rate, *key) for key in _keys(email, ip)]
        longest = max((wait for wait in waits if wait is not None), default=None)
        if longest is not None:
            raise RateLimitedError(longest, f"too many failed logins; retry in {longest} s")

    def record_failure(self, email: str, ip: str | None) -> None:
        for key in _keys(email, ip):
            self._limiter.hit(self._rate, *key)


def for_request(request: Request) -> LoginThrottle:
    """The throttle of the app serving this request (its limiter and login rate)."""
    limits = limits_of(request)
    return LoginThrottle(limits.limiter, limits.login_rate)


def _keys(email: str, ip: str | None) -> list[tuple[str, str]]:
    # Accounts by digest: the limiter's store (Redis) need not hold addresses.
    account = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
    keys = [("login-account", account)]
    if ip:
        keys.append(("login-ip", ip))
    return keys
