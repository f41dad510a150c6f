"""The queries of duplicate handling: clusters, dismissed pairs, merges."""

from __future__ import annotations

import hashlib
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import combinations
from typing import Any

from sqlalchemy import (
    RowMapping,
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from leadbase.db import bulk_insert, chunked
from leadbase.models import (
    Base,
    DedupeDismissal,
    DuplicateCluster,
    DuplicateClusterLead,
    LeadEvent,
    LeadSource,
    Merge,
    MergeMember,
    SalesLead,
    new_id,
    utcnow,
)
from leadbase.models.base import UTCDateTime


def fingerprint(lead_ids: Iterable[str]) -> str:
    """The same set of leads gives the same fingerprint, in any order."""
    return hashlib.sha256("\n".join(sorted(set(lead_ids))).encode()).hexdigest()


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def dismissed_pairs(session: Session, lead_ids: Iterable[str]) -> set[tuple[str, str]]:
    """Every dismissed pair (``a < b``) with at least one of ``lead_ids`` in it."""
    found: set[tuple[str, str]] = set()
    for chunk in chunked(sorted(set(lead_ids))):
        rows = session.execute(
            select(DedupeDismissal.lead_a, DedupeDismissal.lead_b).where(
                or_(DedupeDismissal.lead_a.in_(chunk), DedupeDismissal.lead_b.in_(chunk))
            )
        )
        found.update((a, b) for a, b in rows)
    return found


def all_dismissed_pairs(session: Session) -> set[tuple[str, str]]:
    """Every dismissed pair, for a scan. One plain statement: the ORM would
    compile it first, a fixed cost that shows on a small database."""
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in ("lead_a", "lead_b"))
    sql = f"SELECT {columns} FROM {quote(DedupeDismissal.__tablename__)}"
    return {(a, b) for a, b in connection.exec_driver_sql(sql)}


def add_dismissals(session: Session, lead_ids: Sequence[str], actor: str) -> None:
    """Every pair of ``lead_ids`` is not a duplicate: remembered, once."""
    pairs = {pair(a, b) for a, b in combinations(set(lead_ids), 2)}
    known: set[tuple[str, str]] = set()
    for chunk in chunked(sorted(pairs)):
        rows = session.execute(
            select(DedupeDismissal.lead_a, DedupeDismissal.lead_b).where(
                tuple_(DedupeDismissal.lead_a, DedupeDismissal.lead_b).in_(chunk)
            )
        )
        known.update((a, b) for a, b in rows)
    now = utcnow()
    session.add_all(
        DedupeDismissal(lead_a=a, lead_b=b, created_at=now, created_by=actor)
        for a, b in sorted(pairs - known)
    )
    session.flush()


def clusters_by_fingerprint(
    session: Session, fingerprints: Iterable[str]
) -> dict[str, DuplicateCluster]:
    found: dict[str, DuplicateCluster] = {}
    for chunk in chunked(sorted(set(fingerprints))):
        for cluster in session.scalars(
            select(DuplicateCluster).where(DuplicateCluster.fingerprint.in_(chunk))
        ):
            found[cluster.fingerprint] = cluster
    return found


def upsert_clusters(session: Session, clusters: Sequence[dict[str, Any]], origin: str) -> int:
    """Store found clusters (``lead_ids``, ``score``, ``reasons``, ``action``).

    A cluster found before keeps its row and its status (a dismissed one
    stays dismissed); an open one takes the new score and reasons. Returns
    how many are new.
    """
    now = utcnow()
    by_print = {fingerprint(c["lead_ids"]): c for c in clusters}
    stored = clusters_by_fingerprint(session, by_print)
    created: list[dict[str, Any]] = []
    members: list[dict[str, str]] = []
    for print_, cluster in by_print.items():
        row = stored.get(print_)
        if row is None:
            cluster_id = new_id()
            # Rows, not ORM objects: a bulk write queues thousands at once.
            created.append(
                {
                    "id": cluster_id,
                    "fingerprint": print_,
                    "entity": "lead",
                    "lead_ids": sorted(cluster["lead_ids"]),
                    "score": float(cluster["score"]),
                    "reasons": list(cluster["reasons"]),
                    "action": cluster["action"],
                    "status": "open",
                    "origin": origin,
                    "created_at": now,
                    "updated_at": now,
                    "resolved_at": None,
                    "resolved_by": None,
                }
            )
            members.extend(
                {"cluster_id": cluster_id, "lead_id": lead_id}
                for lead_id in sorted(set(cluster["lead_ids"]))
            )
        elif row.status == "open":
            row.score = float(cluster["score"])
            row.reasons = list(cluster["reasons"])
            row.action = cluster["action"]
    session.flush()
    bulk_insert(session, DuplicateCluster, created)
    bulk_insert(session, DuplicateClusterLead, members)
    return len(created)


def get_cluster(session: Session, cluster_id: str) -> DuplicateCluster | None:
    return session.get(DuplicateCluster, cluster_id, populate_existing=True)


