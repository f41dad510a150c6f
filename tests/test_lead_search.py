"""GET /api/v1/leads: text search ``q``, the ``tag`` filter and keyset sorts,
on SQLite, PostgreSQL and MariaDB, answered from each database's own index."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from leadbase import schema
from leadbase.auth import service as auth_service
from leadbase.backup import backup, restore
from leadbase.client import LeadDatabase
from leadbase.config import Settings
from leadbase.db import Database, create_db_engine
from leadbase.http.app import create_app
from leadbase.leads import repository
from leadbase.models import SalesLead
from tests import dbs, legacy_rows

PASSWORD = "correct horse battery"
SORTS = [f"{sign}{field}" for field in repository.SORT_FIELDS for sign in ("", "-")]


class Api:
    """An app on one database with a logged-in editor."""

    def __init__(self, client: TestClient, headers: dict[str, str], database: Database) -> None:
        self.client, self.headers, self.database = client, headers, database

    def get(self, path: str = "/api/v1/leads", **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def items(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get(**params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]["items"]
        return items

    def names(self, **params: Any) -> set[str | None]:
        return {item["full_name"] for item in self.items(**params)}

    def every_page(self, **params: Any) -> list[dict[str, Any]]:
        """Follow next_cursor to the end; no lead may come twice."""
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            response = self.get(**params, **({"cursor": cursor} if cursor else {}))
            assert response.status_code == 200, response.text
            page = response.json()["data"]
            assert len(page["items"]) <= params.get("limit", 50)
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        ids = [item["id"] for item in seen]
        assert len(ids) == len(set(ids)), "a lead came twice"
        return seen

    def create(self, rows: list[dict[str, Any]]) -> list[str]:
        response = self.client.post("/api/v1/leads/bulk", json=rows, headers=self.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    def write(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.request(method, path, headers=self.headers, **kwargs)
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()["data"]
        return data


@contextmanager
def _api(db_url: str) -> Iterator[Api]:
    settings = Settings(database_url=db_url, secret_key="test-secret-key-of-some-length-0123456789")
    database = Database(db_url, settings)
    with database.unit_of_work() as uow:
        auth_service.create_user(uow.session, "ed@example.com", PASSWORD, "editor")
    client = TestClient(create_app(settings, database))
    login = client.post(
        "/api/v1/auth/login", json={"email": "ed@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    try:
        yield Api(client, headers, database)
    finally:
        database.dispose()


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    with _api(db_url) as made:
        yield made


PEOPLE = [
    {
        "full_name": "Ada Lovelace",
        "email": "ada@analytical.example",
        "company_name": "Analytical Engines",
        "title": "Countess",
        "country": "GB",
        "tags": ["vip", "key account"],
    },
    {
        "full_name": "Jean Lefèvre",
        "email": "jl@paris.example",  # the accented words only in name and company
        "company_name": "Société Générale",
        "title": "Directeur Général",
        "country": "FR",
        "tags": ["account key"],
    },
    {
        "full_name": "Grace Hopper",
        "email": "grace@navy.example",
        "company_name": "US Navy",
        "title": "Rear Admiral of the Navy",
        "country": "US",
        "tags": ["VIP", "Kundenbetreuer Ä"],
    },
    {
        # Matches "countess" and "lovelace" only outside the searched columns.
        "full_name": "Alan Turing",
        "email": "alan@bletchley.example",
        "city": "Lovelace",
        "notes": "countess",
        "tags": ["countess", "vip-2"],
    },
]


def test_words_prefixes_accents_and_case(api: Api) -> None:
    api.create(PEOPLE)
    assert api.names(q="ada lov") == {"Ada Lovelace"}
    assert api.names(q="LOVELACE") == {"Ada Lovelace"}
    assert api.names(q="countess") == {"Ada Lovelace"}  # title, not notes or tags
    assert api.names(q="engines countess") == {"Ada Lovelace"}  # words across columns
    assert api.names(q="hopper ada") == set()  # every word must match
    assert api.names(q="lefevre") == api.names(q="LEFÈVRE") == {"Jean Lefèvre"}
    assert api.names(q="societe gen") == api.names(q="Société") == {"Jean Lefèvre"}
    assert api.names(q="directeur") == {"Jean Lefèvre"}
    assert api.names(q="grace@navy.example") == {"Grace Hopper"}  # email parts are words
    assert api.names(q="navy.exa") == {"Grace Hopper"}
    assert api.names(q="of the navy") == {"Grace Hopper"}  # no stopwords
    assert api.names(q="example") == {p["full_name"] for p in PEOPLE}
    assert api.names(q="zzyzx") == set()


HOSTILE = [
    '"',
    '""',
    '"ada lovelace"',
    "*",
    "ada*",
    "(ada)",
    "(",
    ")))",
    "NOT",
    "ada NOT lovelace",
    "lovelace OR hopper",
    "AND OR NOT NEAR",
    "NEAR(ada lovelace)",
    "full_name:ada",
    "{full_name}: ada",
    "-lovelace ada",
    "+ada -hopper",
    "~ada",
    "ada:*",
    "'ada':* | 'grace'",
    "ada & !grace",
    "@@@",
    "'",
    "\\",
    "ada' OR 1=1 --",
    "%",
    "_",
    "^ada",
    "<ada>",
    "ada\u0301",
    "🙂 ada",
    "x" * 200,
    "a" * 200,
]


def test_hostile_q_is_words_never_syntax(api: Api) -> None:
    api.create(PEOPLE)
    for q in HOSTILE:
        response = api.get(q=q)
        assert response.status_code == 200, (q, response.text)
        assert response.json()["success"] is True
    # Operators and quotes are separators: the words are looked up as words.
    assert api.names(q='"ada lovelace"') == {"Ada Lovelace"}
    assert api.names(q="(ada*)") == {"Ada Lovelace"}
    assert api.names(q="-lovelace ada") == {"Ada Lovelace"}
    assert api.names(q="lovelace OR hopper") == set()  # "or" is a word nobody has
    assert api.names(q="full_name:ada") == set()  # "full", "name" and "ada"
    # Input the API refuses is a 422 envelope naming q, never a 500.
    for q in ["x" * 201, "a b c d e f g h i"]:
        refused = api.get(q=q)
        assert refused.status_code == 422, (q, refused.text)
        body = refused.json()
        assert body["success"] is False and body["error"] == "validation_error"
        assert body["details"][0]["field"].endswith("q"), (q, body)
    nul = api.get(q="ada\x00")  # PostgreSQL cannot even compare text holding NUL
    assert nul.status_code == 422 and nul.json()["error"] == "validation_error"


def test_q_with_filters_pages_and_deleted_leads(api: Api) -> None:
    rows = [
        {
            "full_name": f"Member {i:02d}",
            "email": f"m{i}@acme.example" if i % 4 else f"m{i}@other.example",
            "company_name": "Acme Rockets" if i % 4 else "Other Co",
            "country": "FR" if i % 2 else "DE",
            "is_manual": i % 3 == 0,
        }
        for i in range(30)
    ]
    ids = api.create(rows)
    acme_fr = [lid for i, lid in enumerate(ids) if i % 4 and i % 2]
    seen = api.every_page(q="acme rock", country="FR", limit=4)
    assert [item["id"] for item in seen] == list(reversed(acme_fr))
    manual = {item["id"] for item in api.every_page(q="acme", is_manual=True, limit=3)}
    assert manual == {lid for i, lid in enumerate(ids) if i % 4 and i % 3 == 0}

    gone = acme_fr[0]
    api.write("DELETE", f"/api/v1/leads/{gone}")
    assert gone not in {item["id"] for item in api.every_page(q="acme", limit=5)}
    with_deleted = api.every_page(q="acme", include_deleted=True, country="FR", limit=5)
    assert {item["id"] for item in with_deleted} == set(acme_fr)
    api.write("POST", f"/api/v1/leads/{gone}/restore")
    assert gone in {item["id"] for item in api.items(q="acme", country="FR")}


def test_every_write_keeps_the_index_current(api: Api) -> None:
    first = api.write("POST", "/api/v1/leads", json={"full_name": "Ada Lovelace"})["id"]
    bulk = api.create([{"full_name": "Grace Hopper"}, {"email": "alan@turing.example"}])
    assert api.names(q="grace") == {"Grace Hopper"}
    assert {i["id"] for i in api.items(q="turing")} == {bulk[1]}

    api.write("PATCH", f"/api/v1/leads/{first}", json={"title": "Countess"})
    assert api.names(q="countess ada") == {"Ada Lovelace"}
    api.write("PATCH", f"/api/v1/leads/{first}", json={"title": "Mathematician"})
    assert api.names(q="countess") == set()  # the old words are gone
    assert api.names(q="mathem") == {"Ada Lovelace"}

    api.write("PUT", f"/api/v1/leads/{bulk[1]}", json={"full_name": "Alan Turing"})
    assert api.items(q="turing.example") == []  # the email was cleared
    assert {i["id"] for i in api.items(q="alan turing")} == {bulk[1]}

    # A duplicate merged into an existing lead re-indexes that lead.
    api.write("PATCH", f"/api/v1/leads/{bulk[1]}", json={"email": "alan@turing.example"})
    merged = api.write(
        "POST",
        "/api/v1/leads?on_duplicate=merge",
        json={"email": "alan@turing.example", "company_name": "Bletchley Park"},
    )
    assert merged["id"] == bulk[1]
    assert {i["id"] for i in api.items(q="bletchley")} == {bulk[1]}

    api.write("DELETE", f"/api/v1/leads/{bulk[0]}")
    assert api.names(q="grace") == set()
    assert api.names(q="grace", include_deleted=True) == {"Grace Hopper"}
    if api.database.dialect == "sqlite":
        with api.database.engine.begin() as connection:
            # A row removed outright (no API does it) leaves the index too.
            connection.execute(text("DELETE FROM sales_leads WHERE id = :id"), {"id": bulk[0]})
            # Raises if a trigger ever removed other words than it indexed.
            connection.exec_driver_sql(
                "INSERT INTO lead_search (lead_search, rank) VALUES ('integrity-check', 0)"
            )
        assert api.names(q="grace", include_deleted=True) == set()


def test_tag_filter(api: Api) -> None:
    ids = dict(zip([p["full_name"] for p in PEOPLE], api.create(PEOPLE), strict=True))
    star = api.create([{"full_name": "Star Tagged", "tags": ["★", "vip"]}])[0]

    def tagged(tag: str, **params: Any) -> set[str]:
        return {item["id"] for item in api.every_page(tag=tag, limit=2, **params)}

    # Case aside (issue 11): "vip" is also "VIP"; never "vip-2".
    assert tagged("vip") == {ids["Ada Lovelace"], ids["Grace Hopper"], star}
    assert tagged("VIP") == {ids["Ada Lovelace"], ids["Grace Hopper"], star}
    assert tagged("key account") == {ids["Ada Lovelace"]}  # not "account key"
    assert tagged("Kundenbetreuer Ä") == {ids["Grace Hopper"]}
    assert tagged("kundenbetreuer ä") == {ids["Grace Hopper"]}
    assert tagged("★") == {star}
    assert tagged("key") == set()
    assert tagged("vip", q="lovelace") == {ids["Ada Lovelace"]}
    assert tagged("vip", country="GB") == {ids["Ada Lovelace"]}

    api.write("PATCH", f"/api/v1/leads/{star}", json={"tags": ["gold"]})
    assert tagged("vip") == {ids["Ada Lovelace"], ids["Grace Hopper"]}
    assert tagged("gold") == {star}
    api.write("DELETE", f"/api/v1/leads/{ids['Ada Lovelace']}")
    assert tagged("vip") == {ids["Grace Hopper"]}
    assert tagged("vip", include_deleted=True) == {ids["Ada Lovelace"], ids["Grace Hopper"]}
    assert api.get(tag="").status_code == 422
    assert api.get(tag="t" * 51).status_code == 422


def _expected_order(items: list[dict[str, Any]], sort: str) -> list[str]:
    """(value, id) order, descending for -field; empty values last either way."""
    field, descending = sort.removeprefix("-"), sort.startswith("-")
    valued = [i for i in items if i[field] is not None]
    empty = [i for i in items if i[field] is None]
    valued.sort(key=lambda i: (i[field], i["id"]), reverse=descending)
    empty.sort(key=lambda i: i["id"], reverse=descending)
    return [i["id"] for i in valued + empty]


def test_each_sort_visits_every_lead_once(api: Api) -> None:
    # Ties everywhere: one bulk call shares created_at, scores and names repeat,
    # some leads have no score or no name.
    first = api.create(
        [
            {
                "full_name": f"Lead {i % 4}" if i % 5 else None,
                "email": f"lead{i}@example.com",
                "lead_score": [None, 10, 20][i % 3],
            }
            for i in range(14)
        ]
    )
    second = api.create([{"full_name": f"Lead {i % 3}", "lead_score": 10} for i in range(5)])
    for lead_id in first[::4]:
        api.write("PATCH", f"/api/v1/leads/{lead_id}", json={"lead_score": 30})
    everyone = set(first) | set(second)
    rows = api.every_page(limit=50)
    assert {i["id"] for i in rows} == everyone
    for sort in SORTS:
        for limit in (1,):
            seen = api.every_page(sort=sort, limit=limit)
            assert [i["id"] for i in seen] == _expected_order(rows, sort), (sort, limit)
    scored = api.every_page(sort="-lead_score", q="example", limit=2)
    expected = [i for i in rows if i["email"]]
    assert [i["id"] for i in scored] == _expected_order(expected, "-lead_score")


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def test_bad_cursor_or_sort_is_422(api: Api) -> None:
    ids = api.create([{"full_name": f"Lead {i}", "lead_score": i} for i in range(3)])
    page = api.get(limit=1, sort="lead_score").json()["data"]
    cursor = page["next_cursor"]
    assert ids[0] not in cursor  # opaque, not the bare id
    assert api.get(limit=1, sort="lead_score", cursor=cursor).status_code == 200
    bad = [
        ("lead_score", ids[0]),  # a bare id, as older cursors were
        ("lead_score", "!!!not base64!!!"),
        ("lead_score", "e30"),  # {}
        ("lead_score", _cursor([1, 2])),
        ("lead_score", _cursor({"s": "lead_score", "v": "ten", "id": ids[0]})),
        ("lead_score", _cursor({"s": "lead_score", "v": 10**40, "id": ids[0]})),
        ("lead_score", _cursor({"s": "lead_score", "v": 1, "id": 7})),
        ("lead_score", _cursor({"s": "lead_score", "v": 1, "id": "\x00"})),
        ("created_at", _cursor({"s": "created_at", "v": None, "id": ids[0]})),
        ("created_at", _cursor({"s": "created_at", "v": "2026-13-45", "id": ids[0]})),
        ("full_name", _cursor({"s": "full_name", "v": "a\x00", "id": ids[0]})),
        ("-lead_score", cursor),  # made for another sort
        ("lead_score", base64.urlsafe_b64encode(b"\xff\xfe{").decode()),  # not UTF-8
    ]
    for sort, bad_cursor in bad:
        response = api.get(sort=sort, cursor=bad_cursor)
        assert response.status_code == 422, (sort, bad_cursor, response.text)
        body = response.json()
        assert body["error"] == "validation_error"
        assert body["details"][0]["field"].endswith("cursor")
    for sort in ("id", "email", "-", "created_at,id"):
        assert api.get(sort=sort).status_code == 422


# --- the indexes are used ---------------------------------------------------------


def _plan(engine: Engine, sql: str) -> str:
    with engine.begin() as connection:
        dialect = engine.dialect.name
        if dialect == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            return "\n".join(str(row[-1]) for row in rows)
        if dialect == "postgresql":
            # A handful of rows, no statistics: leave the planner only bitmap
            # scans (the search's index) or a disabled sequential scan.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            connection.exec_driver_sql("SET LOCAL enable_indexscan = off")
            return "\n".join(r[0] for r in connection.exec_driver_sql(f"EXPLAIN {sql}"))
        rows = connection.exec_driver_sql(f"EXPLAIN {sql}").mappings().all()
        return "\n".join(f"{r['table']} {r['type']} {r['key']}" for r in rows)


def _sql(engine: Engine, **search: Any) -> str:
    """The first page's query, newest first, as GET /leads sends it."""
    with Session(engine) as session:
        query = repository.searched(session, {}, **search)
        ordered = query.order_by(SalesLead.created_at.desc(), SalesLead.id.desc()).limit(51)
        return str(ordered.compile(engine, compile_kwargs={"literal_binds": True}))


