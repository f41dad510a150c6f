"""leadbase.imports.apify.client against the emulator, through the real
apify-client: paging, retries that never skip nor repeat an item, runs,
starting a run, token errors. No test really sleeps on a retry: the backoff
goes to a list."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadbase.imports.apify.client import Apify, ApifyError
from tests.emulators.apify import ApifyEmulator


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def apify(apify_emulator: ApifyEmulator, sleeps: Sleeps) -> Apify:
    return Apify(apify_emulator.token, apify_emulator.url, sleep=sleeps, timeout=5.0)


def _items(count: int) -> list[dict[str, Any]]:
    return [{"id": f"item-{i}", "title": f"Place {i}"} for i in range(count)]


def _ids(pages: list[tuple[int, list[dict[str, Any]]]]) -> list[str]:
    return [item["id"] for _, items in pages for item in items]


def test_pages_through_2500_items(apify_emulator: ApifyEmulator, apify: Apify) -> None:
    dataset = apify_emulator.add_dataset(_items(2500))
    pages = list(apify.items(dataset.id))
    assert [(offset, len(items)) for offset, items in pages] == [
        (0, 1000),
        (1000, 1000),
        (2000, 500),
    ]
    assert _ids(pages) == [f"item-{i}" for i in range(2500)]
    resumed = list(apify.items(dataset.id, offset=1200))
    assert resumed[0][0] == 1200 and _ids(resumed) == [f"item-{i}" for i in range(1200, 2500)]
    assert list(apify.items(dataset.id, offset=2500)) == []


def test_page_positions_are_exact(apify_emulator: ApifyEmulator, sleeps: Sleeps) -> None:
    """Empty items stay (as {}), hidden fields go: item i of a page is dataset item offset+i."""
    dataset = apify_emulator.add_dataset([{"n": 0, "#debug": 1}, {}, {"n": 2}, {"n": 3}])
    small = Apify(apify_emulator.token, apify_emulator.url, page_size=2, sleep=sleeps)
    assert list(small.items(dataset.id)) == [(0, [{"n": 0}, {}]), (2, [{"n": 2}, {"n": 3}])]
    assert apify_emulator.requests_to("/items")[-1].query["offset"] == "4"  # the last, empty page


def test_a_429_storm_waits_as_told_then_backs_off(
    apify_emulator: ApifyEmulator, apify: Apify, sleeps: Sleeps
) -> None:
    dataset = apify_emulator.add_dataset(_items(2500))
    apify_emulator.fail(429, times=4, path="/items", retry_after=2)
    pages = list(apify.items(dataset.id))
    assert _ids(pages) == [f"item-{i}" for i in range(2500)]
    assert sleeps == [2.0, 2.0, 2.0, 2.0]
    sleeps.clear()
    apify_emulator.fail(429, times=3, path="/items")
    assert len(_ids(list(apify.items(dataset.id)))) == 2500
    assert sleeps == [0.5, 1.0, 2.0]  # no Retry-After: exponential backoff


def test_5xx_is_retried_a_bounded_number_of_times(
    apify_emulator: ApifyEmulator, sleeps: Sleeps
) -> None:
    dataset = apify_emulator.add_dataset(_items(10))
    apify = Apify(apify_emulator.token, apify_emulator.url, max_attempts=3, sleep=sleeps)
    apify_emulator.fail(503, times=2, path="/items")
    assert len(_ids(list(apify.items(dataset.id)))) == 10
    apify_emulator.fail(500, times=3, path="/items")
    with pytest.raises(ApifyError, match="gave up after 3 attempts") as failed:
        list(apify.items(dataset.id))
    assert failed.value.status == 500
    apify_emulator.fail(429, times=3, path="/datasets/")
    with pytest.raises(ApifyError, match="429"):
        apify.dataset(dataset.id)


def test_a_connection_dropped_mid_page_loses_and_doubles_nothing(
    apify_emulator: ApifyEmulator, apify: Apify, sleeps: Sleeps
) -> None:
    dataset = apify_emulator.add_dataset(_items(2500))
    pages = apify.items(dataset.id)
    first = next(pages)
    apify_emulator.drop(path="/items")  # the second page is cut halfway through its body
    apify_emulator.drop(path="/items", after_bytes=0)  # and its retry right after the headers
    apify_emulator.drop(path="/items", before_headers=True)  # and the next before a byte
    rest = list(pages)
    ids = _ids([first, *rest])
    assert ids == [f"item-{i}" for i in range(2500)] and len(set(ids)) == 2500
    offsets = [r.query["offset"] for r in apify_emulator.requests_to("/items")]
    assert offsets == ["0", "1000", "1000", "1000", "1000", "2000"]
    assert len(sleeps) == 3


def test_a_slow_page_past_the_timeout_is_fetched_again(
    apify_emulator: ApifyEmulator, sleeps: Sleeps
) -> None:
    dataset = apify_emulator.add_dataset(_items(30))
    apify = Apify(apify_emulator.token, apify_emulator.url, page_size=10, timeout=0.2, sleep=sleeps)
    apify_emulator.slow(0.05, path="/items")  # slow but in time
    apify_emulator.slow(0.6, path="/items")  # past the timeout
    assert _ids(list(apify.items(dataset.id))) == [f"item-{i}" for i in range(30)]
    assert len(sleeps) == 1


def test_run_info(apify_emulator: ApifyEmulator, apify: Apify) -> None:
    actor = apify_emulator.add_actor("compass/crawler-google-places")
    run = apify_emulator.add_run(
        actor, items=_items(7), input={"searchStringsArray": ["bakery"]}, compute_units=0.25
    )
    info = apify.run(run.id)
    assert info.run_id == run.id and info.actor_id == actor.id
    assert info.actor_name == "compass/crawler-google-places"
    assert info.status == "SUCCEEDED" and info.dataset_id == run.dataset.id
    assert info.item_count == 7 and info.input == {"searchStringsArray": ["bakery"]}
    assert info.compute_units == Decimal("0.25") and info.cost_usd == Decimal("0.0049")
    assert info.started_at == run.started_at.replace(
        microsecond=run.started_at.microsecond // 1000 * 1000
    )
    assert info.finished_at is not None and info.finished_at > info.started_at
    bare = apify_emulator.add_run(actor, input=None, compute_units=None, usage_usd=None)
    assert apify.run(bare.id).input is None and apify.run(bare.id).compute_units is None
    with pytest.raises(ApifyError, match="not found") as missing:
        apify.run("noSuchRun")
    assert missing.value.status == 404


def test_dataset(apify_emulator: ApifyEmulator, apify: Apify) -> None:
    dataset = apify_emulator.add_dataset(_items(3), name="my-leads")
    assert apify.dataset(dataset.id) == (3, "my-leads")
    assert apify.dataset("my-leads") == (3, "my-leads")
    with pytest.raises(ApifyError, match="not found"):
        apify.dataset("nope")


def test_runs_since(apify_emulator: ApifyEmulator, apify: Apify) -> None:
    actor = apify_emulator.add_actor("code_crafter/leads-finder")
    other = apify_emulator.add_actor("someone/else")
    now = datetime.now(UTC)

    def ran(hours_ago: float, took_hours: float = 0.1, **options: Any) -> str:
        start = now - timedelta(hours=hours_ago)
        run = apify_emulator.add_run(
            actor, started_at=start, finished_at=start + timedelta(hours=took_hours), **options
        )
        return run.id

    very_old = ran(24 * 10)
    before = ran(30)
    long_one = ran(30, took_hours=29.5)  # started before `since`, finished after it
    failed = ran(10, status="FAILED")
    newer, newest = ran(5), ran(1)
    running = apify_emulator.add_run(actor, status="RUNNING", started_at=now)
    apify_emulator.add_run(other, started_at=now)
    since = now - timedelta(hours=24)
    found = apify.runs_since("code_crafter/leads-finder", since)
    assert [r.run_id for r in found] == [newer, newest, long_one]  # in the order they finished
    assert all(
        r.status == "SUCCEEDED" and r.actor_name == "code_crafter/leads-finder" for r in found
    )
    everything = apify.runs_since(actor.id, None)
    assert [r.run_id for r in everything] == [very_old, before, newer, newest, long_one]
    assert not {failed, running.id} & {r.run_id for r in everything}
    naive = since.replace(tzinfo=None)
    assert [r.run_id for r in apify.runs_since(actor.id, naive)] == [newer, newest, long_one]
    assert apify.runs_since(actor.id, now) == []


def test_runs_since_pages_the_listing(apify_emulator: ApifyEmulator, apify: Apify) -> None:
    actor = apify_emulator.add_actor("me/busy")
    now = datetime.now(UTC)
    made = [
        apify_emulator.add_run(actor, started_at=now - timedelta(minutes=300 - i)).id
        for i in range(130)
    ]
    assert [r.run_id for r in apify.runs_since(actor.id, None)] == made
    listings = [r for r in apify_emulator.requests_to("/runs") if r.method == "GET"]
    assert [r.query["offset"] for r in listings] == ["0", "100"]


def test_start_run_and_wait(apify_emulator: ApifyEmulator, apify: Apify) -> None:
    apify_emulator.add_actor("compass/crawler-google-places", items=_items(3), run_seconds=0.2)
    waited = apify.start_run("compass/crawler-google-places", {"max": 3}, wait=True)
    assert waited.status == "SUCCEEDED" and waited.item_count == 3
    assert waited.input == {"max": 3} and waited.finished_at is not None
    assert _ids(list(apify.items(waited.dataset_id or ""))) == [f"item-{i}" for i in range(3)]
    started = apify.start_run("compass/crawler-google-places", None, wait=False)
    assert started.status in ("READY", "RUNNING") and started.finished_at is None


def test_start_run_waits_for_a_run_finished_later(
    apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    apify_emulator.add_actor("me/manual", run_seconds=None, final_status="FAILED")

    def finish_when_started() -> None:
        for _ in range(200):
            if apify_emulator.runs:
                apify_emulator.finish_run(next(iter(apify_emulator.runs)), status="FAILED")
                return
            threading.Event().wait(0.01)

    finisher = threading.Thread(target=finish_when_started)
    finisher.start()
    info = apify.start_run("me/manual", {}, wait=True)
    finisher.join()
    assert info.status == "FAILED"  # a final status all the same: the caller decides


def test_start_run_is_not_retried_on_5xx_but_is_on_429(
    apify_emulator: ApifyEmulator, apify: Apify, sleeps: Sleeps
) -> None:
    apify_emulator.add_actor("me/costly")
    apify_emulator.fail(502, path="/runs", method="POST")
    with pytest.raises(ApifyError, match="502"):
        apify.start_run("me/costly", {}, wait=False)
    assert len(apify_emulator.requests_to("/runs", "POST")) == 1
    apify_emulator.drop(path="/runs", method="POST")
    with pytest.raises(Exception, match="rotocol"):
        apify.start_run("me/costly", {}, wait=False)
    apify_emulator.fail(429, times=2, path="/runs", method="POST", retry_after=1)
    assert apify.start_run("me/costly", {}, wait=False).status == "READY"
    assert sleeps == [1.0, 1.0]
    with pytest.raises(ApifyError, match="not found") as missing:
        apify.start_run("me/nothing", {}, wait=False)
    assert missing.value.status == 404


def test_token_errors_say_what_to_fix(apify_emulator: ApifyEmulator, sleeps: Sleeps) -> None:
    dataset = apify_emulator.add_dataset(_items(3))
    wrong = Apify("not-the-token", apify_emulator.url, sleep=sleeps)
    with pytest.raises(ApifyError, match=r"refused the token.*LEADBASE_APIFY_TOKEN") as refused:
        list(wrong.items(dataset.id))
    assert refused.value.status == 401 and refused.value.type == "user-or-token-not-found"
    with pytest.raises(ApifyError, match="no Apify token; set LEADBASE_APIFY_TOKEN"):
        Apify(None, apify_emulator.url, sleep=sleeps).dataset(dataset.id)
    run = apify_emulator.add_run(apify_emulator.add_actor("me/x"))
    with pytest.raises(ApifyError, match="refused the token"):
        wrong.run(run.id)
    assert sleeps == []  # a refused token is not retried


def test_from_settings(apify_emulator: ApifyEmulator) -> None:
    dataset = apify_emulator.add_dataset(_items(2), name="from-env")
    assert Apify.from_settings().dataset(dataset.id) == (2, "from-env")
    with pytest.raises(ValueError):
        Apify("t", None, page_size=0)
