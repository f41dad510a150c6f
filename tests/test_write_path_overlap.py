"""A batch's lead INSERT on SQLite (COPY on PostgreSQL) runs in a helper
thread while its audit entry and source rows are worked out
(leads.repository.inserting_leads): what it stores is what one thread
stored, and its failure is the batch's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from leadbase import audit
from leadbase.client import LeadDatabase
from leadbase.leads import repository
from leadbase.leads import service as leads_service
from leadbase.models import SalesLead, new_id

ROWS = repository.OVERLAP_MIN + 100  # past the overlap's threshold, over two statements


def _rows(count: int) -> list[dict[str, str]]:
    return [
        {"full_name": f"Person {i}", "email": f"person{i}@example.com", "source": "import"}
        for i in range(count)
    ]


def _count(db: LeadDatabase) -> int:
    with db.db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(SalesLead)) or 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def overlap_leads(request: pytest.FixtureRequest) -> Iterator[LeadDatabase]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    client = LeadDatabase(url, actor="test:alice")
    yield client
    client.close()


def test_an_overlapped_batch_stores_every_lead_and_verifies(overlap_leads: LeadDatabase) -> None:
    ids = overlap_leads.add_leads(_rows(ROWS))
    assert len(set(ids)) == ROWS
    assert _count(overlap_leads) == ROWS
    assert overlap_leads.get_lead(ids[-1])["email"] == f"person{ROWS - 1}@example.com"  # type: ignore[index]
    with overlap_leads.db.read_session() as session:
        assert audit.verify(session).ok


def test_a_failed_overlapped_insert_fails_the_batch_and_leaves_nothing(
    overlap_leads: LeadDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    [stored] = overlap_leads.add_leads([{"full_name": "Stored Before"}])
    made: list[str] = []

    def repeating_id() -> str:
        # The batch's last lead takes the stored lead's id: its statement
        # (the second of the batch) fails in the helper thread.
        made.append(stored if len(made) == ROWS - 1 else new_id())
        return made[-1]

    monkeypatch.setattr(leads_service, "new_id", repeating_id)
    with pytest.raises(IntegrityError), overlap_leads.db.unit_of_work() as uow:
        leads_service.bulk_create(uow, _rows(ROWS), on_duplicate="allow")
    monkeypatch.undo()
    assert _count(overlap_leads) == 1
    with overlap_leads.db.read_session() as session:
        assert audit.verify(session).ok
    assert len(overlap_leads.add_leads(_rows(3))) == 3  # the connection is fine afterwards
