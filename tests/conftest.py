from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leadbase import schema
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.db import create_db_engine
from tests import api_clients, dbs
from tests.emulators.airtable import SYNC_FIELDS, AirtableEmulator
from tests.emulators.apify import ApifyEmulator

# The console tests' server and browser fixtures.
pytest_plugins = ["tests.browser"]


# The longest tests (5-20 s each, most of them subprocesses, servers or a
# browser): run first. xdist hands the rest out in collection order as workers
# free up, so the run no longer ends with one worker on a long test while the
# other idles (alphabetical order put the browser flows last).
LONG_TESTS = frozenset(
    {
        "test_1000_leads_round_trip_both_ways",
        "test_processes_write_one_chain_on_postgresql",
        "test_threads_share_one_client_on_servers",
        "test_verify_while_writers_are_busy",
        "test_processes_wait_their_turn_on_sqlite",
        "test_kill_9_celery_worker_mid_enrichment_batch_then_restart",
        "test_kill_9_local_worker_mid_enrichment_batch_then_restart",
        "test_kill_9_celery_worker_mid_batch_then_restart",
        "test_kill_9_local_worker_mid_batch_then_restart",
        "test_jobs_enqueued_while_no_broker_listens_are_swept_to_it",
        "test_local_worker_stops_gracefully_on_sigterm",
        "test_celery_worker_runs_jobs_retries_and_dead_ones",
        "test_import_and_reimport_a_2500_item_run",
        "test_resume_after_kill_9_of_a_pipelined_import",
        "test_resume_after_kill_9",
        "test_a_file_that_breaks_fails_the_run_as_in_one_process",
        "test_round_trip_gives_back_every_row",
        "test_restored_backup_is_searchable",
        "test_migration_indexes_existing_leads_and_reverses",
        "test_0007_links_stored_leads_and_reverses",
        "test_upgrade_downgrade_upgrade_and_no_drift",
        "test_one_filter_counts_from_the_pairs_equal_the_rows",
        "test_the_flow_works_without_script",
        "test_upload_map_start_download_revert",
        "test_a_saved_view_is_reopened_from_the_nav_and_shared_views_reach_everyone",
        "test_totals_count_what_matches_and_stop_at_the_cap",
        "test_a_celery_worker_enriches_quick_adds_made_through_the_api",
        "test_a_sync_killed_mid_pull_then_run_again_doubles_nothing",
        "test_serve_creates_private_sqlite_and_answers_health",
        "test_learns_the_outcome_from_fields_and_activities",
        "test_scan_features_are_score_features",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: getattr(item, "originalname", item.name) not in LONG_TESTS)


@pytest.fixture(autouse=True, scope="session")
def _test_sized_password_hashing() -> Iterator[None]:
    """Argon2id as in production, with parameters sized for a test run: the
    default's 64 MiB and 3 passes cost ~0.2 s a hash, and the suite creates
    and signs in users by the thousand. A hash made here still verifies in a
    subprocess server with the default parameters (which then rehashes it)."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from leadbase.auth import passwords

    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    passwords.dummy_hash.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", lambda: cheap)
        yield
    passwords.dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's environment or writes to ./data."""
    for name in list(__import__("os").environ):
        if name.startswith("LEADBASE_") and not name.startswith("LEADBASE_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEADBASE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _apps_come_back() -> Iterator[None]:
    """The apps api_clients.signed_in lent this test may serve the next one."""
    yield
    api_clients.return_apps()


NATIVE_NOT_BUILT = "leadbase.dedupe._native is not built (no C compiler, or LEADBASE_NO_NATIVE)"


@pytest.fixture
def native() -> object:
    """The compiled scan (dedupe._native); the test skips where it was not built."""
    from leadbase.dedupe import scan

    if scan.NATIVE is None:
        pytest.skip(NATIVE_NOT_BUILT)
    return scan.NATIVE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dbs.migrated_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def _server_urls() -> Iterator[dict[str, str]]:
    """Migrated databases on each server, created once per run, on first use."""
    from contextlib import ExitStack

    urls: dict[str, str] = {}
    with ExitStack() as stack:

        def get(kind: str) -> str:
            if kind not in urls:
                url = stack.enter_context(dbs.server_database(kind))
                engine = create_db_engine(url)
                schema.upgrade(engine)
                engine.dispose()
                urls[kind] = url
            return urls[kind]

        yield get  # type: ignore[misc]


@pytest.fixture(params=dbs.KINDS)
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty database of each kind: the store tests run on all three."""
    kind = request.param
    if kind == "sqlite":
        return dbs.fresh_sqlite(sqlite_template, tmp_path)
    url: str = request.getfixturevalue("_server_urls")(kind)
    dbs.empty_all_tables(url)
    return url


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return dbs.fresh_sqlite(sqlite_template, tmp_path)


@pytest.fixture
def postgres_url(_server_urls: object) -> str:
    url: str = _server_urls("postgresql")  # type: ignore[operator]
    dbs.empty_all_tables(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def env_db_url(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A migrated, empty SQLite or PostgreSQL database that commands run in
    the test (a CLI, a job) find in LEADBASE_DATABASE_URL."""
    if request.param == "sqlite":
        url = dbs.fresh_sqlite(sqlite_template, tmp_path)
    else:
        url = request.getfixturevalue("_server_urls")("postgresql")
        dbs.empty_all_tables(url)
    monkeypatch.setenv("LEADBASE_DATABASE_URL", url)
    get_settings.cache_clear()
    return url


@pytest.fixture
def leads(db_url: str) -> Iterator[LeadDatabase]:
    client = LeadDatabase(db_url, actor="test:alice")
    yield client
    client.close()


@pytest.fixture
def apify_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApifyEmulator]:
    """The Apify API emulator on a free port, and LEADBASE_APIFY_API_URL/TOKEN set to it
    (faults: emulator.fail/slow/drop; data: add_actor/add_run/add_dataset)."""
    with ApifyEmulator.running() as emulator:
        monkeypatch.setenv("LEADBASE_APIFY_API_URL", emulator.url)
        monkeypatch.setenv("LEADBASE_APIFY_TOKEN", emulator.token)
        get_settings.cache_clear()
        yield emulator


@pytest.fixture
def airtable_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[AirtableEmulator]:
    """The Airtable API emulator on a free port, its table with SYNC_FIELDS (no
    rate limit: a test that wants one starts its own with
    AirtableEmulator.running(rate_limit=5, fields=SYNC_FIELDS)), and
    LEADBASE_AIRTABLE_API_URL/TOKEN/BASE_ID/TABLE set to it (faults:
    emulator.fail/slow/drop/reject_record; data: user_create/user_update/user_delete)."""
    with AirtableEmulator.running(rate_limit=None, fields=SYNC_FIELDS) as emulator:
        monkeypatch.setenv("LEADBASE_AIRTABLE_API_URL", emulator.url)
        monkeypatch.setenv("LEADBASE_AIRTABLE_TOKEN", emulator.token)
        monkeypatch.setenv("LEADBASE_AIRTABLE_BASE_ID", emulator.base_id)
        monkeypatch.setenv("LEADBASE_AIRTABLE_TABLE", emulator.table_name)
        get_settings.cache_clear()
        yield emulator
