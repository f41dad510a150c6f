"""What the duplicates API takes and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from leadbase.companies.schemas import ID_PATTERN, CompanyOut
from leadbase.duplicates.service import MAX_MERGE
from leadbase.leads.schemas import LeadOut
from leadbase.models import DuplicateCluster, Merge

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ClusterOut(BaseModel):
    """Leads found to be one person: how sure (``score`` 0..1), why
    (``reasons``), what a scan would do (``action``: "merge" at or above the
    automatic threshold, else "review"), and what people decided
    (``status``: open, dismissed, merged)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    entity: str
    lead_ids: list[str]
    score: float
    reasons: list[str]
    action: str
    status: str
    origin: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    @classmethod
    def of(cls, cluster: DuplicateCluster) -> ClusterOut:
        return cls.model_validate(cluster)


class ClusterPage(BaseModel):
    items: list[ClusterOut]
    next_cursor: str | None


class MergeInput(BaseModel):
    """A merge: the lead that stays, the leads folded into it, and optional
    per-field choices (field -> the id of the lead whose value wins)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    survivor_id: Id
    merged_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_MERGE - 1)]
    choices: Annotated[dict[FieldName, Id], Field(max_length=100)] | None = None
    versions: (
        Annotated[dict[Id, Annotated[int, Field(ge=1)]], Field(max_length=MAX_MERGE)] | None
    ) = Field(
        default=None,
        description="id -> the version the caller last read: a lead changed since is a 409",
    )


class LeadMergeInput(MergeInput):
    cluster_id: Id | None = Field(
        default=None, description="The stored duplicate cluster this merge resolves"
    )


class MergeOut(BaseModel):
    """One merge: who merged what into what, when; whether it was undone;
    and ``kept``: every value of a merged lead (or company) the survivor
    did not take (field -> [{"lead_id" or "id", "value"}])."""

    id: str
    entity: str
    survivor_id: str
    merged_ids: list[str]
    survivor_version: int
    choices: dict[str, str]
    kept: dict[str, list[dict[str, Any]]]
    created_at: datetime
    created_by: str | None
    undone_at: datetime | None
    undone_by: str | None

    @classmethod
    def of(cls, merge: Merge) -> MergeOut:
        return cls(
            id=merge.id,
            entity=merge.entity,
            survivor_id=merge.survivor_id,
            merged_ids=list(merge.merged_ids),
            survivor_version=merge.survivor_version,
            choices=dict(merge.snapshot.get("choices") or {}),
            kept=dict(merge.snapshot.get("kept") or {}),
            created_at=merge.created_at,
            created_by=merge.created_by,
            undone_at=merge.undone_at,
            undone_by=merge.undone_by,
        )


class LeadMergeResult(BaseModel):
    merge: MergeOut
    # The survivor first, then the merged leads, as they are now.
    leads: list[LeadOut]


class CompanyMergeResult(BaseModel):
    merge: MergeOut
    # The survivor first, then the merged companies, as they are now.
    companies: list[CompanyOut]
