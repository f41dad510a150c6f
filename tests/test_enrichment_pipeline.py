"""The waterfall: order, trust, failures that stay in their own step, and the breaker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import dns.exception
import httpx
import pytest

from leadbase.config import Settings
from leadbase.enrichment import providers as registry
from leadbase.enrichment.breaker import BreakerRegistry, CircuitBreaker
from leadbase.enrichment.pipeline import run_waterfall
from leadbase.enrichment.providers.base import (
    Provider,
    ProviderError,
    Skipped,
    StepContext,
    TransientError,
)
from leadbase.enrichment.providers.company import CompanyProvider
from leadbase.enrichment.providers.email import EmailProvider
from leadbase.enrichment.providers.person import PersonProvider
from leadbase.enrichment.providers.phone import PhoneProvider
from leadbase.enrichment.providers.webhook import WebhookProvider
from leadbase.enrichment.providers.website import WebsiteProvider
from leadbase.enrichment.schemas import TRUST, CompanyHint, Found, ProviderResult
from leadbase.errors import ValidationError
from tests.enrichment_servers import DnsServer, WebServer

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


class Fake:
    """A provider that answers what it is told to, and counts its calls."""

    def __init__(self, name: str, answer: Any = None, *, sleep: float = 0.0) -> None:
        self.name = name
        self.answer = answer
        self.sleep = sleep
        self.calls = 0
        self.seen: list[dict[str, Any]] = []

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        self.calls += 1
        self.seen.append(dict(lead))
        if self.sleep:
            time.sleep(self.sleep)
        answer = self.answer(self.calls) if callable(self.answer) else self.answer
        if isinstance(answer, BaseException):
            raise answer
        return answer


def fields(**values: Any) -> ProviderResult:
    return ProviderResult(fields={k: Found(v, 0.8) for k, v in values.items()})


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"enrichment_timeout_seconds": 1.0, "enrichment_retries": 1}
    values.update(overrides)
    return Settings(**values)


def run(lead: Mapping[str, Any], chain: list[Provider | str], **kwargs: Any) -> Any:
    breakers = kwargs.pop("breakers", None) or BreakerRegistry()
    return run_waterfall(lead, settings(**kwargs), providers=chain, now=clock, breakers=breakers)


# --- the real providers, end to end against local servers ----------------------------


@pytest.fixture(scope="module")
def internet() -> Iterator[tuple[DnsServer, WebServer]]:
    records = {"acmerobotics.io": {"MX": ["10 mx.acmerobotics.io."]}}
    with DnsServer(records) as dns_server, WebServer() as web:
        yield dns_server, web


def test_the_default_waterfall_fills_a_quick_added_lead(
    internet: tuple[DnsServer, WebServer],
) -> None:
    dns_server, web = internet
    chain: list[Provider | str] = [
        EmailProvider(),
        PersonProvider(),
        PhoneProvider(),
        CompanyProvider(),
        WebsiteProvider(urls_for=web.url_for),
        WebhookProvider(),
    ]
    outcome = run(
        {"id": "L1", "email": "jane.doe@acmerobotics.io"},
        chain,
        dns_nameservers=["127.0.0.1"],
        dns_port=dns_server.port,
        allow_private_network_fetch=True,
    )
    assert [(s.provider, s.status) for s in outcome.steps] == [
        ("email", "ok"),
        ("person", "ok"),
        ("phone", "no_data"),
        ("company", "ok"),
        ("website", "ok"),
        ("webhook", "skipped"),
    ]
    assert outcome.ok and outcome.reason is None
    filled = {f: (v.value, v.provider) for f, v in outcome.fields.items()}
    assert filled == {
        "first_name": ("Jane", "person"),
        "last_name": ("Doe", "person"),
        "full_name": ("Jane Doe", "person"),
        "company_domain": ("acmerobotics.io", "company"),
        # the company step's guess ("Acmerobotics") gave way to the website's name
        "company_name": ("Acme Robotics, Inc.", "website"),
        "additional_emails": (
            ["sales@acmerobotics.io", "hello@acmerobotics.io", "press@acmerobotics.io"],
            "website",
        ),
        "additional_phones": (["+14155550132", "+14155550199"], "website"),
        "country": ("US", "website"),
    }
    assert all(v.at == NOW for v in outcome.fields.values())
    assert outcome.flags["mx_ok"] is True and outcome.flags["free_mail"] is False
    assert outcome.company is not None
    assert outcome.company.domain == "acmerobotics.io"
    assert outcome.company.name == "Acme Robotics, Inc."
    assert outcome.company.linkedin_url == "https://www.linkedin.com/company/acme-robotics"


def test_providers_come_from_settings_and_an_unknown_name_fails_only_its_step() -> None:
    outcome = run_waterfall(
        {"full_name": "Ada Lovelace"},
        settings(enrichment_providers=["person", "crystal_ball", "phone"]),
        breakers=BreakerRegistry(),
    )
    assert [(s.provider, s.status) for s in outcome.steps] == [
        ("person", "ok"),
        ("crystal_ball", "error"),
        ("phone", "no_data"),
    ]
    assert "no provider named 'crystal_ball'" in (outcome.steps[1].error or "")
    assert outcome.fields["last_name"].value == "Lovelace"


# --- failures stay in their step ---------------------------------------------------------


def test_a_timeout_an_error_and_junk_fail_alone() -> None:
    slow = Fake("slow", fields(title="never"), sleep=5)
    broken = Fake("broken", RuntimeError("provider bug"))
    junk = Fake("junk", fields(phone="not a phone", title="Junk title"))
    good = Fake("good", fields(title="CTO", city="Berlin"))
    started = time.monotonic()
    outcome = run({"email": "a@b.com"}, [slow, broken, junk, good], enrichment_timeout_seconds=0.3)
    assert time.monotonic() - started < 2  # the slow provider was given up on, twice
    steps = {s.provider: s for s in outcome.steps}
    assert steps["slow"].status == "timeout" and steps["slow"].attempts == 2
    assert steps["broken"].status == "error" and steps["broken"].attempts == 1
    assert steps["broken"].error == "RuntimeError: provider bug"
    assert steps["junk"].status == "junk"
    assert "phone" in (steps["junk"].error or "")
    assert steps["good"].status == "ok"
    # junk's values are all dropped, even its plausible title
    assert {f: v.value for f, v in outcome.fields.items()} == {"title": "CTO", "city": "Berlin"}
    assert outcome.ok


def test_junk_includes_fields_enrichment_may_not_set_and_unstorable_flags() -> None:
    sneaky = Fake("sneaky", fields(enrichment_status="completed"))
    odd = Fake("odd", ProviderResult(flags={"when": object()}))
    bad_company = Fake("bad_company", ProviderResult(company=CompanyHint(domain="not a domain")))
    outcome = run({}, [sneaky, odd, bad_company])
    assert [s.status for s in outcome.steps] == ["junk", "junk", "junk"]
    assert not outcome.ok
    assert outcome.reason is not None and outcome.reason.startswith("no provider succeeded: ")
    assert "sneaky junk" in outcome.reason


def test_a_transient_error_is_retried_and_a_permanent_one_is_not() -> None:
    flaky = Fake("flaky", lambda n: TransientError("503") if n == 1 else fields(title="CTO"))
    denied = Fake("denied", ProviderError("HTTP 401"))
    outcome = run({}, [flaky, denied], enrichment_retries=2)
    assert [(s.status, s.attempts) for s in outcome.steps] == [("ok", 2), ("error", 1)]
    assert (flaky.calls, denied.calls) == (2, 1)
    no_retries = Fake("flaky2", TransientError("503"))
    outcome = run({}, [no_retries], enrichment_retries=0)
    assert no_retries.calls == 1 and outcome.steps[0].status == "error"


def test_values_are_normalised_as_the_write_path_would() -> None:
    answer = fields(
        phone="020 7946 0958",
        linkedin_url="linkedin.com/in/Jane-Doe/",
        company_domain="https://www.Acme.com/about",
        additional_phones=["+1 415 555 0132", "+1 (415) 555-0132"],
    )
    outcome = run({"country": "GB"}, [Fake("norm", answer)])
    assert {f: v.value for f, v in outcome.fields.items()} == {
        "phone": "+442079460958",
        "linkedin_url": "https://www.linkedin.com/in/jane-doe",
        "company_domain": "acme.com",
        "additional_phones": ["+14155550132"],  # one number, written twice
    }


def test_each_provider_sees_the_lead_as_enriched_so_far() -> None:
    first = Fake("email", fields(company_domain="acme.com"))
    second = Fake("person", None)
    run({"email": "x@y.com"}, [first, second])
    assert second.seen[0]["company_domain"] == "acme.com"
    assert second.seen[0]["email"] == "x@y.com"


def test_a_failed_step_keeps_what_it_learnt_before_failing() -> None:
    partial = ProviderResult(flags={"free_mail": True})
    dns_down = Fake("email", TransientError("DNS down", partial=partial))
    outcome = run({}, [dns_down], enrichment_retries=0)
    assert outcome.steps[0].status == "error"
    assert outcome.flags == {"free_mail": True}


def test_skipped_and_empty_providers() -> None:
    outcome = run({}, [Fake("off", Skipped("not configured")), Fake("none", None)])
    assert [(s.status, s.error) for s in outcome.steps] == [
        ("skipped", "not configured"),
        ("no_data", None),
    ]
    assert outcome.ok  # a provider ran and found nothing: that is not a failure
    empty = run({}, [])
    assert not empty.ok and empty.reason == "no enrichment providers are configured"


# --- trust ---------------------------------------------------------------------------------


def provenance(**by_field: tuple[Any, str]) -> dict[str, Any]:
    return {
        "fields": {
            f: {"value": v, "provider": p, "at": NOW.isoformat(), "confidence": 0.8}
            for f, (v, p) in by_field.items()
        }
    }


def test_a_typed_value_is_never_replaced() -> None:
    webhook = Fake("webhook", fields(company_name="Acme Robotics, Inc.", title="CTO"))
    outcome = run({"company_name": "ACME"}, [webhook])
    assert set(outcome.fields) == {"title"}


def test_a_weaker_provider_does_not_replace_a_stronger_one() -> None:
    lead = {
        "company_name": "Acme Robotics, Inc.",
        "enrichment_data": provenance(company_name=("Acme Robotics, Inc.", "website")),
    }
    weaker = Fake("company", fields(company_name="Acmerobotics"))
    assert run(lead, [weaker]).fields == {}
    stronger = Fake("webhook", fields(company_name="Acme Robotics"))
    assert run(lead, [stronger]).fields["company_name"].value == "Acme Robotics"
    # within one run too: the webhook's value stands against a later, weaker step
    outcome = run({}, [Fake("webhook", fields(title="CTO")), Fake("person", fields(title="Dev"))])
    assert outcome.fields["title"].value == "CTO"


def test_a_value_edited_after_enrichment_belongs_to_the_person_who_edited_it() -> None:
    lead = {
        "company_name": "Acme (typed)",
        "enrichment_data": provenance(company_name=("Acme Robotics, Inc.", "email")),
    }
    assert run(lead, [Fake("webhook", fields(company_name="Acme"))]).fields == {}


def test_custom_providers_rank_below_built_ins_unless_registered_higher() -> None:
    lead = {"title": "CTO", "enrichment_data": provenance(title=("CTO", "email"))}
    assert run(lead, [Fake("unranked", fields(title="Dev"))]).fields == {}
    registry.register("oracle", lambda: Fake("oracle", fields(title="Chief")), trust=99)
    try:
        chain = registry.build(["oracle"])
        assert run(lead, chain).fields["title"].value == "Chief"
    finally:
        registry._REGISTRY.pop("oracle")
        TRUST.pop("oracle")


# --- the circuit breaker ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_circuit_opens_after_repeated_failures_and_half_opens_later() -> None:
    tick = Clock()
    breakers = BreakerRegistry(clock=tick)
    health = {"up": False}
    flaky = Fake("crm", lambda n: fields(title="CTO") if health["up"] else ProviderError("down"))
    other = Fake("other", fields(city="Berlin"))

    def once() -> dict[str, str]:
        outcome = run(
            {},
            [flaky, other],
            breakers=breakers,
            enrichment_breaker_failures=3,
            enrichment_breaker_reset_seconds=60,
        )
        return {s.provider: s.status for s in outcome.steps}

    assert [once()["crm"] for _ in range(3)] == ["error", "error", "error"]
    calls = flaky.calls
    assert once() == {"crm": "circuit_open", "other": "ok"}  # skipped; the rest runs
    assert flaky.calls == calls
    tick.t += 61  # half-open: one trial, which fails and opens it again
    assert once()["crm"] == "error"
    assert once()["crm"] == "circuit_open"
    tick.t += 61
    health["up"] = True
    assert once()["crm"] == "ok"  # the trial succeeds: closed
    assert once()["crm"] == "ok"
    assert breakers.states() == {"crm": "closed", "other": "closed"}


def test_no_data_and_skips_do_not_count_as_failures() -> None:
    breaker = CircuitBreaker("x", failures=2, reset_seconds=60)
    breakers = BreakerRegistry()
    for _ in range(5):
        run(
            {},
            [Fake("quiet", None), Fake("off", Skipped("no url"))],
            breakers=breakers,
            enrichment_breaker_failures=1,
        )
    assert breakers.states() == {"quiet": "closed", "off": "closed"}
    breaker.failure()
    breaker.success()  # a success in between resets the count
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"


def test_half_open_lets_exactly_one_thread_try() -> None:
    tick = Clock()
    breaker = CircuitBreaker("x", failures=1, reset_seconds=10, clock=tick)
    breaker.failure()
    assert not breaker.allow()
    tick.t += 11
    assert breaker.state == "half_open"
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 1
    breaker.release()  # the trial was not used: someone else may try
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    ("raised", "status", "attempts"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout", 2),
        (dns.exception.Timeout(), "timeout", 2),
        (httpx.ConnectError("connection refused"), "error", 2),
        (ConnectionResetError("reset by peer"), "error", 2),
        (ValidationError("phone", "not a phone number"), "junk", 1),
        (KeyError("oops"), "error", 1),
    ],
)
def test_plain_exceptions_are_classified(raised: Exception, status: str, attempts: int) -> None:
    outcome = run({}, [Fake("p", raised)], enrichment_retries=1)
    assert (outcome.steps[0].status, outcome.steps[0].attempts) == (status, attempts)


@pytest.mark.parametrize(
    "answer",
    [
        fields(phone=4155550132),
        fields(additional_phones="+14155550132"),
        fields(additional_emails=["not an email"]),
        fields(company_domain="localhost"),
    ],
)
def test_values_of_the_wrong_shape_are_junk(answer: ProviderResult) -> None:
    outcome = run({}, [Fake("p", answer)])
    assert outcome.steps[0].status == "junk"
    assert outcome.fields == {}
