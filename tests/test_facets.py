"""Case-insensitive list filters and the values they offer (issue 11), through
GET /api/v1/leads and GET /api/v1/leads/facets/{field}, on SQLite, PostgreSQL
and MariaDB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase import context
from leadbase.db import Database
from leadbase.leads import facets, repository
from leadbase.leads import service as leads_service
from tests.api_clients import api_settings, signed_in

# name -> (source, country, tags, lead_status)
LEADS: dict[str, tuple[str | None, str | None, list[str] | None, str]] = {
    "ada": ("Apify", "France", ["VIP", "cold"], "new"),
    "bob": ("apify", "FR", ["vip"], "qualified"),
    "cy": ("APIFY", "france", None, "qualified"),
    "dee": ("csv_import", "Germany", ["Vip", "warm"], "new"),
    "eve": ("csv_import", "DE", ["vip-2"], "lost"),
    "fay": (None, "United Kingdom", None, "new"),
    "gus": ("Apify", "Énergie-Land", ["Événement"], "contacted"),
}


class Api:
    def __init__(self, client: TestClient, headers: dict[str, str], database: Database) -> None:
        self.client, self.headers, self.database = client, headers, database

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1/leads{path}", params=params, headers=self.headers)

    def names(self, **params: Any) -> set[str]:
        """Every lead the list finds, through all its pages (2 a page)."""
        found: list[str] = []
        cursor = None
        while True:
            query = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
            answer = self.get("", **query)
            assert answer.status_code == 200, answer.text
            found += [item["email"].split("@")[0] for item in answer.json()["data"]["items"]]
            cursor = answer.json()["data"]["next_cursor"]
            if cursor is None:
                assert len(found) == len(set(found)), found  # no lead twice across pages
                return set(found)

    def facets(self, field: str, **params: Any) -> list[dict[str, Any]]:
        answer = self.get(f"/facets/{field}", **params)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert data["field"] == field
        values: list[dict[str, Any]] = data["values"]
        return values


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    database = Database(db_url, api_settings(db_url))
    client, headers = signed_in(database, {"vi@example.com": "viewer"})
    rows = [
        {
            "email": f"{name}@example.com",
            "source": source,
            "country": country,
            "tags": tags,
            "lead_status": status,
        }
        for name, (source, country, tags, status) in LEADS.items()
    ]
    with context.acting_as("test:seed"), database.unit_of_work() as uow:
        leads_service.bulk_create(uow, rows)
    yield Api(client, headers["vi@example.com"], database)
    database.dispose()


def test_source_country_tag_and_status_filters_ignore_case(api: Api) -> None:
    apify = {"ada", "bob", "cy", "gus"}
    for spelling in ("apify", "Apify", "APIFY", "aPiFy"):
        assert api.names(source=spelling) == apify
    assert api.names(source="csv_IMPORT") == {"dee", "eve"}
    assert api.names(source="apif") == set()  # equal, not a prefix

    france = {"ada", "bob", "cy"}
    for spelling in ("FR", "fr", "France", "france", "FRANCE", "FRA"):
        assert api.names(country=spelling) == france, spelling
    assert api.names(country="de") == {"dee", "eve"}
    assert api.names(country="Deutschland") == {"dee", "eve"}
    assert api.names(country="GB") == {"fay"}
    assert api.names(country="énergie-land") == {"gus"}  # not a country: case aside
    assert api.names(country="Atlantis") == set()

    vip = {"ada", "bob", "dee"}  # never "vip-2"
    for spelling in ("vip", "VIP", "Vip", "vIP"):
        assert api.names(tag=spelling) == vip, spelling
    assert api.names(tag="vip", q="ada") == {"ada"}
    assert api.names(tag="VIP", source="apify") == {"ada", "bob"}
    assert api.names(tag="vip", country="fr", source="APIFY") == {"ada", "bob"}
    assert api.names(tag="événement") == {"gus"}

    assert api.names(lead_status="QUALIFIED") == {"bob", "cy"}
    assert api.names(lead_status="qualified", country="france") == {"bob", "cy"}
    assert api.names(lead_status="Converted") == set()
    bad = api.get("", lead_status="won")
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"


def test_every_sort_pages_through_a_filter_of_several_spellings(api: Api) -> None:
    """Each sort (SQLite: the value-by-value walk for created_at, the window
    for the others) lists every match once, in order."""
    for sort in ("-created_at", "created_at", "-updated_at", "full_name", "-lead_score"):
        assert api.names(source="apify", sort=sort) == {"ada", "bob", "cy", "gus"}, sort
    everything = api.get("", source="APIFY", limit=50).json()["data"]["items"]
    stamps = [(item["created_at"], item["id"]) for item in everything]
    assert stamps == sorted(stamps, reverse=True)


def test_facet_values_count_active_leads_most_common_first(api: Api) -> None:
    deleted = api.get("", source="csv_import", country="DE").json()["data"]["items"][0]
    with context.acting_as("test:seed"), api.database.unit_of_work() as uow:
        leads_service.soft_delete(uow, deleted["id"])  # eve: not counted

    sources = api.facets("source")
    assert [(v["value"].casefold(), v["count"]) for v in sources] == [
        ("apify", 4),
        ("csv_import", 1),
    ]
    assert sources[0]["value"] == "Apify" or api.database.dialect == "mysql"
    countries = {v["value"]: v["count"] for v in api.facets("country")}
    assert countries == {"France": 3, "Germany": 1, "United Kingdom": 1, "Énergie-Land": 1}
    france = api.facets("country", prefix="fr")
    assert [v["value"] for v in france] == ["France"]
    assert {s.casefold() for s in france[0]["spellings"]} == {"fr", "france"}

    tags = {v["value"].casefold(): v["count"] for v in api.facets("tag")}
    assert tags == {"vip": 3, "cold": 1, "warm": 1, "événement": 1}
    statuses = {v["value"]: v["count"] for v in api.facets("lead_status")}
    assert statuses == {"new": 3, "qualified": 2, "contacted": 1}
    assert api.facets("industry") == []


def test_facet_prefix_ignores_case_and_accents_and_matches_codes(api: Api) -> None:
    def shown(field: str, prefix: str) -> list[str]:
        return [v["value"].casefold() for v in api.facets(field, prefix=prefix)]

    assert shown("country", "FRA") == ["france"]
    assert shown("country", "deu") == ["germany"]  # ISO alpha-3
    assert shown("country", "kingdom") == ["united kingdom"]  # a word of the name
    assert shown("country", "ener") == ["énergie-land"]
    assert shown("country", "land") == ["énergie-land"]
    assert shown("tag", "EVEN") == ["événement"]
    assert shown("tag", "v") == ["vip", "vip-2"]
    assert shown("source", "zzz") == []
    assert len(api.facets("country", limit=2)) == 2


def test_unknown_facet_field_or_bad_limit_is_422(api: Api) -> None:
    for path, params in (("/facets/email", {}), ("/facets/country", {"limit": 0})):
        answer = api.get(path, **params)
        assert answer.status_code == 422, path
        assert answer.json()["success"] is False
        assert answer.json()["error"] == "validation_error"
    anonymous = api.client.get("/api/v1/leads/facets/country")
    assert anonymous.status_code == 401


def test_counts_refresh_in_the_background_once_stale(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cache's life a request still gets the old counts at once, and
    a recount runs in the background; the next requests see the new ones."""
    assert {v["value"]: v["count"] for v in api.facets("lead_status")}["lost"] == 1
    with context.acting_as("test:seed"), api.database.unit_of_work() as uow:
        leads_service.bulk_create(uow, [{"email": "hal@example.com", "lead_status": "lost"}])
    assert {v["value"]: v["count"] for v in api.facets("lead_status")}["lost"] == 1  # cached
    monkeypatch.setattr(facets.COUNTS, "ttl", 0.0)
    deadline = time.monotonic() + 10
    while {v["value"]: v["count"] for v in api.facets("lead_status")}["lost"] != 2:
        assert time.monotonic() < deadline, "the counts were never refreshed"
        time.sleep(0.05)


