"""Duplicate clusters, dismissed pairs and the record of every merge.

``duplicate_clusters`` holds what a scan or a write found and a person has
not yet decided; ``dedupe_dismissals`` remembers the pairs people said are
not duplicates, so later scans and writes leave them apart; ``merges`` keeps
the exact rows a merge changed, so an unmerge puts them back byte for byte.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, JSONType, UTCDateTime, new_id, utcnow

CLUSTER_ACTIONS = ("merge", "review")
CLUSTER_STATUSES = ("open", "dismissed", "merged")
MERGE_ENTITIES = ("lead", "company")


class DuplicateCluster(Base):
    __tablename__ = "duplicate_clusters"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # sha256 of the sorted lead ids: a later scan finding the same cluster
    # updates this row instead of adding another.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    entity: Mapped[str] = mapped_column(String(10), nullable=False, default="lead")
    lead_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    reasons: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    # "merge": at or above the auto-merge threshold; "review": between the two.
    action: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="open")
    # What found it: "scan", or the write path ("write").
    origin: Mapped[str] = mapped_column(String(10), nullable=False, default="scan")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("idx_duplicate_clusters_status", "status", "score"),)


class DuplicateClusterLead(Base):
    """Which leads a cluster holds, one row each: the index a lead's page
    and every merge find its clusters by (``lead_ids`` is JSON, unindexable)."""

    __tablename__ = "duplicate_cluster_leads"

    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("duplicate_clusters.id", ondelete="CASCADE"), primary_key=True
    )
    lead_id: Mapped[str] = mapped_column(String(36), primary_key=True)

    __table_args__ = (Index("idx_duplicate_cluster_leads_lead", "lead_id"),)


class DedupeDismissal(Base):
    """Two leads a person said are not duplicates; ``lead_a < lead_b``."""

    __tablename__ = "dedupe_dismissals"

    lead_a: Mapped[str] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="CASCADE"), primary_key=True
    )
    lead_b: Mapped[str] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("idx_dedupe_dismissals_b", "lead_b"),)


class Merge(Base):
    """One merge of leads (or companies) into a survivor, and what it changed.

    ``snapshot`` holds every changed row exactly as it was before (all
    columns), and the ids of the events and sources moved to the survivor:
    enough for an unmerge to restore them byte for byte.
    """

    __tablename__ = "merges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(String(10), nullable=False, default="lead")
    survivor_id: Mapped[str] = mapped_column(String(36), nullable=False)
    merged_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    # The survivor's version right after the merge: an unmerge of a
    # survivor changed since then is refused (it would lose that change).
    survivor_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(255))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("idx_merges_survivor", "entity", "survivor_id", "created_at"),)


class MergeMember(Base):
    """Every row a merge took part in (survivor and merged), for its history."""

    __tablename__ = "merge_members"

    merge_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("merges.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(String(36), primary_key=True)

    __table_args__ = (Index("idx_merge_members_member", "member_id"),)
