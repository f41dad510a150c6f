"""The duplicates API over HTTP, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase import audit
from leadbase.db import Database
from leadbase.dedupe import repository as dedupe_repository
from tests.api_clients import api_settings, signed_in

Auth = dict[str, dict[str, str]]


@pytest.fixture
def api(db_url: str) -> Iterator[tuple[TestClient, Auth, Database]]:
    # these tests are about duplicates, not limits
    database = Database(db_url, api_settings(db_url, mutation_rate_limit="10000/second"))
    users = {"ed@example.com": "editor", "vi@example.com": "viewer"}
    client, by_email = signed_in(database, users, client=("192.0.2.10", 4000))
    yield client, {role: by_email[email] for email, role in users.items()}, database
    database.dispose()


def _create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/leads?on_duplicate=allow", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _clusters(database: Database, *found: tuple[list[str], float, str]) -> list[str]:
    rows = [
        {"lead_ids": ids, "score": score, "reasons": ["same phone"], "action": action}
        for ids, score, action in found
    ]
    with database.unit_of_work() as uow:
        dedupe_repository.upsert_clusters(uow.session, rows, origin="scan")
        prints = [dedupe_repository.fingerprint(ids) for ids, _, _ in found]
        stored = dedupe_repository.clusters_by_fingerprint(uow.session, prints)
        return [stored[p].id for p in prints]


def test_merge_get_and_unmerge_over_http(api: tuple[TestClient, Auth, Database]) -> None:
    client, auth, database = api
    ed, viewer = auth["editor"], auth["viewer"]
    a = _create(client, ed, full_name="Ada Lovelace", email="ada@example.com")
    b = _create(
        client, ed, full_name="Ada King", email="ada@king.example", title="Countess", tags=["x"]
    )
    [cluster_id] = _clusters(database, ([a["id"], b["id"]], 0.97, "merge"))

    assert client.post("/api/v1/leads/merge", json={}, headers=viewer).status_code == 403
    merged = client.post(
        "/api/v1/leads/merge",
        json={
            "survivor_id": a["id"],
            "merged_ids": [b["id"]],
            "choices": {"full_name": b["id"]},
            "cluster_id": cluster_id,
            "versions": {a["id"]: 1, b["id"]: 1},
        },
        headers=ed,
    )
    assert merged.status_code == 200, merged.text
    data = merged.json()["data"]
    survivor, gone = data["leads"]
    assert survivor["id"] == a["id"] and survivor["full_name"] == "Ada King"
    assert survivor["title"] == "Countess" and survivor["additional_emails"] == ["ada@king.example"]
    assert gone["merged_into_id"] == a["id"]
    assert data["merge"]["kept"]["full_name"] == [{"lead_id": a["id"], "value": "Ada Lovelace"}]
    assert data["merge"]["survivor_version"] == survivor["version"] == 2

    # GET on the merged lead: its own row, and a link to where its data went
    got = client.get(f"/api/v1/leads/{b['id']}", headers=viewer)
    assert got.status_code == 200 and got.json()["data"]["merged_into_id"] == a["id"]
    assert got.headers["Link"] == f'</api/v1/leads/{a["id"]}>; rel="canonical"'
    assert "Link" not in client.get(f"/api/v1/leads/{a['id']}", headers=viewer).headers

    history = client.get(f"/api/v1/leads/{b['id']}/merges", headers=viewer).json()["data"]
    assert [(m["survivor_id"], m["undone_at"]) for m in history] == [(a["id"], None)]
    cluster = client.get(f"/api/v1/duplicates/{cluster_id}", headers=viewer).json()["data"]
    assert cluster["status"] == "merged"

    undone = client.post(f"/api/v1/leads/{b['id']}/unmerge", headers=ed)
    assert undone.status_code == 200, undone.text
    restored = {lead["id"]: lead for lead in undone.json()["data"]["leads"]}
    assert restored[a["id"]]["full_name"] == "Ada Lovelace"
    assert restored[a["id"]]["version"] == 1 and restored[b["id"]]["merged_into_id"] is None
    assert undone.json()["data"]["merge"]["undone_at"] is not None
    again = client.post(f"/api/v1/leads/{b['id']}/unmerge", headers=ed)
    assert again.status_code == 409 and again.json()["error"] == "conflict"

    audit_actions = [
        e["action"]
        for e in client.get(f"/api/v1/leads/{a['id']}/history", headers=viewer).json()["data"][
            "audit"
        ]
    ]
    assert audit_actions == ["create", "merge", "unmerge"]
    with database.read_session() as session:
        assert audit.verify(session).ok


def test_duplicates_list_pages_filters_and_dismisses(
    api: tuple[TestClient, Auth, Database],
) -> None:
    client, auth, database = api
    ed, viewer = auth["editor"], auth["viewer"]
    ids = [_create(client, ed, full_name=f"Person {i}")["id"] for i in range(4)]
    best, middle, low = _clusters(
        database,
        ([ids[0], ids[1]], 0.99, "merge"),
        ([ids[1], ids[2]], 0.9, "review"),
        ([ids[2], ids[3]], 0.8, "review"),
    )
    first = client.get("/api/v1/duplicates?limit=2", headers=viewer)
    assert first.status_code == 200
    page = first.json()["data"]
    assert [c["id"] for c in page["items"]] == [best, middle]
    assert set(page["items"][0]) >= {"id", "lead_ids", "score", "reasons", "action", "status"}
    second = client.get(
        f"/api/v1/duplicates?limit=2&cursor={page['next_cursor']}", headers=viewer
    ).json()["data"]
    assert [c["id"] for c in second["items"]] == [low] and second["next_cursor"] is None
    reviews = client.get("/api/v1/duplicates?action=review", headers=viewer).json()["data"]
    assert [c["id"] for c in reviews["items"]] == [middle, low]

    mine = client.get(f"/api/v1/leads/{ids[1]}/duplicates", headers=viewer).json()["data"]
    assert [c["id"] for c in mine] == [best, middle]

    assert client.post(f"/api/v1/duplicates/{middle}/dismiss", headers=viewer).status_code == 403
    dismissed = client.post(f"/api/v1/duplicates/{middle}/dismiss", headers=ed)
    assert dismissed.status_code == 200 and dismissed.json()["data"]["status"] == "dismissed"
    assert client.post(f"/api/v1/duplicates/{middle}/dismiss", headers=ed).status_code == 200
    open_now = client.get("/api/v1/duplicates", headers=viewer).json()["data"]["items"]
    assert [c["id"] for c in open_now] == [best, low]
    gone = client.get("/api/v1/duplicates?status=dismissed", headers=viewer).json()["data"]
    assert [c["id"] for c in gone["items"]] == [middle]
    every = client.get("/api/v1/duplicates?status=all", headers=viewer).json()["data"]
    assert len(every["items"]) == 3
    # a later scan finding the same leads leaves it dismissed
    _clusters(database, ([ids[2], ids[1]], 0.99, "merge"))
    again = client.get(f"/api/v1/duplicates/{middle}", headers=viewer).json()["data"]
    assert (again["status"], again["score"]) == ("dismissed", 0.9)


# Each refused body with the field its 422 names; all against one pair of leads,
# which no refusal may change.
BAD_MERGE_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"merged_ids": ["x"]}, "survivor_id"),
    ({"survivor_id": "A", "merged_ids": []}, "merged_ids"),
    ({"survivor_id": "A", "merged_ids": ["A"]}, "merged_ids"),
    ({"survivor_id": "A", "merged_ids": ["B"], "choices": {"nope": "B"}}, "choices.nope"),
    ({"survivor_id": "A", "merged_ids": ["B"], "choices": {"title": "C"}}, "choices.title"),
    ({"survivor_id": "A", "merged_ids": ["bad id!"]}, "merged_ids.0"),
    ({"survivor_id": "A", "merged_ids": ["B"], "extra": 1}, "extra"),
    ({"survivor_id": "A", "merged_ids": ["B"], "versions": {"C": 1}}, "versions.C"),
]


def test_bad_merge_input_is_a_422_naming_the_field(
    api: tuple[TestClient, Auth, Database],
) -> None:
    client, auth, _ = api
    ed = auth["editor"]
    a = _create(client, ed, full_name="Ada", email="a@example.com")
    b = _create(client, ed, full_name="Bea", email="b@example.com")
    real = {"A": a["id"], "B": b["id"]}

    def swap(value: Any) -> Any:
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {real.get(k, k): swap(v) for k, v in value.items()}
        return real.get(value, value) if isinstance(value, str) else value

    for body, field in BAD_MERGE_BODIES:
        response = client.post("/api/v1/leads/merge", json=swap(body), headers=ed)
        assert response.status_code == 422, (body, response.text)
        error = response.json()
        assert error["success"] is False and error["error"] == "validation_error", body
        assert error["details"][0]["field"] == field, (body, error)
        # nothing changed
        for lead in (a, b):
            now = client.get(f"/api/v1/leads/{lead['id']}", headers=ed).json()["data"]
            assert now["version"] == 1 and now["merged_into_id"] is None, (body, now)


def test_unknown_ids_are_404_and_conflicts_409(api: tuple[TestClient, Auth, Database]) -> None:
    client, auth, _ = api
    ed = auth["editor"]
    a = _create(client, ed, full_name="Ada", email="a@example.com")
    b = _create(client, ed, full_name="Bea", email="b@example.com")
    c = _create(client, ed, full_name="Cy", email="c@example.com")
    missing = "01a00000-0000-7000-8000-000000000000"
    for method, path, body in [
        ("post", "/api/v1/leads/merge", {"survivor_id": a["id"], "merged_ids": [missing]}),
        ("post", "/api/v1/leads/merge", {"survivor_id": missing, "merged_ids": [a["id"]]}),
        ("post", f"/api/v1/leads/{missing}/unmerge", None),
        ("post", f"/api/v1/duplicates/{missing}/dismiss", None),
        ("get", f"/api/v1/duplicates/{missing}", None),
        ("get", f"/api/v1/leads/{missing}/duplicates", None),
        ("get", f"/api/v1/leads/{missing}/merges", None),
        ("post", "/api/v1/companies/merge", {"survivor_id": missing, "merged_ids": [a["id"]]}),
        ("post", f"/api/v1/companies/{missing}/unmerge", None),
        (
            "post",
            "/api/v1/leads/merge",
            {"survivor_id": a["id"], "merged_ids": [b["id"]], "cluster_id": missing},
        ),
    ]:
        response = client.request(method, path, json=body, headers=ed)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "not_found"
    assert client.get("/api/v1/duplicates?cursor=not%20an%20id", headers=ed).status_code == 422
    assert client.get("/api/v1/duplicates?status=closed", headers=ed).status_code == 422

    ok = client.post(
        "/api/v1/leads/merge", json={"survivor_id": a["id"], "merged_ids": [b["id"]]}, headers=ed
    )
    assert ok.status_code == 200
    twice = client.post(
        "/api/v1/leads/merge", json={"survivor_id": c["id"], "merged_ids": [b["id"]]}, headers=ed
    )
    assert twice.status_code == 409 and "already merged" in twice.json()["message"]
    stale = client.post(
        "/api/v1/leads/merge",
        json={"survivor_id": a["id"], "merged_ids": [c["id"]], "versions": {a["id"]: 1}},
        headers=ed,
    )
    assert stale.status_code == 409
    never = client.post(f"/api/v1/leads/{c['id']}/unmerge", headers=ed)
    assert never.status_code == 409
    client.patch(f"/api/v1/leads/{a['id']}", json={"city": "Paris"}, headers=ed)
    changed = client.post(f"/api/v1/leads/{b['id']}/unmerge", headers=ed)
    assert changed.status_code == 409 and "changed after merge" in changed.json()["message"]


def test_merge_is_idempotent_with_a_key(api: tuple[TestClient, Auth, Database]) -> None:
    client, auth, _ = api
    ed = auth["editor"]
    a = _create(client, ed, full_name="Ada", email="a@example.com")
    b = _create(client, ed, full_name="Bea", email="b@example.com")
    body = {"survivor_id": a["id"], "merged_ids": [b["id"]]}
    headers = {**ed, "Idempotency-Key": "merge-1"}
    first = client.post("/api/v1/leads/merge", json=body, headers=headers)
    replay = client.post("/api/v1/leads/merge", json=body, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
