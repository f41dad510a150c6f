"""The lead page on PostgreSQL and MariaDB, over HTTP: the read view (who,
company link, contact links, status, tags, timeline) and a section edit that
saves and is audited, then one refused with every bad field at once (the
browser tests run on SQLite)."""

from __future__ import annotations

import re

import pytest

from leadbase import context
from leadbase.companies import service as companies_service
from leadbase.leads import repository
from tests import dbs
from tests.browser import ConsoleServer


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_the_lead_page_reads_and_a_section_edits_on_a_server(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("_server_urls")(kind)
    dbs.empty_all_tables(url)
    console = ConsoleServer(url).start()
    try:
        with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
            company, _ = companies_service.create_or_merge(
                uow, {"name": "Acme Robotics", "domain": "acmerobotics.io"}
            )
        [ada] = console.add_leads(
            [
                {
                    "full_name": "Ada Lovelace",
                    "title": "Countess",
                    "email": "ada@acmerobotics.io",
                    "phone": "+44 20 7946 0958",
                    "company_id": company.id,
                    "company_name": "Acme Robotics",
                    "city": "London",
                    "tags": ["vip"],
                    "lead_status": "contacted",
                }
            ]
        )
        client = console.client("editor")
        page = client.get(f"/leads/{ada}").text
        assert f'<a href="/companies/{company.id}">Acme Robotics</a>' in page
        assert 'href="mailto:ada@acmerobotics.io"' in page and 'href="tel:+442079460958"' in page
        assert re.search(r'class="pill pill-contacted"[^>]*>Contacted<', page)
        assert '<li class="chip">vip</li>' in page
        assert "Created" in page and 'name="city"' not in page  # read first
        assert 'name="city"' in client.get(f"/leads/{ada}?edit=address").text

        form = {"version": "1", "seen_seq": "0", "section": "address"}
        saved = client.post(f"/leads/{ada}", {**form, "was.city": "London", "city": "Paris"})
        assert saved.status_code == 303
        page = client.get(f"/leads/{ada}").text
        assert '<dd data-field="city">Paris</dd>' in page
        assert "Updated city" in page and "by editor@example.com" in page

        bad = {
            "version": "2",
            "seen_seq": "0",
            "section": "contact",
            "was.email": "ada@acmerobotics.io",
            "email": "nope",
            "was.phone": "+442079460958",
            "phone": "12",
            "was.additional_emails": "",
            "additional_emails": "also nope",
        }
        refused = client.post(f"/leads/{ada}", bad)
        assert refused.status_code == 422
        assert refused.text.count('class="field-error"') == 3
        with console.database.read_session() as session:
            lead = repository.get(session, ada)
            assert lead is not None
            assert (lead.city, lead.email, lead.version) == ("Paris", "ada@acmerobotics.io", 2)
            assert lead.updated_by == "user:editor@example.com"
        client.close()
    finally:
        console.stop()
