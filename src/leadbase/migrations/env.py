"""Alembic environment: runs on the connection leadbase.schema hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from leadbase.db import create_db_engine
from leadbase.models import Base
from leadbase.models.lead import is_search_artefact

config = context.config
target_metadata = Base.metadata


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Autogenerate leaves the full-text search artefacts of 0004 alone."""
    return not is_search_artefact(name)


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_db_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()
