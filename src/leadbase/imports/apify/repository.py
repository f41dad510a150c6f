"""Queries of ``apify_sync_states`` (one row per Apify run or dataset we import)
and of the ``apify_watch`` jobs that keep an actor watched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from leadbase.models import ApifySyncState


def get(session: Session, state_id: str) -> ApifySyncState | None:
    return session.get(ApifySyncState, state_id)


def get_for_update(session: Session, state_id: str) -> ApifySyncState | None:
    return session.scalars(
        select(ApifySyncState).where(ApifySyncState.id == state_id).with_for_update()
    ).one_or_none()


def by_run_id_for_update(session: Session, run_id: str) -> ApifySyncState | None:
    """The state of one run (or ``dataset:<id>``), locked: two imports of the
    same run meet here and the second waits for the first's transaction."""
    return session.scalars(
        select(ApifySyncState).where(ApifySyncState.run_id == run_id).with_for_update()
    ).one_or_none()


def by_run_ids(session: Session, run_ids: Sequence[str]) -> dict[str, ApifySyncState]:
    if not run_ids:
        return {}
    found = session.scalars(select(ApifySyncState).where(ApifySyncState.run_id.in_(run_ids)))
    return {state.run_id: state for state in found}


def _of_actor(actor: str) -> ColumnElement[bool]:
    """An actor as the user names it: its id, or ``user/name`` (``user~name``)."""
    name = actor.replace("~", "/")
    return or_(ApifySyncState.actor_id == actor, ApifySyncState.actor_name == name)


def last_synced_finish(session: Session, actor: str) -> datetime | None:
    """When the newest run of ``actor`` we finished syncing had finished on Apify:
    ``watch`` asks for the runs that finished after it."""
    query = select(func.max(ApifySyncState.finished_at)).where(
        _of_actor(actor), ApifySyncState.sync_status == "completed"
    )
    found: datetime | None = session.scalar(query)
    return found


def unfinished_run_ids(session: Session, actor: str) -> list[str]:
    """Runs of ``actor`` whose sync broke off (failed, or a process died running it)."""
    query = (
        select(ApifySyncState.run_id)
        .where(_of_actor(actor), ApifySyncState.sync_status.in_(("pending", "running", "failed")))
        .order_by(ApifySyncState.finished_at, ApifySyncState.run_id)
    )
    return [run_id for run_id in session.scalars(query) if not run_id.startswith("dataset:")]


def newest(
    session: Session, limit: int, before: str | None = None, actor: str | None = None
) -> Sequence[ApifySyncState]:
    """Sync states, most recently created first (``before``: the cursor, a state id)."""
    query = select(ApifySyncState).order_by(
        ApifySyncState.created_at.desc(), ApifySyncState.id.desc()
    )
    if actor is not None:
        query = query.where(_of_actor(actor))
    if before is not None:
        anchor = session.get(ApifySyncState, before)
        if anchor is not None:
            query = query.where(
                (ApifySyncState.created_at < anchor.created_at)
                | (
                    (ApifySyncState.created_at == anchor.created_at)
                    & (ApifySyncState.id < anchor.id)
                )
            )
    return session.scalars(query.limit(limit)).all()


def add(session: Session, state: ApifySyncState) -> None:
    session.add(state)
    session.flush()


# --- the watch jobs ----------------------------------------------------------------
