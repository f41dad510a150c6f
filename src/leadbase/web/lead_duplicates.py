"""The lead page's duplicate parts: its possible duplicates (open clusters
it is in, each linking to the cluster on /duplicates), its merge history
(with an Undo for the merge an unmerge would undo now), and the note shown
after following a merged lead's page to the lead it went into.

Read in the lead page's own read session (web/lead_detail.read_lead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from leadbase.duplicates import service as duplicates_service
from leadbase.leads import repository as leads_repository
from leadbase.models import DuplicateCluster, Merge


@dataclass(frozen=True)
class LeadLink:
    id: str
    name: str


@dataclass(frozen=True)
class PossibleDuplicate:
    cluster: DuplicateCluster
    others: list[LeadLink]

    @property
    def reasons(self) -> str:
        return ", ".join(self.cluster.reasons or [])


@dataclass(frozen=True)
class MergeItem:
    merge: Merge
    survivor: LeadLink
    merged: list[LeadLink]
    into_this: bool  # this lead is the survivor
    undoable: bool  # the merge an Undo here undoes, and it still can be
    blocked: str = ""  # why it cannot be undone any more


@dataclass(frozen=True)
class LeadDuplicates:
    possible: list[PossibleDuplicate] = field(default_factory=list)
    merges: list[MergeItem] = field(default_factory=list)
    merged_from: LeadLink | None = None  # the merged lead whose page sent the user here

    @property
    def any(self) -> bool:
        return bool(self.possible or self.merges or self.merged_from)


def _name(row: Any) -> str:
    return str(row.full_name or row.email or row.company_name or "(no name)")


def _names(session: Session, lead_ids: Sequence[str]) -> dict[str, str]:
    found = leads_repository.get_many(session, list(dict.fromkeys(lead_ids)))
    return {lead_id: _name(lead) for lead_id, lead in found.items()}


def _merge_items(
    merges: Sequence[Merge], lead: Mapping[str, Any], names: Mapping[str, str]
) -> list[MergeItem]:
    """Newest first; the first merge not undone is the one an unmerge of this
    lead undoes, and only while the kept lead is as that merge left it."""

    def link(lead_id: str) -> LeadLink:
        return LeadLink(lead_id, names.get(lead_id, lead_id))

    latest = next((merge for merge in merges if merge.undone_at is None), None)
    items = []
    for merge in merges:
        into_this = merge.survivor_id == lead["id"]
        blocked = ""
        if merge is latest and into_this and lead["version"] != merge.survivor_version:
            blocked = "This lead changed after the merge, so undoing it would lose that change."
        items.append(
            MergeItem(
                merge=merge,
                survivor=link(merge.survivor_id),
                merged=[link(lead_id) for lead_id in merge.merged_ids],
                into_this=into_this,
                undoable=merge is latest and not blocked,
                blocked=blocked,
            )
        )
    return items


def read(
    session: Session, lead: Mapping[str, Any], merged_from: str | None = None
) -> LeadDuplicates:
    """The lead's possible duplicates and merges, and the merged lead it was
    reached from (only when that lead really was merged into this one: the
    URL names an id, never text to show)."""
    lead_id = str(lead["id"])
    merged = bool(lead.get("merged_into_id"))
    clusters = [] if merged else duplicates_service.clusters_for_lead(session, lead_id)
    merges = duplicates_service.merges_for_lead(session, lead_id)
    wanted = [i for c in clusters for i in c.lead_ids]
    wanted += [i for m in merges for i in (m.survivor_id, *m.merged_ids)]
    came_from = None
    if merged_from and len(merged_from) <= 64:
        came_from = leads_repository.get(session, merged_from, include_deleted=True)
    if came_from is not None and came_from.merged_into_id != lead_id:
        came_from = None
    names = _names(session, wanted)
    possible = [
        PossibleDuplicate(
            cluster,
            [LeadLink(i, names[i]) for i in cluster.lead_ids if i != lead_id and i in names],
        )
        for cluster in clusters
    ]
    return LeadDuplicates(
        possible=possible,
        merges=_merge_items(merges, lead, names),
        merged_from=LeadLink(came_from.id, _name(came_from)) if came_from else None,
    )
