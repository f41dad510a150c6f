"""The waterfall: providers in the configured order, each seeing the lead as
enriched so far. Pure: network calls only, no database.

Each step is bounded on its own: the circuit breaker may skip it; it runs on
a thread of its own and is given up after the step timeout; transient errors
and timeouts are retried ``enrichment_retries`` times; what it returns is
checked with the same validators as the write path, and a provider that
answers junk has all its values dropped. A step that fails fails alone: the
next provider runs regardless.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import dns.exception
import httpx

from leadbase.companies import service as companies_service
from leadbase.config import Settings
from leadbase.dedupe import normalise as norm
from leadbase.enrichment import providers as registry
from leadbase.enrichment.breaker import BREAKERS, BreakerRegistry
from leadbase.enrichment.providers.base import Provider, StepContext, StepFailure
from leadbase.enrichment.providers.phone import region_for
from leadbase.enrichment.schemas import (
    ENRICHABLE_FIELDS,
    CompanyHint,
    EnrichmentOutcome,
    FieldValue,
    Found,
    ProviderResult,
    Step,
    StepStatus,
    may_replace,
    trust_of,
)
from leadbase.errors import ValidationError
from leadbase.leads import service as leads_service
from leadbase.models import utcnow

PHONE_FIELDS = ("phone", "additional_phones")
MAX_ERROR = 500


def run_waterfall(
    lead: Mapping[str, Any],
    settings: Settings,
    *,
    providers: Sequence[Provider | str] | None = None,
    now: Callable[[], datetime] = utcnow,
    breakers: BreakerRegistry | None = None,
) -> EnrichmentOutcome:
    """Run every provider over ``lead`` (its field values plus ``id``, and its
    stored ``enrichment_data`` if any, whose provenance decides what may be
    replaced). A string in ``providers`` is a name nothing is registered
    under: it is recorded as a failed step."""
    chain = registry.build(settings.enrichment_providers) if providers is None else providers
    run = _Run(lead, now)
    for provider in chain:
        if isinstance(provider, str):
            known = ", ".join(registry.names())
            run.steps.append(
                Step(provider, "error", f"no provider named {provider!r} (known: {known})")
            )
            continue
        run.step(provider, settings, breakers or BREAKERS)
    return run.outcome()


class _Attempt:
    """How one try of a step ended."""

    def __init__(
        self,
        status: StepStatus,
        result: ProviderResult | None = None,
        error: str | None = None,
        retry: bool = False,
    ) -> None:
        self.status, self.result, self.error, self.retry = status, result, error, retry


class _Run:
    def __init__(self, lead: Mapping[str, Any], now: Callable[[], datetime]) -> None:
        self.now = now
        self.started_at = now()
        self.view: dict[str, Any] = dict(lead)
        stored = lead.get("enrichment_data")
        fields = stored.get("fields") if isinstance(stored, Mapping) else None
        self.provenance: dict[str, Any] = dict(fields) if isinstance(fields, Mapping) else {}
        self.fields: dict[str, FieldValue] = {}
        self.flags: dict[str, Any] = {}
        self.company: dict[str, tuple[Any, str]] = {}
        self.steps: list[Step] = []

    # -- one step -------------------------------------------------------------------

    def step(self, provider: Provider, settings: Settings, breakers: BreakerRegistry) -> None:
        name = provider.name
        breaker = breakers.get(
            name, settings.enrichment_breaker_failures, settings.enrichment_breaker_reset_seconds
        )
        if not breaker.allow():
            error = f"circuit open after {breaker.consecutive_failures} failures in a row"
            self.steps.append(Step(name, "circuit_open", error))
            return
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            attempt = self._attempt(provider, settings)
            if not (attempt.retry and attempts <= settings.enrichment_retries):
                break
        if attempt.result is not None:
            attempt = self._checked(attempt, settings)
        if attempt.status in ("ok", "no_data"):
            breaker.success()
        elif attempt.status == "skipped":
            breaker.release()
        else:
            breaker.failure()
        if attempt.result is not None and attempt.status != "junk":
            self._merge(name, attempt.result)
        ms = int((time.monotonic() - started) * 1000)
        self.steps.append(Step(name, attempt.status, attempt.error, ms, attempts))

    def _attempt(self, provider: Provider, settings: Settings) -> _Attempt:
        timeout = settings.enrichment_timeout_seconds
        ctx = StepContext(
            settings=settings,
            deadline=time.monotonic() + timeout,
            now=self.now(),
            flags=dict(self.flags),
        )
        lead = dict(self.view)
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["result"] = provider.enrich(lead, ctx)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc

        # A thread of its own: a provider stuck past its timeout is left
        # behind (its own network timeouts end it) and the waterfall goes on.
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(call,),
            name=f"enrich-{provider.name}",
            daemon=True,
        )
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            return _Attempt("timeout", error=f"no answer within {timeout:g}s", retry=True)
        if "error" in box:
            return _classify(box["error"])
        result: ProviderResult | None = box.get("result")
        if result is None or result.empty:
            return _Attempt("no_data", result)
        return _Attempt("ok", result)

    def _checked(self, attempt: _Attempt, settings: Settings) -> _Attempt:
        """Validate what the provider returned; junk drops all of it."""
        assert attempt.result is not None
        try:
            result = _validated(attempt.result, self.view, settings)
        except ValidationError as exc:
            return _Attempt("junk", error=_short(f"returned junk: {exc.message}"))
        except (TypeError, ValueError) as exc:
            return _Attempt("junk", error=_short(f"returned junk: {exc}"))
        attempt.result = result
        return attempt

    def _merge(self, name: str, result: ProviderResult) -> None:
        at = self.now()
        for field, found in result.fields.items():
            current = self.view.get(field)
            if current == found.value or not may_replace(field, current, self.provenance, name):
                continue
            value = FieldValue(found.value, name, at, found.confidence)
            self.fields[field] = value
            self.view[field] = found.value
            self.provenance[field] = value.to_json()
        self.flags.update(result.flags)
        if result.company is not None:
            for key, value in vars(result.company).items():
                held = self.company.get(key)
                if value and (held is None or trust_of(name) >= trust_of(held[1])):
                    self.company[key] = (value, name)

    def outcome(self) -> EnrichmentOutcome:
        company = CompanyHint(**{k: v for k, (v, _) in self.company.items()})
        return EnrichmentOutcome(
            fields=self.fields,
            steps=self.steps,
            flags=self.flags,
            company=company if self.company else None,
            started_at=self.started_at,
            finished_at=self.now(),
        )


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def _classify(exc: BaseException) -> _Attempt:
    """A provider's exception as a step status: ours say it themselves;
    network timeouts and dropped connections are worth a retry."""
    if isinstance(exc, StepFailure):
        status: StepStatus = exc.status  # type: ignore[assignment]
        return _Attempt(status, exc.partial, _short(str(exc)), exc.retry)
    if isinstance(exc, httpx.TimeoutException | dns.exception.Timeout | TimeoutError):
        return _Attempt("timeout", error=_short(f"timed out: {exc}"), retry=True)
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return _Attempt("error", error=_short(f"{type(exc).__name__}: {exc}"), retry=True)
    if isinstance(exc, ValidationError):
        return _Attempt("junk", error=_short(f"returned junk: {exc.message}"))
    return _Attempt("error", error=_short(f"{type(exc).__name__}: {exc}"))


def _validated(
    result: ProviderResult, view: Mapping[str, Any], settings: Settings
) -> ProviderResult:
    """The result with every value in its canonical form, or ValidationError."""
    unknown = sorted(set(result.fields) - ENRICHABLE_FIELDS)
    if unknown:
        raise ValidationError(unknown[0], "not a field enrichment may set")
    values = {f: found.value for f, found in result.fields.items()}
    plain = {f: v for f, v in values.items() if f not in PHONE_FIELDS}
    clean = leads_service.clean_input(plain)
    region = region_for({"country": clean.get("country") or view.get("country")}, "")
    region = region or settings.default_phone_region
    if values.get("phone") is not None:
        clean["phone"] = norm.normalise_phone(_text(values["phone"], "phone"), region)
    if values.get("additional_phones") is not None:
        phones = values["additional_phones"]
        if not isinstance(phones, list):
            raise ValidationError("additional_phones", "must be a list")
        clean["additional_phones"] = list(
            dict.fromkeys(
                norm.normalise_phone(_text(p, f"additional_phones.{i}"), region)
                for i, p in enumerate(phones)
            )
        )
    fields = {
        f: Found(clean[f], found.confidence)
        for f, found in result.fields.items()
        if clean.get(f) is not None
    }
    json.dumps(result.flags)  # flags are stored as JSON: TypeError/ValueError is junk
    return replace(result, fields=fields, company=_validated_company(result.company, region))


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be text, not {type(value).__name__}")
    return value


def _validated_company(hint: CompanyHint | None, region: str) -> CompanyHint | None:
    if hint is None:
        return None
    given = {
        k: getattr(hint, k)
        for k in ("name", "domain", "description", "website", "linkedin_url", "country", "city")
        if getattr(hint, k)
    }
    clean = companies_service.clean_input(given)
    emails = tuple(dict.fromkeys(norm.normalise_email(e, "company.emails") for e in hint.emails))
    phones = tuple(
        dict.fromkeys(norm.normalise_phone(p, region, "company.phones") for p in hint.phones)
    )
    return replace(hint, **clean, emails=emails, phones=phones)
