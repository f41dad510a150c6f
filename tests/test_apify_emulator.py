"""The Apify emulator honours the wire contract: checked with the real
apify-client (its pydantic models validate what the emulator answers) and
with raw HTTP where the client would hide the detail."""

from __future__ import annotations

import gzip
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from apify_client import ApifyClient
from apify_client._models import ActorResource, DatasetResource, Run, RunListItem
from apify_client.errors import NotFoundError, RateLimitError, ServerError, UnauthorizedError

from tests.emulators.apify import ApifyEmulator


@pytest.fixture
def client(apify_emulator: ApifyEmulator) -> ApifyClient:
    return ApifyClient(apify_emulator.token, api_url=apify_emulator.url, max_retries=0)


def _get(emulator: ApifyEmulator, path: str, **params: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {emulator.token}"}
    return httpx.get(f"{emulator.url}/v2/{path}", params=params, headers=headers)  # type: ignore[arg-type]


def test_run_lifecycle_validates_as_the_client_models(
    apify_emulator: ApifyEmulator, client: ApifyClient
) -> None:
    apify_emulator.add_actor(
        "compass/crawler-google-places", items=[{"title": "A"}], run_seconds=0.5
    )
    actor = client.actor("compass/crawler-google-places")
    started = actor.start(run_input={"searchStringsArray": ["bakery"]})
    assert started.status == "READY"
    raw = _get(apify_emulator, f"actor-runs/{started.id}").json()["data"]
    Run.model_validate(raw)
    assert raw["status"] == "RUNNING"
    for key in ("meta", "stats", "options", "buildId", "defaultDatasetId", "generalAccess"):
        assert key in raw
    finished = client.run(started.id).wait_for_finish()
    assert finished is not None and finished.status == "SUCCEEDED"
    assert finished.finished_at is not None and finished.finished_at.tzinfo is not None
    assert finished.stats.compute_units is not None and finished.usage_total_usd is not None
    dataset = client.dataset(finished.default_dataset_id).get()
    assert isinstance(dataset, DatasetResource) and dataset.item_count == 1
    record = client.key_value_store(finished.default_key_value_store_id).get_record("INPUT")
    assert record is not None and record["value"] == {"searchStringsArray": ["bakery"]}
    listed = actor.runs().list(status="SUCCEEDED")
    assert [r.id for r in listed.items] == [started.id]
    RunListItem.model_validate(_get(apify_emulator, "actor-runs").json()["data"]["items"][0])
    assert actor.last_run(status="SUCCEEDED").get() is not None


def test_both_actor_path_styles_and_tilde_names(
    apify_emulator: ApifyEmulator, client: ApifyClient
) -> None:
    made = apify_emulator.add_actor("code_crafter/leads-finder")
    for path in ("acts", "actors"):
        for ref in (made.id, "code_crafter~leads-finder", "code_crafter%2Fleads-finder"):
            body = _get(apify_emulator, f"{path}/{ref}").json()["data"]
            assert body["id"] == made.id
            ActorResource.model_validate(body)
    headers = {"Authorization": f"Bearer {apify_emulator.token}"}
    answer = httpx.post(
        f"{apify_emulator.url}/v2/acts/code_crafter~leads-finder/runs", json={}, headers=headers
    )
    assert answer.status_code == 201
    Run.model_validate(answer.json()["data"])
    actor = client.actor("code_crafter/leads-finder").get()
    assert actor is not None and actor.username == "code_crafter"


def test_wait_for_finish_long_polls_and_finish_run(apify_emulator: ApifyEmulator) -> None:
    apify_emulator.add_actor("me/slow", run_seconds=None)
    headers = {"Authorization": f"Bearer {apify_emulator.token}"}
    start = httpx.post(
        f"{apify_emulator.url}/v2/actors/me~slow/runs",
        params={"waitForFinish": "0.1"},
        json={"a": 1},
        headers=headers,
    )
    run = start.json()["data"]
    assert run["status"] == "RUNNING"  # waited, not finished
    threading.Timer(0.1, apify_emulator.finish_run, (run["id"],), {"items": [{"x": 1}]}).start()
    began = time.monotonic()
    polled = _get(apify_emulator, f"actor-runs/{run['id']}", waitForFinish=5).json()["data"]
    assert polled["status"] == "SUCCEEDED" and time.monotonic() - began < 3
    abort = apify_emulator.add_run(apify_emulator.add_actor("me/other"), status="RUNNING")
    httpx.post(f"{apify_emulator.url}/v2/actor-runs/{abort.id}/abort", headers=headers)
    assert apify_emulator.runs[abort.id].status == "ABORTED"


def test_dataset_items_pagination_headers_and_options(apify_emulator: ApifyEmulator) -> None:
    items = [{"n": i, "#debug": "x"} for i in range(10)] + [{}, {"#only": "hidden"}, {"n": 12}]
    dataset = apify_emulator.add_dataset(items)
    answer = _get(apify_emulator, f"datasets/{dataset.id}/items", offset=2, limit=3)
    assert [i["n"] for i in answer.json()] == [2, 3, 4]
    pagination = {k: answer.headers[f"x-apify-pagination-{k}"] for k in ("total", "offset")}
    assert pagination == {"total": "13", "offset": "2"}
    assert answer.headers["x-apify-pagination-limit"] == "3"
    assert answer.headers["x-apify-pagination-count"] == "3"
    assert answer.headers["x-apify-pagination-desc"] == "false"
    desc = _get(apify_emulator, f"datasets/{dataset.id}/items", desc=1, limit=2).json()
    assert desc == [{"n": 12}, {"#only": "hidden"}]
    clean = _get(apify_emulator, f"datasets/{dataset.id}/items", offset=8, clean="true")
    assert clean.json() == [{"n": 8}, {"n": 9}, {"n": 12}]
    assert clean.headers["x-apify-pagination-count"] == "5"  # rows scanned, not returned
    picked = _get(apify_emulator, f"datasets/{dataset.id}/items", limit=1, fields="n").json()
    assert picked == [{"n": 0}]
    omitted = _get(apify_emulator, f"datasets/{dataset.id}/items", limit=1, omit="n").json()
    assert omitted == [{"#debug": "x"}]
    no_limit = _get(apify_emulator, f"datasets/{dataset.id}/items")
    assert len(no_limit.json()) == 13
    assert int(no_limit.headers["x-apify-pagination-limit"]) > 10**9


def test_client_pages_with_the_headers(apify_emulator: ApifyEmulator, client: ApifyClient) -> None:
    dataset = apify_emulator.add_dataset([{"n": i} for i in range(2500)], name="leads")
    page = client.dataset(dataset.id).list_items(offset=2000, limit=1000)
    assert (page.total, page.offset, page.count, page.limit, page.desc) == (
        2500,
        2000,
        500,
        1000,
        False,
    )
    assert [i["n"] for i in client.dataset("leads").iterate_items()] == list(range(2500))


def test_gzip_request_bodies_are_read_and_responses_gzipped(
    apify_emulator: ApifyEmulator, client: ApifyClient
) -> None:
    apify_emulator.add_actor("me/input")
    big_input = {"queries": [f"bakery {i}" for i in range(300)]}
    run = client.actor("me/input").start(run_input=big_input)
    post = apify_emulator.requests_to("/runs", "POST")[-1]
    assert post.content_encoding == "gzip"  # the client compresses bodies over 1 KB
    assert json.loads(post.body) == big_input
    assert apify_emulator.runs[run.id].input == big_input
    dataset = apify_emulator.add_dataset([{"n": i, "text": "x" * 50} for i in range(100)])
    headers = {"Authorization": f"Bearer {apify_emulator.token}", "Accept-Encoding": "gzip"}
    with httpx.stream(
        "GET", f"{apify_emulator.url}/v2/datasets/{dataset.id}/items", headers=headers
    ) as answer:
        raw = b"".join(answer.iter_raw())
    assert answer.headers["content-encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(raw))) == 100
    bad = httpx.post(
        f"{apify_emulator.url}/v2/datasets/{dataset.id}/items",
        content=b"not gzip",
        headers={**headers, "Content-Encoding": "gzip"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid-payload"


def test_error_shapes_and_token_check(apify_emulator: ApifyEmulator, client: ApifyClient) -> None:
    missing = _get(apify_emulator, "actor-runs/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"type": "record-not-found", "message": "Actor run was not found"}
    }
    assert client.run("nope").get() is None
    with pytest.raises(NotFoundError):
        client.actor("me/none").start()
    no_token = httpx.get(f"{apify_emulator.url}/v2/actor-runs/x")
    assert no_token.status_code == 401
    assert no_token.json()["error"]["type"] == "token-not-provided"
    with pytest.raises(UnauthorizedError) as refused:
        ApifyClient("wrong", api_url=apify_emulator.url, max_retries=0).run("x").get()
    assert refused.value.type == "user-or-token-not-found"
    by_query = httpx.get(
        f"{apify_emulator.url}/v2/actor-runs/x", params={"token": apify_emulator.token}
    )
    assert by_query.status_code == 404


def test_faults_status_slow_and_drop(apify_emulator: ApifyEmulator, client: ApifyClient) -> None:
    dataset = apify_emulator.add_dataset([{"n": i} for i in range(50)])
    items = client.dataset(dataset.id)
    apify_emulator.fail(429, times=2, path="/items", retry_after=7)
    answer = _get(apify_emulator, f"datasets/{dataset.id}/items")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
    assert answer.json()["error"]["type"] == "rate-limit-exceeded"
    with pytest.raises(RateLimitError):
        items.list_items()
    assert len(items.list_items().items) == 50  # the storm was two requests long
    apify_emulator.fail(503, path="/items")
    with pytest.raises(ServerError):
        items.list_items()
    apify_emulator.drop(path="/items")
    with pytest.raises(Exception, match="rotocol"):
        items.list_items()
    apify_emulator.drop(path="/items", before_headers=True)
    with pytest.raises(Exception, match="rotocol"):
        items.list_items()
    apify_emulator.slow(0.3, path="/items")
    impatient = ApifyClient(
        apify_emulator.token,
        api_url=apify_emulator.url,
        max_retries=0,
        timeout_long=timedelta(seconds=0.1),
    )
    with pytest.raises(Exception, match="imeout"):
        impatient.dataset(dataset.id).list_items()
    fault = apify_emulator.fail(500, times=5, path="/datasets/other")
    assert len(items.list_items().items) == 50 and fault.hits == 0
    apify_emulator.clear_faults()
    assert apify_emulator.faults == []


def test_run_listing_filters(apify_emulator: ApifyEmulator, client: ApifyClient) -> None:
    actor = apify_emulator.add_actor("compass/crawler-google-places")
    now = datetime.now(UTC)
    old = apify_emulator.add_run(actor, started_at=now - timedelta(days=2))
    failed = apify_emulator.add_run(actor, started_at=now - timedelta(hours=5), status="FAILED")
    new = apify_emulator.add_run(actor, started_at=now - timedelta(hours=1))
    runs = client.actor(actor.id).runs()
    assert [r.id for r in runs.list().items] == [old.id, failed.id, new.id]
    assert [r.id for r in runs.list(desc=True, status="SUCCEEDED").items] == [new.id, old.id]
    recent = runs.list(started_after=now - timedelta(hours=6))
    assert [r.id for r in recent.items] == [failed.id, new.id] and recent.total == 2
    paged = runs.list(limit=1, offset=1)
    assert [r.id for r in paged.items] == [failed.id] and paged.total == 3
