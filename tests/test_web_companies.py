"""The console's /companies list and /companies/{id} pages."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from leadbase import context
from leadbase.companies import service as companies_service
from leadbase.leads import service as leads_service
from leadbase.web import companies as companies_pages
from tests.browser import ConsoleServer


def _add_companies(console: ConsoleServer, rows: list[dict[str, Any]]) -> list[str]:
    """Companies through the write path, oldest first; their ids."""
    ids = []
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        for row in rows:
            company, _ = companies_service.create_or_merge(uow, row)
            ids.append(company.id)
    return ids


def _names(html: str) -> list[str]:
    return re.findall(r'<a href="/companies/[^"]+">([^<]*)</a>', html)


def test_the_list_shows_companies_newest_first_and_searches_by_domain(
    console: ConsoleServer,
) -> None:
    client = console.client("viewer")
    empty = client.get("/companies")
    assert empty.status_code == 200 and "No companies yet." in empty.text
    robotics_id, *_ = _add_companies(
        console,
        [
            {
                "name": "Acme Robotics",
                "domain": "acmerobotics.io",
                "industry": "Robotics",
                "country": "US",
            },
            {"name": "Acme Foods", "domain": "acmefoods.com", "country": "DE"},
            {"name": "Globex", "domain": "globex.co.uk", "industry": "Energy"},
        ],
    )
    gone = console.add_leads([{"email": "gone@acmerobotics.io", "company_id": robotics_id}])
    console.add_leads(
        [{"email": f"p{n}@acmerobotics.io", "company_id": robotics_id} for n in (1, 2)]
    )
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        leads_service.soft_delete(uow, gone[0])
    page = client.get("/companies")
    assert _names(page.text) == ["Globex", "Acme Foods", "Acme Robotics"]
    robotics = page.text[page.text.index("Acme Robotics") :]
    # Its two live leads are counted; the deleted one is not.
    assert re.search(
        r"acmerobotics\.io</td>\s*<td>Robotics</td>\s*<td>US</td>\s*<td class=\"num\">2</td>",
        robotics,
    )
    # q is the start of a name or a domain, as in the API; a pasted URL works too.
    assert _names(client.get("/companies", params={"q": "acme"}).text) == [
        "Acme Foods",
        "Acme Robotics",
    ]
    pasted = client.get("/companies", params={"q": "https://www.AcmeR"})
    assert _names(pasted.text) == ["Acme Robotics"]
    assert 'value="https://www.AcmeR"' in pasted.text  # the search stays in its box
    nothing = client.get("/companies", params={"q": "initech"})
    assert _names(nothing.text) == []
    assert 'No company name or domain starts with "initech".' in nothing.text
    bad = client.get("/companies", params={"cursor": "no/such cursor"})
    assert bad.status_code == 422 and "cursor" in bad.text
    client.close()


def test_the_list_pages_with_a_cursor(console: ConsoleServer) -> None:
    total = companies_pages.PAGE_SIZE + 3
    ids = _add_companies(
        console, [{"name": f"Company {n:02}", "domain": f"c{n:02}.example"} for n in range(total)]
    )
    client = console.client("viewer")
    first = client.get("/companies")
    assert len(_names(first.text)) == companies_pages.PAGE_SIZE
    assert _names(first.text)[0] == f"Company {total - 1:02}"
    assert "First page" not in first.text
    next_url = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert next_url is not None
    second = client.get(next_url.group(1).replace("&amp;", "&"))
    assert _names(second.text) == ["Company 02", "Company 01", "Company 00"]
    assert 'rel="next"' not in second.text and '<a href="/companies">First page</a>' in second.text
    # The search is kept from page to page.
    searched = client.get("/companies", params={"q": "c0"})
    assert len(_names(searched.text)) == 10 and 'rel="next"' not in searched.text
    past_the_end = client.get("/companies", params={"cursor": ids[0]})
    assert "No more companies." in past_the_end.text
    client.close()


def test_a_company_page_shows_its_fields_and_leads(console: ConsoleServer) -> None:
    (acme, empty) = _add_companies(
        console,
        [
            {
                "name": "Acme Robotics",
                "domain": "acmerobotics.io",
                "industry": "Robotics",
                "city": "Boston",
                "country": "US",
                "employee_size_min": 50,
                "employee_size_max": 200,
                "website": "https://acmerobotics.io/",
                "tags": ["hardware", "b2b"],
                "description": "Robots for warehouses.",
            },
            {"name": "Quiet Co", "domain": "quiet.example", "website": "javascript:alert(1)"},
        ],
    )
    lead_ids = console.add_leads(
        [
            {"email": f"person{n}@acmerobotics.io", "full_name": f"Person {n}", "company_id": acme}
            for n in range(companies_pages.LEADS_PAGE_SIZE + 2)
        ]
        + [{"email": "elsewhere@example.com", "full_name": "Someone Else"}]
    )
    client = console.client("editor")
    page = client.get(f"/companies/{acme}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Acme Robotics</h1>" in text
    for shown in (
        "acmerobotics.io",
        "Robotics",
        "Boston, US",
        "50\u2013200",
        "hardware",
        "Robots for warehouses.",
    ):
        assert shown in text, shown
    assert '<a href="https://acmerobotics.io/" rel="noopener noreferrer nofollow">' in text
    rows = re.findall(r'<tr data-lead-id="([^"]+)"', text)
    assert len(rows) == companies_pages.LEADS_PAGE_SIZE and rows[0] == lead_ids[-2]
    assert "Someone Else" not in text
    assert 'name="ids"' not in text  # no selection boxes: nothing here acts on them
    next_url = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', text)
    assert next_url is not None
    rest = client.get(next_url.group(1))
    assert re.findall(r'<tr data-lead-id="([^"]+)"', rest.text) == [lead_ids[1], lead_ids[0]]

    quiet = client.get(f"/companies/{empty}").text
    assert "No people at this company yet." in quiet
    assert 'href="javascript:' not in quiet and "javascript:alert(1)" in quiet  # text, not a link
    client.close()


def test_an_unknown_or_deleted_company_is_a_404_page(console: ConsoleServer) -> None:
    (gone,) = _add_companies(console, [{"name": "Gone Inc", "domain": "gone.example"}])
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        companies_service.soft_delete(uow, gone)
    client = console.client("viewer")
    for company_id in ("no-such-company", gone, "bad%20id'"):
        answer = client.get(f"/companies/{company_id}")
        assert answer.status_code == 404, company_id
        assert "text/html" in answer.headers["content-type"] and "Not found" in answer.text
    assert "Gone Inc" not in client.get("/companies").text
    client.close()
    stranger = console.client(None).get("/companies")
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login")


def test_companies_by_name_and_their_people_in_the_browser(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    """Companies come from the leads added with them; the list finds them by
    any start of their name, accents and case aside, and sorts them by name;
    a company's page lists its people."""
    jane, emile, _, _ = console.add_leads(
        [
            {
                "full_name": "Jane Doe",
                "title": "CTO",
                "email": "jane@acmerobotics.io",
                "company_name": "ACME Robotics Corp",
                "company_domain": "acmerobotics.io",
            },
            {
                "full_name": "\u00c9mile Zola",
                "title": "Head of Sales",
                "email": "emile@acmerobotics.io",
                "company_domain": "https://www.acmerobotics.io/team",
                "lead_status": "qualified",
            },
            {"full_name": "Hank Scorpio", "company_name": "Globex", "company_domain": "globex.com"},
            {"email": "z@sg.example", "company_name": "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale"},
        ]
    )
    console.sign_in(page, "editor")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Companies").click()
    expect(page.get_by_role("heading", name="Companies")).to_be_visible()
    search = page.get_by_label("Search companies by name or domain")
    search.fill("acme rob")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#company-rows tr")).to_have_count(1)
    expect(page.locator("#company-rows")).to_contain_text("ACME Robotics Corp")
    expect(page.locator("#company-rows")).to_contain_text("2")  # its people
    shot(page, "search-by-name")
    search.fill("SOCIETE")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#company-rows tr")).to_have_count(1)
    expect(page.locator("#company-rows")).to_contain_text("Soci\u00e9t\u00e9 G\u00e9n\u00e9rale")

    search.fill("")
    page.get_by_label("Sort").select_option("name")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#company-rows tr td:first-child")).to_have_text(
        ["ACME Robotics Corp", "Globex", "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale"]
    )

    page.get_by_role("link", name="ACME Robotics Corp").click()
    expect(page.get_by_role("heading", name="ACME Robotics Corp", level=1)).to_be_visible()
    expect(page.get_by_text("acmerobotics.io", exact=True)).to_be_visible()
    people = page.locator("#company-lead-rows tr")
    expect(people).to_have_count(2)
    expect(people.nth(0).locator("td")).to_have_text(
        ["\u00c9mile Zola", "Head of Sales", "emile@acmerobotics.io", "Qualified"]
    )
    expect(people.nth(1).locator("td")).to_have_text(
        ["Jane Doe", "CTO", "jane@acmerobotics.io", "New"]
    )
    expect(page.get_by_role("link", name="jane@acmerobotics.io")).to_have_attribute(
        "href", "mailto:jane@acmerobotics.io"
    )
    shot(page, "company-people")
    page.get_by_role("link", name="Jane Doe").click()
    page.wait_for_url(f"**/leads/{jane}")
    assert emile != jane