def test_a_new_spelling_of_a_column_is_found_at_once(api: Api) -> None:
    """Columns resolve from the stored values as they are now, not the cache."""
    assert api.names(source="apify") == {"ada", "bob", "cy", "gus"}
    with context.acting_as("test:seed"), api.database.unit_of_work() as uow:
        leads_service.bulk_create(uow, [{"email": "ike@example.com", "source": "ApIfY"}])
    assert api.names(source="apify") == {"ada", "bob", "cy", "gus", "ike"}


def test_a_tag_spelling_the_cache_does_not_know_yet_is_found_once_counted(api: Api) -> None:
    with context.acting_as("test:seed"), api.database.unit_of_work() as uow:
        leads_service.bulk_create(uow, [{"email": "jo@example.com", "tags": ["vIp"]}])
    # The usual case variants at once; "vIp" once the tags are counted
    # (a cold cache counts them in the background).
    assert {"ada", "bob", "dee"} <= api.names(tag="VIP")
    deadline = time.monotonic() + 10
    while api.names(tag="VIP") != {"ada", "bob", "dee", "jo"}:
        assert time.monotonic() < deadline, "vIp was never found"
        time.sleep(0.05)


def test_the_repository_queries_behind_the_facets(api: Api) -> None:
    with api.database.read_session() as session:
        walked = repository.distinct_values(session, "country", 100)
        assert len(walked) == len(set(walked)) and len(walked) >= 6
        if api.database.dialect != "mysql":  # MariaDB compares without case
            assert {"France", "FR", "france"} <= set(walked)
        assert len(repository.distinct_values(session, "country", 2)) == 2
        assert ("vip-2", 1) in repository.tag_counts(session)
        assert facets.resolve_filters(session, {"source": "csv_IMPORT", "is_manual": False}) == {
            "source": "csv_import",
            "is_manual": False,
        }
        assert facets.resolve_tag(session, None) is None