def clusters_page(
    session: Session,
    *,
    status: str | None,
    action: str | None,
    after: str | None,
    limit: int,
) -> Sequence[DuplicateCluster]:
    """Clusters best first (score descending, then id), one keyset page
    after the cluster ``after``. Its score is read in SQL, not carried in the
    cursor: MariaDB's FLOAT is single precision, and a score sent back as a
    double would not equal the stored one."""
    query = select(DuplicateCluster)
    if status is not None:
        query = query.where(DuplicateCluster.status == status)
    if action is not None:
        query = query.where(DuplicateCluster.action == action)
    if after is not None:
        last = select(DuplicateCluster.score).where(DuplicateCluster.id == after).scalar_subquery()
        query = query.where(
            or_(
                DuplicateCluster.score < last,
                and_(DuplicateCluster.score == last, DuplicateCluster.id > after),
            )
        )
    query = query.order_by(DuplicateCluster.score.desc(), DuplicateCluster.id).limit(limit)
    return session.scalars(query).all()


def clusters_for_leads(
    session: Session, lead_ids: Iterable[str], *, status: str | None = "open"
) -> list[DuplicateCluster]:
    """Clusters holding any of ``lead_ids``, best first (through the
    indexed duplicate_cluster_leads, not the JSON list)."""
    wanted = sorted(set(lead_ids))
    found: dict[str, DuplicateCluster] = {}
    for chunk in chunked(wanted):
        holding = select(DuplicateClusterLead.cluster_id).where(
            DuplicateClusterLead.lead_id.in_(chunk)
        )
        query = select(DuplicateCluster).where(DuplicateCluster.id.in_(holding))
        if status is not None:
            query = query.where(DuplicateCluster.status == status)
        found.update((cluster.id, cluster) for cluster in session.scalars(query))
    return sorted(found.values(), key=lambda cluster: (-cluster.score, cluster.id))


def merges_for(session: Session, entity: str, entity_id: str) -> list[Merge]:
    """Every merge ``entity_id`` took part in, as survivor or merged, newest first."""
    took_part = select(MergeMember.merge_id).where(MergeMember.member_id == entity_id)
    return list(
        session.scalars(
            select(Merge)
            .where(Merge.entity == entity, Merge.id.in_(took_part))
            .order_by(Merge.created_at.desc(), Merge.id.desc())
        )
    )


def add_merge(session: Session, merge: Merge) -> None:
    session.add(merge)
    session.flush()
    members = dict.fromkeys([merge.survivor_id, *merge.merged_ids])
    session.execute(insert(MergeMember), [{"merge_id": merge.id, "member_id": m} for m in members])


# --- exact rows: what a merge snapshots and an unmerge puts back ---------------------


Row = Mapping[str, Any] | RowMapping


def encode_row(model: type[Base], row: Row) -> dict[str, Any]:
    """Every column of ``row`` as JSON values ``decode_row`` turns back into
    exactly the same Python values (timestamps as ISO 8601 with microseconds
    and offset; JSON columns as they are)."""
    encoded: dict[str, Any] = {}
    for column in _table(model).columns:
        value = row[column.name]
        if isinstance(value, datetime):
            value = value.isoformat()
        encoded[column.name] = value
    return encoded


def decode_row(model: type[Base], data: Mapping[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for column in _table(model).columns:
        value = data[column.name]
        if value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
        decoded[column.name] = value
    return decoded


def _table(model: type[Base]) -> Table:
    return typing.cast(Table, model.__table__)


def rows_by_id(session: Session, model: type[Base], ids: Sequence[Any]) -> dict[Any, RowMapping]:
    """Every column of these rows (leads or companies), by id, as stored now."""
    table = _table(model)
    found: dict[Any, RowMapping] = {}
    for chunk in chunked(list(ids)):
        for row in session.execute(select(table).where(table.c.id.in_(chunk))).mappings():
            found[row["id"]] = row
    return found


def rows_of_leads(
    session: Session, model: type[LeadEvent] | type[LeadSource], lead_ids: Sequence[str]
) -> list[RowMapping]:
    """Every column of the events (or sources) of these leads, in id order."""
    table = _table(model)
    found: list[RowMapping] = []
    for chunk in chunked(list(lead_ids)):
        query = select(table).where(table.c.lead_id.in_(chunk)).order_by(table.c.id)
        found.extend(session.execute(query).mappings())
    return found


def lead_ids_of_companies(session: Session, company_ids: Sequence[str]) -> list[str]:
    found: list[str] = []
    for chunk in chunked(list(company_ids)):
        found.extend(
            session.scalars(
                select(SalesLead.id).where(SalesLead.company_id.in_(chunk)).order_by(SalesLead.id)
            )
        )
    return found


def move_to_lead(
    session: Session, model: type[LeadEvent] | type[LeadSource], ids: Sequence[Any], lead_id: str
) -> None:
    """These events (or sources) now belong to ``lead_id``."""
    table = _table(model)
    for chunk in chunked(list(ids)):
        session.execute(update(table).where(table.c.id.in_(chunk)).values(lead_id=lead_id))


def write_rows(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Put every column of these rows back as given (one executemany)."""
    if not rows:
        return
    table = _table(model)
    names = [column.name for column in table.columns if column.name != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in names})
    )
    params = [{f"b_{name}": row[name] for name in ("id", *names)} for row in rows]
    session.execute(statement, params)


def restore_versioned(
    session: Session, model: type[Base], row: Mapping[str, Any], current_version: int
) -> bool:
    """Put every column of one lead (or company) back, if it is still at
    ``current_version``: False when someone changed it meanwhile."""
    table = _table(model)
    values = {name: value for name, value in row.items() if name != "id"}
    result = session.execute(
        update(table)
        .where(table.c.id == row["id"], table.c.version == current_version)
        .values(values)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
