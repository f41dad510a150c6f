"""The lead page after a real enrichment run: the waterfall (email, phone and
company providers, against a local DNS server) enriches a lead on the
server's own job threads, and the page tells what it found in words."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

from leadbase import context
from leadbase.enrichment.breaker import BREAKERS
from leadbase.leads import repository
from leadbase.leads import service as leads_service
from tests.browser import ConsoleServer
from tests.enrichment_servers import DnsServer


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    """This test's DNS: acmerobotics.io has a mail server; nothing else exists."""
    BREAKERS.clear()
    with DnsServer({"acmerobotics.io": {"MX": ["10 mx.acmerobotics.io."]}}) as server:
        yield server
    BREAKERS.clear()


def wait_until_enriched(console: ConsoleServer, lead_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with console.database.read_session() as session:
            lead = repository.get(session, lead_id)
            assert lead is not None
            if lead.enrichment_status in ("completed", "failed"):
                return
        time.sleep(0.1)
    raise AssertionError("the lead was not enriched within 20 s")


def test_a_lead_enriched_by_the_waterfall_reads_in_words(
    console_factory: Callable[..., ConsoleServer], dns: DnsServer
) -> None:
    console = console_factory(
        jobs_in_server=True,
        enrichment_providers=["email", "phone", "company"],
        dns_nameservers=["127.0.0.1"],
        dns_port=dns.port,
        enrichment_timeout_seconds=3,
    )
    [lead_id] = console.add_leads(
        [{"full_name": "Jane Doe", "email": "jane@acmerobotics.io", "phone": "+44 7400 123456"}]
    )
    with context.acting_as("user:editor@example.com"), console.database.unit_of_work() as uow:
        leads_service.start_enrichment(uow, [lead_id])
    wait_until_enriched(console, lead_id)

    client = console.client("viewer")
    html = client.get(f"/leads/{lead_id}").text
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "Enriched" in text
    assert (
        "Email Mail server found · work address · not disposable · not a role account Email check"
        in text
    )
    assert "Phone Valid mobile number (GB) Phone check" in text
    assert "Company Acmerobotics (acmerobotics.io) Company lookup" in text
    assert "Company website acmerobotics.io — Company lookup" in text
    assert "Enriched: filled company, company website and country; linked to its company" in text
    assert "by enrichment (automatic)" in html and "Enrichment started" in html
    assert "email: ok" not in text  # the old page's words; the steps are for admins
    client.close()