def test_sqlite_strategies_for_several_spellings_give_the_same_pages(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a filter of several spellings is walked value by value
    (newest first) or through a window of the sort's index, with or
    without a search; every page matches the plain query's, in order."""
    database = Database(sqlite_url, api_settings(sqlite_url))
    rows = [
        {
            "full_name": f"Lead {i % 7}" if i % 6 else None,
            "email": f"w{i}@example.com",
            "country": ["US", "France", "FR", "DE"][i % 4],
            "source": ["apify", "Apify", "APIFY", "csv_import"][i % 5 % 4],
            "tags": [["vip"], ["VIP", "warm"], None][i % 3],
            "lead_score": [None, 5, 9][i % 3],
        }
        for i in range(80)
    ]
    with context.acting_as("test:seed"), database.unit_of_work() as uow:
        for chunk in (rows[:30], rows[30:55], rows[55:]):  # three created_at values
            leads_service.bulk_create(uow, chunk)
    queries = [
        ({"country": "fr"}, None, "-created_at"),
        ({"country": "fr", "source": "apify"}, None, "created_at"),
        ({"source": "apify"}, "vip", "-created_at"),
        ({"source": "APIFY"}, "vip", "full_name"),
        ({"country": "france"}, "warm", "-lead_score"),
        ({"source": "apify"}, None, "-lead_score"),
    ]

    def walk(plain: bool) -> list[list[str]]:
        answers = []
        for filters, tag, spec in queries:
            sort, after, ids = repository.Sort.parse(spec), None, []
            while True:
                with database.read_session() as session:
                    resolved = facets.resolve_filters(session, filters)
                    tags = facets.resolve_tag(session, tag)
                    where: dict[str, Any] = {"sort": sort, "after": after, "limit": 3}
                    if plain:
                        query = repository.searched(session, resolved, tag=tags)
                        page = repository.page(session, query, sort=sort, after=after, limit=3)
                    elif tag is None:
                        page = repository.filtered_page(
                            session, resolved, include_deleted=False, **where
                        )
                    else:
                        page = repository.searched_page(
                            session, resolved, q=None, tag=tags, include_deleted=False, **where
                        )
                ids += [row["id"] for row in page]
                if len(page) < 3:
                    break
                after = repository.Position(page[-1][sort.key], page[-1]["id"])
            answers.append(ids)
        return answers

    plain = walk(plain=True)
    for window in (1, 8, 1_000_000):
        monkeypatch.setattr(repository, "SQLITE_FILTER_WINDOW", window)
        assert walk(plain=False) == plain, window
    assert [len(ids) for ids in plain] == [40, 32, 43, 43, 13, 64]
    database.dispose()