def test_q_and_tag_are_answered_by_an_index(db_url: str) -> None:
    """Would fail if the search became LIKE '%x%' or JSON scanning."""
    with LeadDatabase(db_url, actor="test:alice") as leads:
        leads.add_leads(PEOPLE)
        assert {r["full_name"] for r in leads.search_leads({"q": "ada lov"})} == {"Ada Lovelace"}
        assert {r["full_name"] for r in leads.search_leads({"tag": "VIP"})} == {"Grace Hopper"}
    engine = create_db_engine(db_url)
    try:
        q_plan, tag_plan = _plan(engine, _sql(engine, q="ada lov")), None
        dialect = engine.dialect.name
        if dialect != "mysql":
            tag_plan = _plan(engine, _sql(engine, tag="vip"))
    finally:
        engine.dispose()
    if dialect == "sqlite":
        assert "SCAN lead_search VIRTUAL TABLE INDEX 0:M" in q_plan, q_plan
        assert "SCAN lead_search VIRTUAL TABLE INDEX 0:M" in str(tag_plan), tag_plan
    elif dialect == "postgresql":
        assert "Bitmap Index Scan on lead_search_text" in q_plan, q_plan
        assert "Bitmap Index Scan on lead_search_tags" in str(tag_plan), tag_plan
    else:
        assert "sales_leads fulltext lead_search_text" in q_plan, q_plan


