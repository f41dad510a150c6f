"""Throw-away test databases on SQLite, PostgreSQL and MariaDB.

A server that is not reachable makes its tests skip with a one-line reason on
a laptop, and fail under CI (``CI=true``), where every server must be up.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leadbase import schema
from leadbase.db import create_db_engine, normalise_url
from leadbase.models import GENESIS_HASH, Base

SERVER_URLS = {
    "postgresql": os.environ.get(
        "LEADBASE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "LEADBASE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
KINDS = ("sqlite", "postgresql", "mariadb")


def only(fixture: str, *kinds: str) -> pytest.MarkDecorator:
    """A test on these of ``fixture``'s databases only (indirect parametrisation
    overrides the fixture's params): for behaviour that is Python over the
    database (validation, roles, timing, envelopes), where a server run repeats
    the SQLite run at ~0.5-2 s a test and the dialect-specific SQL beneath it
    is held by the store, dedupe, audit and analytics tests on every server."""
    return pytest.mark.parametrize(fixture, kinds, indirect=True)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(kind: str, reason: str) -> None:
    message = f"{kind} not reachable at {SERVER_URLS[kind]}: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI requires every server)", pytrace=False)
    pytest.skip(message)


@contextmanager
def server_database(kind: str) -> Iterator[str]:
    """Create an empty database on the server; drop it afterwards."""
    admin_url = normalise_url(SERVER_URLS[kind])
    name = f"leadbase_t_{uuid.uuid4().hex[:12]}"
    options = {"isolation_level": "AUTOCOMMIT"}
    try:
        admin = create_engine(admin_url, connect_args={"connect_timeout": 3}, **options)
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
            if kind == "postgresql":
                # A throw-away database: a commit need not wait for its WAL to
                # reach the disk (what it sees and locks is unchanged; only a
                # server crash could lose it). Saves a flush a commit, which
                # queues behind other disk work on a busy machine.
                connection.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))
    except Exception as exc:  # any failure to reach or use the server
        unavailable(kind, str(exc).splitlines()[0])
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            if kind == "postgresql":
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


def fresh_sqlite(template: Path, directory: Path) -> str:
    path = directory / f"leadbase-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, path)
    path.chmod(0o600)
    return f"sqlite:///{path}"


# Identity columns start again at 1, as after a fresh migration.
_RESTART_SEQUENCES = """
DO $$ DECLARE s record; BEGIN
  FOR s IN SELECT sequence_schema, sequence_name FROM information_schema.sequences
           WHERE sequence_schema = current_schema() LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I RESTART', s.sequence_schema, s.sequence_name);
  END LOOP;
END $$"""


def empty_all_tables(url: str) -> None:
    """Back to a just-migrated state: no rows, chain head at genesis."""
    engine = create_db_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if not t.info.get("derived")]
    # Last: deleting the leads moves the counts the triggers keep (rollups).
    tables += [t.name for t in Base.metadata.sorted_tables if t.info.get("derived")]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # DELETE, not TRUNCATE: a test leaves a few rows in a few tables,
            # and TRUNCATE rewrites every table's files (~0.5 s a test).
            connection.execute(text(";".join(f"DELETE FROM {table}" for table in tables)))
            connection.execute(text(_RESTART_SEQUENCES))
        else:
            if engine.dialect.name == "mysql":
                connection.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
            if engine.dialect.name == "mysql":
                connection.execute(text("SET FOREIGN_KEY_CHECKS=1"))
        connection.execute(
            text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, :h)"),
            {"h": GENESIS_HASH},
        )
    engine.dispose()


def backend(url: str) -> str:
    return make_url(url).get_backend_name()


# --- Redis --------------------------------------------------------------------

REDIS_URL = os.environ.get("LEADBASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def redis_namespace() -> Iterator[tuple[str, str]]:
    """The test Redis and a key prefix of this test's own: tests sharing one
    Redis never see each other's keys, and this test's are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        message = f"redis not reachable at {REDIS_URL}: {str(exc).splitlines()[0]}"
        if in_ci():
            pytest.fail(f"{message} (CI requires every server)", pytrace=False)
        pytest.skip(message)
    prefix = f"leadbase-test-{uuid.uuid4().hex[:12]}"
    try:
        yield REDIS_URL, prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()
