"""Each enrichment provider on its own, against a local DNS server and local websites."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import httpx
import pytest

from leadbase.config import Settings
from leadbase.enrichment.providers.base import (
    JunkResponse,
    ProviderError,
    ProviderTimeout,
    Skipped,
    StepContext,
    TransientError,
)
from leadbase.enrichment.providers.company import CompanyProvider, registered_domain
from leadbase.enrichment.providers.email import EmailProvider, is_disposable, is_role_account
from leadbase.enrichment.providers.person import PersonProvider
from leadbase.enrichment.providers.phone import PhoneProvider
from leadbase.enrichment.providers.webhook import WebhookProvider
from leadbase.enrichment.providers.website import (
    PinnedTransport,
    WebsiteProvider,
    check_target,
    fetch,
    organisation,
    parse_page,
)
from leadbase.enrichment.schemas import ProviderResult
from leadbase.models import utcnow
from tests.enrichment_servers import DnsServer, WebServer

RECORDS = {
    "acmerobotics.io": {"MX": ["20 alt.mx.acmerobotics.io.", "10 mx.acmerobotics.io."]},
    "gmail.com": {"MX": ["5 gmail-smtp-in.l.google.com."]},
    "mailinator.com": {"MX": ["10 mail.mailinator.com."]},
    "a-only.com": {"A": ["203.0.113.7"]},
    "nomail.com": {"MX": ["0 ."], "A": ["203.0.113.8"]},
    "empty.com": {"TXT": ['"v=spf1 -all"']},
}


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer(
        RECORDS, silent=frozenset({"blackhole.com"}), servfail=frozenset({"broken.com"})
    ) as server:
        yield server


@pytest.fixture(scope="module")
def web() -> Iterator[WebServer]:
    with WebServer() as server:
        yield server


def settings_for(dns_server: DnsServer | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "enrichment_timeout_seconds": 2.0,
        "allow_private_network_fetch": True,
        "website_max_bytes": 50_000,
    }
    if dns_server is not None:
        values.update(dns_nameservers=["127.0.0.1"], dns_port=dns_server.port)
    values.update(overrides)
    return Settings(**values)


def ctx(settings: Settings, **flags: Any) -> StepContext:
    return StepContext(
        settings=settings,
        deadline=time.monotonic() + settings.enrichment_timeout_seconds,
        now=utcnow(),
        flags=flags,
    )


def values(result: ProviderResult | None) -> dict[str, Any]:
    assert result is not None
    return {field: found.value for field, found in result.fields.items()}


# --- email ---------------------------------------------------------------------------


def email(address: str | None, dns_server: DnsServer, **overrides: Any) -> ProviderResult | None:
    settings = settings_for(dns_server, **overrides)
    return EmailProvider().enrich({"email": address}, ctx(settings))


def test_work_email_with_mx_is_deliverable_and_not_flagged(dns_server: DnsServer) -> None:
    result = email("jane.doe@acmerobotics.io", dns_server)
    assert result is not None
    assert result.flags == {
        "email_valid": True,
        "free_mail": False,
        "disposable": False,
        "role_account": False,
        "mx_ok": True,
        "mx_hosts": ["mx.acmerobotics.io", "alt.mx.acmerobotics.io"],  # by preference
    }
    assert result.fields == {}  # already in normal form


def test_email_is_normalised_and_free_mail_flagged(dns_server: DnsServer) -> None:
    result = email("  Jane.Doe@GMAIL.com ", dns_server)
    assert values(result) == {"email": "jane.doe@gmail.com"}
    assert result is not None
    assert result.flags["free_mail"] is True
    assert result.flags["mx_ok"] is True


def test_disposable_and_role_accounts_are_flagged(dns_server: DnsServer) -> None:
    result = email("info@mailinator.com", dns_server)
    assert result is not None
    assert result.flags["disposable"] is True
    assert result.flags["role_account"] is True
    assert is_disposable("eu.mailinator.com")  # subdomains of a listed domain too
    assert is_role_account("sales+emea@acme.com")
    assert not is_role_account("jane@acme.com")


@pytest.mark.parametrize(
    ("address", "mx_ok", "reason"),
    [
        ("x@nowhere-at-all.com", False, "domain does not exist"),
        ("x@a-only.com", True, "no MX; address record"),
        ("x@nomail.com", False, "null MX: the domain accepts no mail"),
        ("x@empty.com", False, "no MX or address record"),
    ],
)
def test_mx_deliverability(dns_server: DnsServer, address: str, mx_ok: bool, reason: str) -> None:
    result = email(address, dns_server)
    assert result is not None
    assert result.flags["mx_ok"] is mx_ok
    assert result.flags["mx_reason"] == reason


def test_a_dns_server_that_never_answers_times_out_within_the_step(
    dns_server: DnsServer,
) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        email("jane@blackhole.com", dns_server, enrichment_timeout_seconds=0.4)
    assert time.monotonic() - started < 2
    # What needs no network is kept: the step failed, the flags did not.
    assert caught.value.partial is not None
    assert caught.value.partial.flags["free_mail"] is False


def test_a_failing_dns_server_is_a_transient_error(dns_server: DnsServer) -> None:
    with pytest.raises(TransientError, match=r"broken\.com"):
        email("jane@broken.com", dns_server)


def test_no_email_is_no_data_and_a_broken_one_is_flagged(dns_server: DnsServer) -> None:
    asked = len(dns_server.queries)
    assert email(None, dns_server) is None
    result = email("not an email", dns_server)
    assert result is not None
    assert result.flags["email_valid"] is False
    assert len(dns_server.queries) == asked  # nothing to look up


# --- person --------------------------------------------------------------------------


def person(**lead: Any) -> ProviderResult | None:
    return PersonProvider().enrich(lead, ctx(settings_for()))


def test_person_splits_the_full_name() -> None:
    assert values(person(full_name="Dr. Jane van der Berg")) == {
        "first_name": "Jane",
        "last_name": "van der Berg",
    }
    assert values(person(full_name="Ada Lovelace", first_name="Ada")) == {"last_name": "Lovelace"}


def test_person_reads_a_name_from_the_email_with_low_confidence() -> None:
    result = person(email="jane.doe@acmerobotics.io")
    assert values(result) == {"first_name": "Jane", "last_name": "Doe", "full_name": "Jane Doe"}
    assert result is not None
    assert all(found.confidence < 0.9 for found in result.fields.values())
    assert values(person(email="john_smith@x.com"))["full_name"] == "John Smith"
    assert person(email="mary_o-neil@x.com") is None  # not plainly two names
    assert person(email="jean-luc@x.com") is None  # a hyphen joins one name as often


@pytest.mark.parametrize(
    "lead",
    [
        {"email": "info@acmerobotics.io"},  # a role account, not a person
        {"email": "jdoe@acmerobotics.io"},
        {"email": "jane.doe@x.com", "first_name": "Jane"},
        {"first_name": "Jane", "last_name": "Doe", "full_name": "Jane Doe"},
        {},
    ],
)
def test_person_finds_nothing_where_there_is_nothing_to_find(lead: dict[str, Any]) -> None:
    assert person(**lead) is None


# --- phone ---------------------------------------------------------------------------


def phone(**lead: Any) -> ProviderResult | None:
    return PhoneProvider().enrich(lead, ctx(settings_for()))


def test_phone_gives_e164_country_and_line_type() -> None:
    result = phone(phone="020 7946 0958", country="gb")
    assert values(result) == {"phone": "+442079460958"}
    assert result is not None
    assert result.flags == {
        "phone_valid": True,
        "phone_country": "GB",
        "phone_line_type": "fixed_line",
    }


def test_phone_country_fills_an_empty_country_weakly() -> None:
    result = phone(phone="+14155550132")
    assert values(result) == {"country": "US"}
    assert result is not None
    assert result.fields["country"].confidence < 0.5
    assert result.flags["phone_line_type"] == "fixed_line_or_mobile"


def test_phone_that_is_not_a_number_is_flagged_not_filled() -> None:
    assert values(phone(phone="12")) == {}
    result = phone(phone="call me")
    assert result is not None
    assert result.flags["phone_valid"] is False
    assert phone() is None


# --- company -------------------------------------------------------------------------


def company(**lead: Any) -> ProviderResult | None:
    return CompanyProvider().enrich(lead, ctx(settings_for()))


def test_company_from_a_work_email_gets_registered_domain_and_a_placeholder_name() -> None:
    result = company(email="jane@mail.acme-robotics.co.uk")
    assert values(result) == {
        "company_domain": "acme-robotics.co.uk",
        "company_name": "Acme Robotics",
    }
    assert result is not None
    assert result.fields["company_name"].confidence < 0.5
    assert result.company is not None
    assert (result.company.domain, result.company.name) == ("acme-robotics.co.uk", "Acme Robotics")


def test_company_keeps_a_given_name_and_trims_the_domain() -> None:
    result = company(company_domain="shop.globex.co.uk", company_name="Globex")
    assert values(result) == {"company_domain": "globex.co.uk"}
    assert result is not None and result.company is not None
    assert result.company.name == "Globex"
    assert registered_domain("localhost") is None
    assert registered_domain("not a domain") is None


@pytest.mark.parametrize("address", ["jane@gmail.com", "jane@mailinator.com", None])
def test_free_and_disposable_mail_say_nothing_about_the_company(address: str | None) -> None:
    assert company(email=address) is None


# --- website -------------------------------------------------------------------------


def website(web: WebServer, domain: str | None, **overrides: Any) -> ProviderResult | None:
    provider = WebsiteProvider(urls_for=web.url_for)
    return provider.enrich({"company_domain": domain}, ctx(settings_for(**overrides)))


def test_homepage_with_json_ld_gives_name_description_links_and_contacts(web: WebServer) -> None:
    result = website(web, "acmerobotics.io")
    assert result is not None
    assert values(result) == {
        "company_name": "Acme Robotics, Inc.",
        "additional_emails": [
            "sales@acmerobotics.io",
            "hello@acmerobotics.io",
            "press@acmerobotics.io",
        ],  # not jobs@greenhouse.io: another company's address
        "additional_phones": ["+14155550132", "+14155550199"],
        "country": "US",
    }
    hint = result.company
    assert hint is not None
    assert hint.description == "Acme Robotics builds collaborative robot arms for small factories."
    assert hint.linkedin_url == "https://www.linkedin.com/company/acme-robotics"
    assert (hint.country, hint.city) == ("US", "San Francisco")
    assert hint.website == f"{web.base}/sites/acmerobotics.io/"
    assert result.flags["website_status"] == 200


def test_homepage_without_structured_data_uses_og_title_and_footer(web: WebServer) -> None:
    result = website(web, "globex.co.uk")
    assert result is not None
    assert values(result) == {
        "company_name": "Globex Corporation",  # the part of the title that is the company
        "additional_emails": ["info@globex.co.uk"],
        "additional_phones": ["+442079460958"],  # read as British: the page says en_GB
    }
    assert result.flags["country_hint"] == {"value": "GB", "source": "og:locale"}
    assert result.company is not None
    assert result.company.description == "Globex: logistics software for hauliers across Europe."
    assert result.company.linkedin_url == "https://www.linkedin.com/company/globex-corp"


def test_title_only_page(web: WebServer) -> None:
    assert values(website(web, "initech.com")) == {"company_name": "Initech"}


def test_redirects_are_followed_up_to_the_limit(web: WebServer) -> None:
    result = website(web, "hops.com", website_max_redirects=3)
    assert result is not None
    assert result.flags["website_url"] == f"{web.base}/sites/acmerobotics.io/"
    assert values(result)["company_name"] == "Acme Robotics, Inc."
    with pytest.raises(ProviderError, match="more than 2 redirects"):
        website(web, "hops.com", website_max_redirects=2)
    with pytest.raises(ProviderError, match="more than 3 redirects"):
        website(web, "loop.com")


def test_a_redirect_to_another_scheme_is_refused(web: WebServer) -> None:
    with pytest.raises(ProviderError, match="refusing a ftp URL"):
        website(web, "ftp.com")


def test_private_targets_are_refused_unless_allowed(web: WebServer) -> None:
    before = web.hits("/sites/acmerobotics.io/")
    with pytest.raises(ProviderError, match=r"non-public address 127\.0\.0\.1"):
        website(web, "acmerobotics.io", allow_private_network_fetch=False)
    assert web.hits("/sites/acmerobotics.io/") == before  # refused before connecting
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://[::1]:8000/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://100.64.0.1/",
    ):
        with pytest.raises(ProviderError, match="non-public"):
            check_target(url, allow_private=False)
    check_target("http://8.8.8.8/", allow_private=False)  # public: allowed
    for url in ("file:///etc/passwd", "gopher://x.com/", "javascript:alert(1)", "//x.com/"):
        with pytest.raises(ProviderError, match="refusing"):
            check_target(url, allow_private=True)


def test_a_huge_page_is_cut_at_the_byte_cap(web: WebServer) -> None:
    result = website(web, "huge.com", website_max_bytes=50_000)
    assert result is not None
    assert result.flags["website_truncated"] is True
    assert values(result) == {"company_name": "Huge Corp"}


def test_a_slow_page_times_out(web: WebServer) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        website(web, "slow.com", enrichment_timeout_seconds=0.5)
    assert time.monotonic() - started < 2


def test_a_page_that_drips_is_cut_at_the_deadline(web: WebServer) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="longer than the step allows"):
        website(web, "drip.com", enrichment_timeout_seconds=0.6)
    assert time.monotonic() - started < 2


def test_not_html_is_junk_and_garbage_html_is_no_data(web: WebServer) -> None:
    with pytest.raises(JunkResponse, match="application/pdf"):
        website(web, "pdf.com")
    result = website(web, "binary.com")
    assert result is not None and result.empty


def test_missing_homepage_is_no_data_and_a_down_site_is_transient(web: WebServer) -> None:
    result = website(web, "gone.com")
    assert result is not None and result.empty
    assert result.flags["website_status"] == 404
    with pytest.raises(TransientError, match="HTTP 503"):
        website(web, "down.com")
    assert website(web, None) is None


# --- webhook -------------------------------------------------------------------------


def webhook(url: str | None, lead: dict[str, Any] | None = None, **overrides: Any) -> Any:
    settings = settings_for(enrichment_webhook_url=url, **overrides)
    lead = lead or {"id": "L1", "email": "jane@acmerobotics.io", "notes": "private"}
    return WebhookProvider().enrich(lead, ctx(settings, free_mail=False))


def test_webhook_posts_the_lead_and_merges_its_answer(web: WebServer) -> None:
    url = web.answer_webhook(
        "clay",
        {
            "fields": {
                "title": "CTO",
                "linkedin_url": "linkedin.com/in/jane-doe",
                "favourite_colour": "blue",
                "city": None,
            },
            "company": {"name": "Acme Robotics", "domain": "acmerobotics.io", "employees": 5},
            "flags": {"source": "clay"},
            "confidence": 0.7,
        },
    )
    result = webhook(url, enrichment_webhook_token="s3cret")
    assert values(result) == {"title": "CTO", "linkedin_url": "linkedin.com/in/jane-doe"}
    assert result.fields["title"].confidence == 0.7
    assert result.flags == {
        "webhook_ignored_fields": ["favourite_colour"],
        "webhook": {"source": "clay"},
    }
    assert (result.company.name, result.company.domain) == ("Acme Robotics", "acmerobotics.io")
    sent = web.requests[-1]
    assert sent["headers"]["Authorization"] == "Bearer s3cret"
    assert sent["json"] == {
        "lead": {"id": "L1", "email": "jane@acmerobotics.io"},  # not the notes
        "flags": {"free_mail": False},
    }


def test_webhook_flat_answer_and_no_token(web: WebServer) -> None:
    url = web.answer_webhook("flat", {"title": "VP Sales", "industry": "Robotics"})
    assert values(webhook(url)) == {"title": "VP Sales", "industry": "Robotics"}
    assert "Authorization" not in web.requests[-1]["headers"]


def test_webhook_not_configured_is_skipped() -> None:
    with pytest.raises(Skipped):
        webhook(None)


@pytest.mark.parametrize(
    ("answer", "status", "error", "match"),
    [
        ({"error": "boom"}, 500, TransientError, "HTTP 500"),
        ({"error": "slow down"}, 429, TransientError, "HTTP 429"),
        ({"error": "who?"}, 401, ProviderError, "HTTP 401"),
        (b"<html>oops</html>", 200, JunkResponse, "not JSON"),
        ([1, 2], 200, JunkResponse, "JSON list"),
        ({"title": "x", "confidence": 7}, 200, JunkResponse, "confidence"),
        ({"company": "Acme"}, 200, JunkResponse, "company is not an object"),
    ],
)
def test_webhook_failures(
    web: WebServer, answer: Any, status: int, error: type[Exception], match: str
) -> None:
    url = web.answer_webhook(f"fail-{status}-{len(str(answer))}", answer, status)
    with pytest.raises(error, match=match):
        webhook(url)


def test_webhook_empty_and_oversized_answers(web: WebServer) -> None:
    assert webhook(web.answer_webhook("empty", b"")) is None
    assert webhook(web.answer_webhook("nothing", b"", 204)) is None
    big = web.answer_webhook("big", {"notes": "x" * 5000})
    with pytest.raises(JunkResponse, match="larger than"):
        webhook(big, website_max_bytes=1024)


def test_webhook_slow_answer_times_out(web: WebServer) -> None:
    web.answer_webhook("slow", {"title": "late"})
    with pytest.raises(httpx.TimeoutException):
        webhook(f"{web.base}/webhook/slow", enrichment_timeout_seconds=0.4)


def test_an_unreachable_first_url_falls_back_to_the_next(web: WebServer) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now

    def urls(domain: str) -> list[str]:
        return [f"http://127.0.0.1:{port}/", *web.url_for(domain)]

    provider = WebsiteProvider(urls_for=urls)
    result = provider.enrich({"company_domain": "initech.com"}, ctx(settings_for()))
    assert values(result) == {"company_name": "Initech"}
    only_closed = WebsiteProvider(urls_for=lambda d: [f"http://127.0.0.1:{port}/"])
    with pytest.raises(httpx.ConnectError):
        only_closed.enrich({"company_domain": "initech.com"}, ctx(settings_for()))


def test_a_host_that_does_not_resolve_is_an_error() -> None:
    with pytest.raises(ProviderError, match="cannot resolve"):
        check_target("http://no-such-host.invalid/", allow_private=False)
    with pytest.raises(ProviderError, match="not a fetchable URL"):
        check_target("http://\x00/", allow_private=True)
    with pytest.raises(ProviderError, match="no host"):
        check_target("http://:80/", allow_private=True)


def test_hostile_json_ld_nesting_is_ignored() -> None:
    deep = "[" * 500 + '{"@type": "Organization", "name": "Deep"}' + "]" * 500
    page = f'<script type="application/ld+json">{deep}</script><title>Shallow Inc</title>'
    facts = parse_page(page)
    assert organisation(facts) == {}
    assert facts.title == "Shallow Inc"


# --- website: one lookup per hop, and the connection goes where it pointed --------------

ACME_PATH = "/sites/acmerobotics.io/"


@pytest.fixture
def evil(web: WebServer) -> Iterator[WebServer]:
    """What a second lookup of the rebinding name points at: another local
    server on the same port (127.0.0.2 is loopback too on Linux)."""
    with WebServer(host="127.0.0.2", port=web.port) as server:
        yield server


@pytest.fixture
def rebinding() -> Iterator[DnsServer]:
    """Names for the fetch's address checks; ``rebind.test`` answers 127.0.0.1
    the first time and 127.0.0.2 after, ``flip.test`` a public address, then
    127.0.0.1. ``secure.test`` is 127.0.0.1 too."""
    records = {
        "inside.test": {"A": ["127.0.0.1"]},
        "mixed.test": {"A": ["93.184.216.34"], "AAAA": ["::1"]},
        "public.test": {"A": ["93.184.216.34"], "AAAA": ["2606:2800:220:1::1"]},
        "multi.test": {"A": ["127.0.0.3", "127.0.0.1"]},
        "secure.test": {"A": ["127.0.0.1"]},
    }
    turns = {
        "rebind.test": [{"A": ["127.0.0.1"]}, {"A": ["127.0.0.2"]}],
        "flip.test": [{"A": ["93.184.216.34"]}, {"A": ["127.0.0.1"]}],
    }
    with DnsServer(records, in_turn=turns) as server:
        yield server


@pytest.mark.parametrize("via_redirect", [False, True], ids=["direct", "redirect-hop"])
def test_the_fetch_connects_to_the_address_its_lookup_gave_not_a_later_one(
    web: WebServer, evil: WebServer, rebinding: DnsServer, via_redirect: bool
) -> None:
    """On the old code httpx looked the name up again to connect: the second
    answer (127.0.0.2 here; 127.0.0.1 for a real attacker) was used unchecked."""
    named = f"http://rebind.test:{web.port}{ACME_PATH}"
    start = named
    if via_redirect:
        web.redirects["/sites/jump.test/"] = named
        start = f"{web.base}/sites/jump.test/"
    before = web.hits(ACME_PATH)
    provider = WebsiteProvider(urls_for=lambda domain: [start])
    settings = settings_for(rebinding)  # private fetches allowed: we need 127.0.0.1
    result = provider.enrich({"company_domain": "acmerobotics.io"}, ctx(settings))

    assert values(result)["company_name"] == "Acme Robotics, Inc."
    assert result is not None and result.flags["website_url"] == named  # the name, not the IP
    assert rebinding.asked("rebind.test") == 1  # looked up once, for the check
    assert web.hits(ACME_PATH) == before + 1 and evil.requests == []
    assert web.requests[-1]["headers"]["Host"] == f"rebind.test:{web.port}"


def test_names_resolving_to_private_addresses_are_refused_before_connecting(
    web: WebServer, rebinding: DnsServer
) -> None:
    settings = settings_for(rebinding, allow_private_network_fetch=False)
    before = len(web.requests)
    provider = WebsiteProvider(urls_for=lambda d: [f"http://inside.test:{web.port}{ACME_PATH}"])
    with pytest.raises(ProviderError, match=r"refusing inside\.test: .* 127\.0\.0\.1"):
        provider.enrich({"company_domain": "acmerobotics.io"}, ctx(settings))
    assert len(web.requests) == before
    # Every address counts: one private among public ones is enough to refuse.
    with pytest.raises(ProviderError, match=r"refusing mixed\.test: .* ::1"):
        check_target("http://mixed.test/", False, settings)
    target = check_target("https://public.test/about", False, settings)
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    assert (target.host, str(target.url)) == ("public.test", "https://public.test/about")


def test_a_rebinding_name_is_vetted_on_the_answer_the_fetch_will_use(
    rebinding: DnsServer,
) -> None:
    """The check's answer is the one a fetch connects to (shown above); the
    next lookup, now private, is refused on its own."""
    settings = settings_for(rebinding, allow_private_network_fetch=False)
    assert check_target("http://flip.test/", False, settings).addresses == ("93.184.216.34",)
    with pytest.raises(ProviderError, match=r"non-public address 127\.0\.0\.1"):
        check_target("http://flip.test/", False, settings)


def test_a_refused_address_falls_back_to_the_next_checked_one(
    web: WebServer, rebinding: DnsServer
) -> None:
    # Nothing listens on 127.0.0.3 at this port; 127.0.0.1 is the next answer.
    provider = WebsiteProvider(urls_for=lambda d: [f"http://multi.test:{web.port}{ACME_PATH}"])
    result = provider.enrich({"company_domain": "acmerobotics.io"}, ctx(settings_for(rebinding)))
    assert values(result)["company_name"] == "Acme Robotics, Inc."


def test_lookup_failures_through_the_configured_resolver(dns_server: DnsServer) -> None:
    settings = settings_for(dns_server)
    with pytest.raises(ProviderError, match=r"cannot resolve nowhere\.com: no such name"):
        check_target("http://nowhere.com/", True, settings)
    with pytest.raises(ProviderError, match=r"cannot resolve empty\.com: no addresses"):
        check_target("http://empty.com/", True, settings)
    with pytest.raises(TransientError, match=r"cannot resolve broken\.com"):
        check_target("http://broken.com/", True, settings)
    with pytest.raises(dns.exception.Timeout):
        check_target("http://blackhole.com/", True, settings, timeout=0.3)


def test_a_request_whose_host_was_not_checked_is_refused(web: WebServer) -> None:
    before = len(web.requests)
    with (
        httpx.Client(transport=PinnedTransport()) as client,
        pytest.raises(ProviderError, match="its host was not checked"),
    ):
        client.get(f"{web.base}{ACME_PATH}")
    assert len(web.requests) == before


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_to_the_pinned_address_still_names_the_host_in_tls(
    rebinding: DnsServer, tmp_path: Path
) -> None:
    """Connected to 127.0.0.1, the TLS handshake still says ``secure.test``
    (SNI), and the certificate is checked (this one is self-signed: refused)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = _self_signed(tmp_path, "secure.test")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []

    def note_sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name)

    server_tls.sni_callback = note_sni
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        connection, _ = listener.accept()
        with contextlib.suppress(OSError), server_tls.wrap_socket(connection, server_side=True):
            pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(f"https://secure.test:{port}/", settings_for(rebinding), ctx(settings_for()))
        thread.join(5)
    finally:
        listener.close()
    assert names == ["secure.test"]