def test_sqlite_walks_the_sort_index_for_broad_searches(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search with many matches takes the other plan; the answers are the same."""
    with _api(sqlite_url) as api:
        api.create(PEOPLE)
        api.create([{"full_name": f"Ada Byron {i}", "tags": ["vip"]} for i in range(7)])
        searches: list[dict[str, Any]] = [
            {"q": "ada"},
            {"q": "ada lovelace"},
            {"q": "example"},
            {"tag": "vip"},
            {"tag": "key account", "q": "ada"},
            {"q": "ada", "sort": "full_name"},
            {"tag": "vip", "sort": "-lead_score"},
        ]
        narrow = [[i["id"] for i in api.every_page(limit=2, **s)] for s in searches]
        engine = api.database.engine
        assert "USE TEMP B-TREE FOR ORDER BY" in _plan(engine, _sql(engine, q="ada"))

        monkeypatch.setattr(repository, "SQLITE_BROAD_SEARCH", 1)
        broad_plan = _plan(engine, _sql(engine, q="ada"))
        assert "SCAN sales_leads USING INDEX idx_lead_created_at" in broad_plan, broad_plan
        assert "SCAN lead_search VIRTUAL TABLE INDEX 0:M" in broad_plan, broad_plan
        assert "TEMP B-TREE" not in broad_plan
        broad = [[i["id"] for i in api.every_page(limit=2, **s)] for s in searches]
        assert broad == narrow and all(narrow)


# --- migration 0004 on a database that already holds leads --------------------------


@contextmanager
def _empty_database(kind: str, directory: Path) -> Iterator[str]:
    """A new database of the given kind, not migrated."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'empty.db'}"
        return
    with dbs.server_database(kind) as url:
        yield url


@pytest.fixture(params=dbs.KINDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with _empty_database(request.param, tmp_path) as url:
        yield url


def test_migration_indexes_existing_leads_and_reverses(empty_url: str) -> None:
    engine = create_db_engine(empty_url)
    try:
        schema.upgrade(engine, "0003")
        legacy_rows.insert_rows(engine, "sales_leads", PEOPLE)  # as 0003 held them
        # Upgrade, downgrade, upgrade: the index is built each time, and the
        # downgrade keeps the rows. (One downgrade: on MariaDB each costs ~10 s.)
        for again in (False, True):
            schema.upgrade(engine)
            with LeadDatabase(empty_url, actor="test:alice") as leads:
                found = leads.search_leads({"q": "lefevre"})
                assert [r["full_name"] for r in found] == ["Jean Lefèvre"]
                assert [r["full_name"] for r in leads.search_leads({"tag": "VIP"})] == [
                    "Grace Hopper"
                ]
            if again:
                break
            schema.downgrade(engine, "0003")
            with engine.connect() as connection:
                names = connection.execute(text("SELECT full_name FROM sales_leads")).scalars()
                assert len(list(names)) == len(PEOPLE)
    finally:
        engine.dispose()


def test_restored_backup_is_searchable(db_url: str, tmp_path: Path) -> None:
    """A restore writes rows only: the triggers, generated column and
    FULLTEXT index of 0004 index them as they come in."""
    with LeadDatabase(db_url, actor="test:alice") as leads:
        leads.add_leads(PEOPLE)
    kind = dbs.backend(db_url).replace("mysql", "mariadb")
    file = tmp_path / "leads.backup"
    source = create_db_engine(db_url)
    try:
        backup(source, file)
    finally:
        source.dispose()
    with _empty_database(kind, tmp_path) as target_url:
        target = create_db_engine(target_url)
        try:
            restore(target, file)
        finally:
            target.dispose()
        with LeadDatabase(target_url, actor="test:alice") as restored:
            assert [r["full_name"] for r in restored.search_leads({"q": "ada lov"})] == [
                "Ada Lovelace"
            ]
            assert [r["full_name"] for r in restored.search_leads({"tag": "VIP"})] == [
                "Grace Hopper"
            ]


def test_sqlite_filtered_pages_through_a_window_give_the_same_answers(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filters on SQLite first look at a window of the sort index; with windows too
    small to hold a page the index of the filters answers. Same pages either way."""
    with _api(sqlite_url) as api:
        api.create(
            [
                {
                    "full_name": f"Lead {i % 7}" if i % 6 else None,
                    "email": f"w{i}@example.com",
                    "country": ["US", "FR", "DE"][i % 3],
                    "source": "apify" if i % 4 else "csv_import",
                    "lead_score": [None, 5, 9][i % 3],
                }
                for i in range(60)
            ]
        )
        queries: list[dict[str, Any]] = [
            {"country": "US"},
            {"country": "FR", "source": "apify"},
            {"country": "DE", "source": "csv_import", "sort": "full_name"},
            {"source": "apify", "sort": "-lead_score"},
            {"country": "nowhere"},
        ]

        def pages() -> list[list[str]]:
            return [[i["id"] for i in api.every_page(limit=3, **q)] for q in queries]

        monkeypatch.setattr(repository, "SQLITE_FILTER_WINDOW", 1_000_000)
        whole = pages()  # the window always holds every lead
        monkeypatch.setattr(repository, "SQLITE_FILTER_WINDOW", 1)
        fallback = pages()  # the window never holds a page
        monkeypatch.setattr(repository, "SQLITE_FILTER_WINDOW", 8)
        mixed = pages()
    assert whole == fallback == mixed
    assert all(whole[:-1]) and whole[-1] == []
    assert len(whole[0]) == 20 and len(whole[1]) == 15
