"""The queries of duplicate handling: clusters, dismissed pairs, merges."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.models import DedupeDismissal, DuplicateCluster, utcnow


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
    return {
        (a, b) for a, b in session.execute(select(DedupeDismissal.lead_a, DedupeDismissal.lead_b))
    }


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
    new = 0
    for print_, cluster in by_print.items():
        row = stored.get(print_)
        if row is None:
            session.add(
                DuplicateCluster(
                    fingerprint=print_,
                    entity="lead",
                    lead_ids=sorted(cluster["lead_ids"]),
                    score=float(cluster["score"]),
                    reasons=list(cluster["reasons"]),
                    action=cluster["action"],
                    status="open",
                    origin=origin,
                    created_at=now,
                    updated_at=now,
                )
            )
            new += 1
        elif row.status == "open":
            row.score = float(cluster["score"])
            row.reasons = list(cluster["reasons"])
            row.action = cluster["action"]
    session.flush()
    return new
