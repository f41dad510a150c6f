"""Apify runs and datasets into the database (leadbase.imports.apify.service),
through the real apify-client against the emulator: import and re-import,
a leads-finder dataset, a 429 storm and a dropped connection mid-dataset, a
crash mid-sync then resume from the offset, watch picking up only new runs.
The ones that matter most run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from leadbase import context
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.errors import ConflictError, NotFoundError
from leadbase.imports.apify import service
from leadbase.imports.apify.client import Apify
from leadbase.models import ApifySyncState, AuditLog, LeadSource, SalesLead
from tests import dbs
from tests.emulators.apify import ApifyEmulator
from tests.helpers import unique_word

ACTOR = "compass/crawler-google-places"
CITIES = (
    ("New York", "New York", "10001", "+1212"),
    ("Chicago", "Illinois", "60601", "+1312"),
    ("Austin", "Texas", "73301", "+1512"),
    ("Seattle", "Washington", "98101", "+1206"),
)


def place(i: int) -> dict[str, Any]:
    """A Google Maps scraper item (compass/crawler-google-places), one place each."""
    city, state, postcode, prefix = CITIES[i % len(CITIES)]
    name = f"{unique_word(i + 11)} {unique_word(i * 7 + 5)} Bakery"
    domain = f"{unique_word(i + 11).lower()}{i}.example.com"
    return {
        "title": name,
        "categoryName": "Bakery",
        "address": f"{i + 1} Main St, {city}, {state} {postcode}, United States",
        "street": f"{i + 1} Main St",
        "city": city,
        "state": state,
        "postalCode": postcode,
        "countryCode": "US",
        "phone": f"({prefix[2:]}) 4{i // 1000 % 10}{i // 100 % 10}-{i % 100:02d}{i % 7}{i % 3}",
        "phoneUnformatted": f"{prefix}4{i // 1000 % 10}{i // 100 % 10}{i % 100:02d}{i % 7}{i % 3}",
        "website": f"https://www.{domain}/",
        "emails": [f"hello@{domain}"],
        "placeId": f"ChIJ{i:08d}placeIdAbCdEf",
        "url": f"https://www.google.com/maps/place/?q=place_id:ChIJ{i:08d}placeIdAbCdEf",
        "location": {"lat": 40.0 + i / 10_000, "lng": -73.0 - i / 10_000},
        "totalScore": 4.5,
        "reviewsCount": i % 300,
        "#debug": {"requestId": f"req-{i}"},
    }


def person(i: int) -> dict[str, Any]:
    """A leads finder item (code_crafter/leads-finder)."""
    first, last = unique_word(i + 3), unique_word(i * 5 + 9)
    return {
        "first_name": first,
        "last_name": last,
        "full_name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}@company{i % 17}.io",
        "linkedin": f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{i}",
        "job_title": "Head of Growth",
        "headline": "Head of Growth | B2B SaaS",
        "city": "Madrid",
        "state": "Community of Madrid",
        "country": "Spain",
        "company_name": f"Company {i % 17}",
        "company_domain": f"company{i % 17}.io",
        "company_website": f"https://company{i % 17}.io",
        "industry": "Computer Software",
        "company_size": "51-200",
    }


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def database(env_db_url: str) -> Iterator[Database]:
    db = Database(env_db_url)
    with context.acting_as("test:apify"):
        yield db
    db.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    db = Database(sqlite_url)
    with context.acting_as("test:apify"):
        yield db
    db.dispose()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def apify(apify_emulator: ApifyEmulator, sleeps: Sleeps) -> Apify:
    return Apify(apify_emulator.token, apify_emulator.url, sleep=sleeps, timeout=5.0)


def counts(database: Database) -> dict[str, int]:
    with database.read_session() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (SalesLead, LeadSource, AuditLog)
        }


def state_of(database: Database, run_id: str) -> ApifySyncState:
    with database.read_session() as session:
        found = session.scalars(select(ApifySyncState).where(ApifySyncState.run_id == run_id)).one()
        session.expunge(found)
        return found


def external_ids(database: Database) -> list[str]:
    with database.read_session() as session:
        return list(
            session.scalars(select(SalesLead.external_id).where(SalesLead.is_deleted.is_(False)))
        )


def offsets_asked(emulator: ApifyEmulator, dataset_id: str) -> list[int]:
    return [
        int(r.query.get("offset", 0)) for r in emulator.requests_to(f"/datasets/{dataset_id}/items")
    ]


# --- import and re-import --------------------------------------------------------------


def test_import_and_reimport_a_2500_item_run(
    database: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    actor = apify_emulator.add_actor(ACTOR)
    scrape = {"searchStringsArray": ["bakery"], "maxCrawledPlacesPerSearch": 2500}
    run = apify_emulator.add_run(actor, items=[place(i) for i in range(2500)], input=scrape)
    seen: list[tuple[int, int | None]] = []

    report = service.import_run(
        database, run.id, apify=apify, progress=lambda d, t: seen.append((d, t))
    )

    assert (report.start, report.sync_status) == ("new", "completed")
    assert (report.total, report.synced, report.failed) == (2500, 2500, 0)
    assert (report.created, report.duplicates) == (2500, 0)
    assert seen[0] == (0, 2500) and seen[-1] == (2500, 2500)
    state = state_of(database, run.id)
    assert state.actor_id == actor.id and state.actor_name == ACTOR
    assert state.dataset_id == run.dataset.id and state.run_status == "SUCCEEDED"
    assert state.input_params == scrape and state.compute_units is not None
    assert state.cost_usd is not None and state.extra_metadata["profile"] == "google_maps"
    assert sorted(external_ids(database)) == sorted(place(i)["placeId"] for i in range(2500))
    with database.read_session() as session:
        lead = session.scalars(
            select(SalesLead).where(SalesLead.external_id == place(7)["placeId"])
        ).one()
        assert (lead.provider_name, lead.actor_id, lead.run_id) == ("apify", actor.id, run.id)
        assert lead.dataset_id == run.dataset.id and lead.source == "apify"
        assert lead.company_name == place(7)["title"] and lead.email == place(7)["emails"][0]
        assert lead.raw_data["totalScore"] == 4.5 and "#debug" not in lead.raw_data
        source = session.scalars(select(LeadSource).where(LeadSource.lead_id == lead.id)).one()
        assert source.source_type == "apify" and source.actor_name == ACTOR
        assert source.scrape_params == scrape and source.extra_metadata == {"offset": 7}
        assert source.external_url == place(7)["url"] and source.run_id == run.id
        assert source.import_batch_id == state.id and source.scraped_at is not None
    before = counts(database)
    asked = len(apify_emulator.requests_to("/items"))

    again = service.import_run(database, run.id, apify=apify)

    assert again.start == "done" and again.synced == 2500
    assert counts(database) == before
    assert len(apify_emulator.requests_to("/items")) == asked  # not one item read again


def test_a_leads_finder_dataset_with_duplicates_and_an_empty_item(
    sqlite_db: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    items = [person(i) for i in range(60)]
    items.insert(10, {})  # an empty item: failed, and the offsets after it stay right
    items.append({**person(5), "job_title": "VP Growth"})  # the same person again
    dataset = apify_emulator.add_dataset(items, name="madrid-growth")

    report = service.import_dataset(sqlite_db, dataset.id, apify=apify)

    assert report.run_id is None and report.dataset_id == dataset.id
    assert (report.total, report.synced, report.failed) == (62, 61, 1)
    assert (report.created, report.duplicates) == (60, 1)
    state = state_of(sqlite_db, f"dataset:{dataset.id}")
    assert state.extra_metadata["profile"] == "leads_finder"
    assert state.error_details["failed_items"][0]["offset"] == 10
    with sqlite_db.read_session() as session:
        lead = session.scalars(select(SalesLead).where(SalesLead.email == person(3)["email"])).one()
        assert lead.title == "Head of Growth" and lead.company_name == "Company 3"
        assert lead.linkedin_url and lead.dataset_id == dataset.id and lead.run_id is None
        assert lead.provider_name == "apify" and lead.external_id == person(3)["linkedin"]

    # Items added to the dataset since: only they are read.
    apify_emulator.datasets[dataset.id].items.extend(person(i) for i in range(100, 110))
    more = service.import_dataset(sqlite_db, dataset.id, apify=apify)
    assert more.start == "resume" and (more.total, more.created) == (72, 70)
    assert offsets_asked(apify_emulator, dataset.id)[-1] == 62
    assert service.import_dataset(sqlite_db, dataset.id, apify=apify).start == "done"


# --- faults ----------------------------------------------------------------------------


# Retries are HTTP-side; the 2,500-item import holds the SQL on PostgreSQL.
@dbs.only("env_db_url", "sqlite")
def test_a_429_storm_and_a_dropped_connection_lose_nothing(
    database: Database, apify_emulator: ApifyEmulator, sleeps: Sleeps
) -> None:
    apify = Apify(apify_emulator.token, apify_emulator.url, page_size=100, sleep=sleeps)
    run = apify_emulator.add_run(
        apify_emulator.add_actor(ACTOR), items=[place(i) for i in range(350)]
    )
    original = apify.items
    drops: list[Any] = []

    def items(dataset_id: str, *, offset: int = 0) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        for n, page in enumerate(original(dataset_id, offset=offset)):
            yield page
            if n == 0:  # mid-dataset: a 429 storm, then the next page's body cut short
                apify_emulator.fail(429, times=4, path="/items", retry_after=0.01)
                # (gzipped, a page of 100 places is some 6 KB)
                drops.append(apify_emulator.drop(times=1, path="/items", after_bytes=2_000))

    apify.items = items  # type: ignore[method-assign]

    report = service.import_run(database, run.id, apify=apify)

    assert report.sync_status == "completed" and report.synced == 350
    assert sorted(external_ids(database)) == sorted(place(i)["placeId"] for i in range(350))
    assert counts(database)["sales_leads"] == 350
    assert drops[0].hits == 1
    # Four 429s waited as told, then the cut body backed off (attempt 5 of one request).
    assert sleeps == [0.01] * 4 + [8.0]
    assert offsets_asked(apify_emulator, run.dataset.id) == [0] + [100] * 6 + [200, 300]


def test_apify_failing_for_good_marks_the_state_failed_then_it_resumes(
    sqlite_db: Database, apify_emulator: ApifyEmulator, sleeps: Sleeps
) -> None:
    apify = Apify(
        apify_emulator.token, apify_emulator.url, page_size=100, sleep=sleeps, max_attempts=2
    )
    run = apify_emulator.add_run(
        apify_emulator.add_actor(ACTOR), items=[place(i) for i in range(150)]
    )
    original = apify.items

    def items(dataset_id: str, *, offset: int = 0) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        for n, page in enumerate(original(dataset_id, offset=offset)):
            yield page
            if n == 0:  # the next page fails on both attempts
                apify_emulator.fail(503, times=2, path="/items")

    apify.items = items  # type: ignore[method-assign]

    with pytest.raises(service.ApifySyncError, match="gave up after 2 attempts"):
        service.import_run(sqlite_db, run.id, apify=apify)

    state = state_of(sqlite_db, run.id)
    assert state.sync_status == "failed" and "503" in (state.error_message or "")
    assert (state.synced_records, state.failed_records) == (100, 0)

    report = service.import_run(sqlite_db, run.id, apify=apify)
    assert report.start == "resume" and report.sync_status == "completed"
    assert report.synced == 150 and state_of(sqlite_db, run.id).retry_count == 1
    assert counts(sqlite_db)["sales_leads"] == 150


class Crash(Exception):
    pass


def test_a_crash_mid_sync_resumes_from_the_offset(
    database: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    apify.page_size = 100
    run = apify_emulator.add_run(
        apify_emulator.add_actor(ACTOR), items=[place(i) for i in range(250)]
    )
    original = apify.items

    def crashing(dataset_id: str, *, offset: int = 0) -> Iterator[Any]:
        for n, page in enumerate(original(dataset_id, offset=offset)):
            if n == 2:
                raise Crash("injected after two pages")
            yield page

    apify.items = crashing  # type: ignore[method-assign]
    with pytest.raises(Crash):
        service.import_run(database, run.id, apify=apify)
    state = state_of(database, run.id)
    assert state.sync_status == "failed" and state.synced_records == 200
    assert "Crash: injected" in (state.error_message or "")
    assert counts(database)["sales_leads"] == 200

    # A process killed mid-sync leaves its state "running": that resumes too.
    with database.unit_of_work() as uow:
        found = uow.session.get(ApifySyncState, state.id)
        assert found is not None
        found.sync_status = "running"
    apify.items = original  # type: ignore[method-assign]
    asked = len(offsets_asked(apify_emulator, run.dataset.id))

    report = service.import_run(database, run.id, apify=apify)

    assert report.start == "resume" and report.sync_status == "completed"
    assert offsets_asked(apify_emulator, run.dataset.id)[asked:] == [200]
    assert sorted(external_ids(database)) == sorted(place(i)["placeId"] for i in range(250))
    assert report.created == 250 and report.duplicates == 0


def test_a_second_import_of_the_same_run_stops_without_writing(
    sqlite_db: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    apify.page_size = 10
    run = apify_emulator.add_run(
        apify_emulator.add_actor(ACTOR), items=[place(i) for i in range(30)]
    )
    original = apify.items

    def overtaken(dataset_id: str, *, offset: int = 0) -> Iterator[Any]:
        for n, page in enumerate(original(dataset_id, offset=offset)):
            if n == 1:  # meanwhile another process wrote this page
                with sqlite_db.unit_of_work() as uow:
                    found = uow.session.scalars(
                        select(ApifySyncState).where(ApifySyncState.run_id == run.id)
                    ).one()
                    found.synced_records += 10
            yield page

    apify.items = overtaken  # type: ignore[method-assign]
    with pytest.raises(service.SyncMovedOnError, match="moved on elsewhere"):
        service.import_run(sqlite_db, run.id, apify=apify)
    state = state_of(sqlite_db, run.id)
    assert state.sync_status == "running" and state.error_message is None  # the other's
    assert counts(sqlite_db)["sales_leads"] == 10


# --- watch, start ----------------------------------------------------------------------


def test_watch_picks_up_only_new_runs(
    database: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    actor = apify_emulator.add_actor(ACTOR)
    now = datetime.now(UTC)
    first = apify_emulator.add_run(
        actor, items=[place(i) for i in range(30)], started_at=now - timedelta(hours=3)
    )
    second = apify_emulator.add_run(
        actor, items=[place(i) for i in range(30, 50)], started_at=now - timedelta(hours=2)
    )
    apify_emulator.add_run(actor, items=[place(999)], status="FAILED")  # not SUCCEEDED: skipped

    reports = service.watch(database, ACTOR, apify=apify)

    assert [r.run_id for r in reports] == [first.id, second.id]
    assert [r.created for r in reports] == [30, 20]
    assert service.watch(database, actor.id, apify=apify) == []  # by id: the same actor

    third = apify_emulator.add_run(
        actor, items=[place(i) for i in range(45, 60)], started_at=now - timedelta(minutes=30)
    )
    asked = {
        d: len(offsets_asked(apify_emulator, d)) for d in (first.dataset.id, second.dataset.id)
    }

    reports = service.watch(database, ACTOR, apify=apify)

    assert [r.run_id for r in reports] == [third.id]
    assert (reports[0].created, reports[0].duplicates) == (10, 5)  # five were in the second run
    for dataset_id, count in asked.items():
        assert len(offsets_asked(apify_emulator, dataset_id)) == count
    assert counts(database)["sales_leads"] == 60


def test_watch_finishes_a_broken_sync_of_an_older_run(
    sqlite_db: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    actor = apify_emulator.add_actor(ACTOR)
    now = datetime.now(UTC)
    old = apify_emulator.add_run(
        actor, items=[place(i) for i in range(20)], started_at=now - timedelta(hours=5)
    )
    new = apify_emulator.add_run(
        actor, items=[place(i) for i in range(20, 30)], started_at=now - timedelta(hours=1)
    )
    with sqlite_db.unit_of_work() as uow:  # the old run's sync broke off
        info = apify.run(old.id)
        service.queue_run_import(uow, info)
    service.import_run(sqlite_db, new.id, apify=apify)

    reports = service.watch(sqlite_db, ACTOR, apify=apify)

    assert [r.run_id for r in reports] == [old.id]
    assert counts(sqlite_db)["sales_leads"] == 30


def test_start_actor_with_and_without_wait(
    sqlite_db: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    def scraped(run_input: dict[str, Any] | None) -> list[dict[str, Any]]:
        return [place(i) for i in range(int((run_input or {}).get("max", 5)))]

    apify_emulator.add_actor(ACTOR, items=scraped, run_seconds=0.05)

    info, report = service.start_actor(sqlite_db, ACTOR, {"max": 12}, wait=True, apify=apify)

    assert info.status == "SUCCEEDED" and report.created == 12
    assert state_of(sqlite_db, info.run_id).input_params == {"max": 12}

    slow = apify_emulator.add_actor("someone/slow-scraper", items=scraped, run_seconds=None)
    info, report = service.start_actor(sqlite_db, slow.id, {"max": 3}, wait=False, apify=apify)
    assert report.sync_status == "pending" and report.synced == 0
    with pytest.raises(ConflictError, match="import it once it has finished"):
        service.import_run(sqlite_db, info.run_id, apify=apify)
    apify_emulator.finish_run(info.run_id)
    watched = service.watch(sqlite_db, slow.id, apify=apify)
    assert [(r.synced, r.duplicates) for r in watched] == [(3, 3)]  # places 0-2 again


def test_unknown_run_and_dataset(sqlite_db: Database, apify: Apify) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        service.import_run(sqlite_db, "nosuchrun00000000", apify=apify)
    with pytest.raises(NotFoundError, match="not found"):
        service.import_dataset(sqlite_db, "nosuchdataset0000", apify=apify)


def test_a_refused_token_says_so(sqlite_db: Database, apify_emulator: ApifyEmulator) -> None:
    wrong = Apify("not-the-token", apify_emulator.url, sleep=Sleeps())
    run = apify_emulator.add_run(apify_emulator.add_actor(ACTOR), items=[place(1)])
    with pytest.raises(service.ApifySyncError, match="LEADBASE_APIFY_TOKEN"):
        service.import_run(sqlite_db, run.id, apify=wrong)


def test_sync_states_for_console(
    sqlite_db: Database, apify_emulator: ApifyEmulator, apify: Apify
) -> None:
    run = apify_emulator.add_run(apify_emulator.add_actor(ACTOR), items=[place(1), {}])
    dataset = apify_emulator.add_dataset([person(1)], name="people")
    service.import_run(sqlite_db, run.id, apify=apify)
    service.import_dataset(sqlite_db, dataset.id, apify=apify)
    with sqlite_db.read_session() as session:
        views = service.sync_states_for_console(session, 10)
    assert [(v.kind, v.label, v.sync_status, v.progress) for v in views] == [
        ("dataset", "dataset people", "completed", 1.0),
        ("run", ACTOR, "completed", 1.0),
    ]
    assert (views[1].total, views[1].synced, views[1].failed) == (2, 1, 1)
    assert get_settings().apify_watch_seconds is None
