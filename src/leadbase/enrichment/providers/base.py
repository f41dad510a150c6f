"""The provider interface and the exceptions that say how a step ended.

A provider reads the lead (as enriched so far) and returns a
``ProviderResult`` (``None`` or an empty result: nothing found). It never
writes anything. Exceptions other than the ones below are errors too, and
the pipeline classifies network timeouts and connection failures itself.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx

from leadbase.config import Settings
from leadbase.enrichment.schemas import ProviderResult


@dataclass(frozen=True)
class StepContext:
    """What a provider may use besides the lead: settings, the step's time
    budget, the flags earlier providers raised, and the run's clock."""

    settings: Settings
    deadline: float  # time.monotonic() value by which the step must be done
    now: datetime
    flags: Mapping[str, Any] = field(default_factory=dict)

    def remaining(self) -> float:
        """Seconds left for network calls; at least a sliver, so a call fails by timing out."""
        return max(0.05, self.deadline - time.monotonic())


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None: ...


class BaseProvider:
    """Convenience base: a name and a default confidence for what it finds."""

    name: ClassVar[str] = "base"
    confidence: ClassVar[float] = 0.5

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        raise NotImplementedError


class StepFailure(Exception):
    """A step that did not work. ``partial`` keeps what was learnt before it
    failed (e.g. an email's syntax flags when the MX lookup timed out)."""

    status = "error"
    retry = False

    def __init__(self, message: str, *, partial: ProviderResult | None = None) -> None:
        super().__init__(message)
        self.partial = partial


class ProviderError(StepFailure):
    """A permanent error: retrying the same request would fail the same way."""


class TransientError(StepFailure):
    """Worth another try (a 5xx, a dropped connection)."""

    retry = True


class ProviderTimeout(StepFailure):
    status = "timeout"
    retry = True


class JunkResponse(StepFailure):
    """The provider answered, but with something we cannot use."""

    status = "junk"


class Skipped(StepFailure):
    """The provider does not apply (not configured); not a failure."""

    status = "skipped"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every provider's HTTP client: building one (CA
    bundle and all) takes ~50 ms, more than the request it is for."""
    return httpx.create_ssl_context()
