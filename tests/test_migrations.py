"""The schema is built only by migrations, and they agree with the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from leadbase import schema
from leadbase.db import create_db_engine
from leadbase.models import Base
from leadbase.models.lead import is_search_artefact
from tests import dbs


@pytest.fixture(params=dbs.KINDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    with dbs.server_database(request.param) as url:
        yield url


def _diff(url: str) -> list[Any]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    # The full-text search artefacts of 0004 are not models.
                    "include_name": lambda name, _type, _parents: not is_search_artefact(name),
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_no_drift(empty_url: str) -> None:
    engine = create_db_engine(empty_url)
    try:
        schema.upgrade(engine)
        assert schema.is_at_head(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables

        schema.downgrade(engine, "base")
        assert schema.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()

        schema.upgrade(engine)
        assert schema.is_at_head(engine)
    finally:
        engine.dispose()
    assert _diff(empty_url) == []


def test_models_diff_is_detected(tmp_path: Path) -> None:
    """The drift check can fail: a database missing a migration shows a diff."""
    url = f"sqlite:///{tmp_path / 'partial.db'}"
    engine = create_db_engine(url)
    schema.upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX idx_provider_external")
    engine.dispose()
    assert any("idx_provider_external" in str(change) for change in _diff(url))


def test_chain_head_seeded_by_migration(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'head.db'}")
    schema.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id, seq, hash FROM audit_chain_head").all()
    engine.dispose()
    assert rows == [(1, 0, "0" * 64)]
