"""The console's /analytics over HTTP: every figure with its chart, table and
CSV on a small hand-counted fixture; the lead list's filters and the date
range change the numbers; each CSV holds its table; an empty database shows
empty states; bad filters say what is wrong. In Chromium:
test_web_analytics_browser.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from html import unescape

import pytest
import sqlalchemy

from leadbase import context
from leadbase.leads import service as leads_service
from leadbase.models import AirtableRun, DuplicateCluster, LeadEvent, SalesLead
from leadbase.web import analytics
from tests.browser import ConsoleServer, SignedInClient

# Leads: (email, source, country, status, created (UTC), score).
LEADS = [
    ("a1@example.com", "apify", "France", "new", datetime(2026, 11, 2, 9, tzinfo=UTC), 15),
    ("a2@example.com", "apify", "France", "new", datetime(2026, 11, 3, 9, tzinfo=UTC), 95),
    ("a3@example.com", "apify", "Germany", "new", datetime(2026, 11, 10, 9, tzinfo=UTC), None),
    ("m1@example.com", "manual", "France", "new", datetime(2026, 11, 11, 9, tzinfo=UTC), 55),
    ("m2@example.com", "manual", "Spain", "new", datetime(2026, 11, 25, 9, tzinfo=UTC), 58),
]
# Then a1 and m1 are contacted, and a1 qualified.
ADVANCED = {"a1@example.com": ("contacted", "qualified"), "m1@example.com": ("contacted",)}


def seed(server: ConsoleServer) -> dict[str, str]:
    ids = dict(
        zip(
            [row[0] for row in LEADS],
            server.add_leads(
                [
                    {"email": email, "source": source, "country": country}
                    for email, source, country, *_ in LEADS
                ]
            ),
            strict=True,
        )
    )
    with context.acting_as("test:seed"), server.database.unit_of_work() as uow:
        for email, statuses in ADVANCED.items():
            for status in statuses:
                leads_service.update(uow, ids[email], {"lead_status": status})
    with server.database.unit_of_work() as uow:
        for email, _, _, _, created, score in LEADS:
            lead = uow.session.get(SalesLead, ids[email])
            assert lead is not None
            lead.created_at, lead.lead_score = created, score
        for email, kind, outcome, when in (
            ("a1@example.com", "call", "connected", datetime(2026, 11, 4, tzinfo=UTC)),
            ("a1@example.com", "email", None, datetime(2026, 11, 4, tzinfo=UTC)),
            ("m1@example.com", "call", "no_answer", datetime(2026, 11, 12, tzinfo=UTC)),
        ):
            uow.session.add(
                LeadEvent(
                    lead_id=ids[email], event_type=kind, outcome=outcome, event_timestamp=when
                )
            )
    return ids


@pytest.fixture
def server(console_factory: object) -> ConsoleServer:
    return console_factory()  # type: ignore[operator,no-any-return]


@pytest.fixture
def client(server: ConsoleServer) -> SignedInClient:
    signed_in = server.client("viewer")
    yield signed_in  # type: ignore[misc]
    signed_in.close()


def table(html: str, slug: str) -> list[list[str]]:
    """The figure's table as text: the header row, then each row's cells."""
    found = re.search(rf'<table class="data" data-table="{slug}">(.*?)</table>', html, re.S)
    assert found, f"no table {slug}"
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def downloaded(client: SignedInClient, slug: str, query: str = "") -> list[list[str]]:
    answer = client.get(f"/analytics/{slug}.csv" + (f"?{query}" if query else ""))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert f"leadbase-{slug}-" in answer.headers["content-disposition"]
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def without_grouping(rows: list[list[str]]) -> list[list[str]]:
    return [[cell.replace(",", "") for cell in row] for row in rows]


def test_every_figure_shows_chart_table_and_csv(
    server: ConsoleServer, client: SignedInClient
) -> None:
    seed(server)
    page = client.get("/analytics")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/analytics" aria-current="page">Analytics</a>' in html
    for slug in analytics.FIGURES:
        assert f'data-figure="{slug}"' in html
    assert 'data-role="figure-error"' not in html
    timing = page.headers["server-timing"]
    assert [part.split(";")[0] for part in timing.split(", ")] == list(analytics.FIGURES)
    # Charts are inline SVG images with a name; no inline style anywhere.
    assert html.count('role="img"') == 6
    # No provider ran, no duplicates scan, no import here: those say so.
    assert html.count('data-role="empty-state"') == 3
    assert "style=" not in html

    # Leads created per week (Mondays), by status, every week in between.
    assert table(html, "leads") == [
        ["Period", "new", "contacted", "qualified", "Total"],
        ["2026-11-02", "1", "0", "1", "2"],
        ["2026-11-09", "1", "1", "0", "2"],
        ["2026-11-16", "0", "0", "0", "0"],
        ["2026-11-23", "1", "0", "0", "1"],
    ]
    assert table(html, "breakdown")[1:] == [
        ["new", "3", "60.0"],
        ["contacted", "1", "20.0"],
        ["qualified", "1", "20.0"],
    ]
    funnel = table(html, "funnel")
    assert funnel[0][:3] == ["Stage", "Reached", "On to next (%)"]
    assert [row[:3] for row in funnel[1:]] == [
        ["new", "5", "40.0"],
        ["contacted", "2", "50.0"],
        ["qualified", "1", "0.0"],
        ["converted", "0", ""],
        ["lost", "0", ""],
    ]
    assert table(html, "activities")[1:] == [
        ["2026-11-02", "1", "1", "2"],
        ["2026-11-09", "1", "0", "1"],
    ]
    scores = table(html, "scores")
    assert scores[2] == ["10-19", "1"] and scores[6] == ["50-59", "2"]
    assert scores[10] == ["90-100", "1"] and scores[-1] == ["unscored", "1"]
    assert table(html, "enrichment")[0] == ["Status", "Leads", "Share (%)"]

    # Each CSV is its table, numbers ungrouped.
    for slug in ("leads", "breakdown", "funnel", "activities", "scores", "enrichment"):
        assert downloaded(client, slug) == without_grouping(table(html, slug)), slug


def test_providers_duplicates_and_runs(server: ConsoleServer, client: SignedInClient) -> None:
    ids = seed(server)
    steps = {
        "a1@example.com": ("completed", [("hunter", "ok"), ("clearbit", "no_data")]),
        "a2@example.com": ("completed", [("hunter", "ok"), ("clearbit", "ok")]),
        "m1@example.com": ("failed", [("hunter", "error")]),
    }
    with server.database.unit_of_work() as uow:
        for email, (status, done) in steps.items():
            lead = uow.session.get(SalesLead, ids[email])
            assert lead is not None
            lead.enrichment_status = status
            lead.enrichment_data = {"steps": [{"provider": p, "status": s} for p, s in done]}
        uow.session.add(
            DuplicateCluster(
                fingerprint="f" * 64,
                lead_ids=[ids["a1@example.com"], ids["a2@example.com"]],
                score=0.9,
                reasons=["same name"],
                action="review",
                status="open",
            )
        )
        uow.session.add(
            AirtableRun(kind="push", status="succeeded", actor="user:x", counts={"pushed": 3})
        )
    html = client.get("/analytics").text
    assert 'data-role="figure-error"' not in html
    assert table(html, "providers")[1:] == [
        ["clearbit", "2", "1", "1", "0", "0", "50.0"],
        ["hunter", "3", "2", "0", "1", "0", "66.7"],
    ]
    assert table(html, "enrichment")[1:] == [
        ["completed", "2", "40.0"],
        ["pending", "2", "40.0"],
        ["failed", "1", "20.0"],
    ]
    assert 'aria-labelledby="chart-providers-title' in html and "66.7% (2 of 3 runs)" in html
    assert table(html, "duplicates")[1:] == [["open", "review", "1"]]
    assert table(html, "imports") == [
        ["Source", "Kind", "Status", "Runs", "Rows pushed"],
        ["Airtable", "push", "succeeded", "1", "3"],
    ]
    assert "Airtable push, succeeded" in html
    for slug in ("providers", "duplicates", "imports"):
        assert downloaded(client, slug) == without_grouping(table(html, slug)), slug


def test_filters_change_the_numbers_and_the_csv_follows(
    server: ConsoleServer, client: SignedInClient
) -> None:
    seed(server)
    query = "source=apify&by=country&interval=month&since=2026-11-03"
    html = client.get(f"/analytics?{query}").text
    # a1 (Nov 2) is before the range: a2 and a3 are left.
    assert table(html, "leads") == [
        ["Period", "France", "Germany", "Total"],
        ["2026-11-01", "1", "1", "2"],
    ]
    assert table(html, "breakdown")[0] == ["Country", "Leads", "Share (%)"]
    assert downloaded(client, "leads", query) == table(html, "leads")
    assert 'value="apify"' in html and 'href="/leads?source=apify"' in html
    # The CSV link carries the page's query.
    link = (
        "/analytics/leads.csv?source=apify&amp;since=2026-11-03&amp;interval=month&amp;by=country"
    )
    assert f'href="{link}"' in html

    html = client.get("/analytics?country=Spain").text
    assert table(html, "funnel")[1][:2] == ["new", "1"]
    assert 'data-figure="activities"' in html and "No activities were logged" in html

    html = client.get("/analytics?lead_status=contacted&activity_by=outcome").text
    assert table(html, "activities") == [
        ["Period", "no_answer", "Total"],
        ["2026-11-09", "1", "1"],
    ]


def test_empty_database_shows_empty_states(client: SignedInClient) -> None:
    html = client.get("/analytics").text
    assert html.count('data-role="empty-state"') == len(analytics.FIGURES)
    assert 'data-role="figure-error"' not in html
    assert "<table" not in html
    assert downloaded(client, "funnel") == [
        ["Stage", "Reached", "On to next (%)", "Median days", "Left"]
    ]


def test_bad_filters_say_what_is_wrong(client: SignedInClient) -> None:
    answer = client.get("/analytics?lead_status=won&since=yesterday&interval=year&by=colour")
    assert answer.status_code == 422
    html = unescape(answer.text)
    assert 'data-testid="analytics-error"' in answer.text
    for text in ("Status: “won”", "From: “yesterday” is not a date", "Per: “year”", "Lines by"):
        assert text in html
    assert 'data-figure="' not in answer.text
    assert client.get("/analytics?sort=nonsense&after=x").status_code == 200  # not a list
    answer = client.get("/analytics?since=2026-12-02&until=2026-12-01")
    assert answer.status_code == 422 and "ends before it starts" in answer.text
    assert client.get("/analytics/leads.csv?lead_status=won").status_code == 422
    assert client.get("/analytics/nothing.csv").status_code == 404


def test_a_figure_that_cannot_be_read_shows_its_error_and_the_others_show(
    server: ConsoleServer, client: SignedInClient
) -> None:
    seed(server)
    with server.database.unit_of_work() as uow:  # the Airtable runs' table is gone
        uow.session.execute(sqlalchemy.text("DROP TABLE airtable_runs"))
    answer = client.get("/analytics")
    assert answer.status_code == 200
    assert answer.text.count('data-role="figure-error"') == 1
    error = answer.text.index('data-role="figure-error"')
    assert answer.text.rindex('data-figure="', 0, error) == answer.text.index(
        'data-figure="imports"'
    )
    assert table(answer.text, "funnel")[1][:2] == ["new", "5"]
    assert client.get("/analytics/imports.csv").status_code == 503
    assert client.get("/analytics/funnel.csv").status_code == 200


def test_signed_out_is_sent_to_sign_in(server: ConsoleServer) -> None:
    anonymous = server.client(None)
    answer = anonymous.get("/analytics?source=apify")
    assert answer.status_code == 303
    assert "/login" in answer.headers["location"]
    assert anonymous.get("/analytics/leads.csv").status_code in (303, 401)
    anonymous.close()


def test_trend_keeps_the_largest_series_and_sums_the_rest() -> None:
    rows = [
        analytics.PeriodCount(period="2026-11-02", value=f"v{i}", count=10 - i) for i in range(9)
    ]
    rows.append(analytics.PeriodCount(period="2026-11-16", value=None, count=1))
    periods, series = analytics.trend(rows, "week")
    assert periods == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert [one.name for one in series] == ["v0", "v1", "v2", "v3", "v4", "v5", "Other"]
    assert series[-1].values == [4 + 3 + 2, 0, 1]  # v6..v8 and the lead with no value
    assert analytics.periods_between("2026-11-01", "2027-02-01", "month") == [
        "2026-11-01",
        "2026-12-01",
        "2027-01-01",
        "2027-02-01",
    ]
