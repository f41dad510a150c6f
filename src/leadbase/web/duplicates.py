"""Console: /duplicates, the possible duplicates people decide on.

Each stored cluster (a scan's, or one the write path queued for review) is
shown side by side: one column per lead, one row per field, the rows whose
values differ marked. An editor keeps one lead (the survivor), picks per
differing field whose value it keeps (the radios start at what default
survivorship keeps), and merges; or says the leads are not duplicates
(dismiss), which later scans and writes remember. A merge's flash message
carries its Undo. Everything works as plain forms and redirects, without
script.

Writes go through ``dedupe.service`` in a unit of work acting as the
signed-in user; reads are a page of clusters and one query for their leads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from leadbase.errors import NotFoundError
from leadbase.http import support as http_support
from leadbase.leads import repository as leads_repository
from leadbase.models import DuplicateCluster, Merge, SalesLead
from leadbase.models.duplicate import CLUSTER_ACTIONS, CLUSTER_STATUSES
from leadbase.models.lead import LEAD_STATUSES
from leadbase.web import lead_detail, rendering
from leadbase.web.lead_detail import FormField
from leadbase.web.session import SignedIn

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
NAV_COUNT_CAP = 99  # the menu says "99+" past this: a bounded count on every page
_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
Cursor = Annotated[str | None, Query(pattern=_ID.pattern)]
StatusFilter = Annotated[str, Query(pattern="^(" + "|".join(CLUSTER_STATUSES) + ")$")]
ActionFilter = Annotated[str, Query(pattern="^(|" + "|".join(CLUSTER_ACTIONS) + ")$")]
STATUS_LABELS = {"open": "Open", "dismissed": "Not duplicates", "merged": "Merged"}
ACTION_LABELS = {"": "Any", "merge": "Merge", "review": "Review"}
# What a filtered page with nothing on it says.
NONE_TEXT = {
    "open": "No open possible duplicates",
    "dismissed": "No possible duplicates were marked as not duplicates",
    "merged": "No possible duplicates were merged",
}

# Kinds whose values are combined by a merge rather than picked: every list
# item is kept, and a flag is set when any lead has it.
COMBINED_KINDS = frozenset({"list", "checkbox"})
COMBINED_NOTE = {"list": "All kept", "checkbox": "Yes if any is"}


# --- queries (until dedupe.service has them) -------------------------------------


def clusters_page(
    session: Session, *, status: str, action: str, after: str | None, limit: int
) -> list[DuplicateCluster]:
    """Clusters of one status, highest score first (ties by id), after the
    cluster ``after``; ``action`` narrows to "merge" or "review"."""
    query = select(DuplicateCluster).where(
        DuplicateCluster.entity == "lead", DuplicateCluster.status == status
    )
    if action:
        query = query.where(DuplicateCluster.action == action)
    if after is not None:
        last = session.get(DuplicateCluster, after)
        if last is not None:
            query = query.where(
                or_(
                    DuplicateCluster.score < last.score,
                    and_(DuplicateCluster.score == last.score, DuplicateCluster.id > last.id),
                )
            )
    order = (DuplicateCluster.score.desc(), DuplicateCluster.id)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def open_cluster_count(session: Session, cap: int = NAV_COUNT_CAP) -> int:
    """Open clusters, counted up to ``cap + 1`` (over the status index)."""
    capped = (
        select(DuplicateCluster.id)
        .where(DuplicateCluster.status == "open", DuplicateCluster.entity == "lead")
        .limit(cap + 1)
        .subquery()
    )
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


def merge_by_id(session: Session, merge_id: str) -> Merge | None:
    return session.get(Merge, merge_id)


# --- one cluster, side by side ------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    lead_id: str
    value: Any  # as stored
    text: str  # as the page shows it ("" for empty)


@dataclass(frozen=True)
class FieldRow:
    """One field across the cluster's leads."""

    field: FormField
    cells: tuple[Cell, ...]
    differs: bool
    chosen: str  # the lead whose value the merge keeps by default

    @property
    def pickable(self) -> bool:
        return self.differs and self.field.kind not in COMBINED_KINDS

    @property
    def note(self) -> str:
        return COMBINED_NOTE.get(self.field.kind, "") if self.differs else ""


@dataclass(frozen=True)
class Gone:
    """A lead of the cluster that can no longer be merged, and why."""

    lead_id: str
    name: str
    why: str
    link: str | None  # where it went (merged into) or the lead itself


@dataclass
class ClusterView:
    cluster: DuplicateCluster
    leads: list[dict[str, Any]]  # the ones still active, survivor first
    gone: list[Gone]
    rows: list[FieldRow] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.cluster.id

    @property
    def survivor_id(self) -> str:
        return str(self.leads[0]["id"]) if self.leads else ""

    @property
    def mergeable(self) -> bool:
        return self.cluster.status == "open" and len(self.leads) >= 2

    @property
    def differing(self) -> list[FieldRow]:
        return [row for row in self.rows if row.differs]

    @property
    def reasons(self) -> str:
        return ", ".join(self.cluster.reasons or [])


def lead_name(lead: Mapping[str, Any]) -> str:
    return str(
        lead.get("full_name") or lead.get("email") or lead.get("company_name") or "(no name)"
    )


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {}, False)


def _completeness(lead: Mapping[str, Any]) -> int:
    return sum(1 for name in lead_detail.FORM_FIELDS if _filled(lead.get(name)))


def survivor_order(leads: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The lead kept by default first: the most complete, then the oldest."""
    return sorted(leads, key=lambda lead: (-_completeness(lead), lead["created_at"], lead["id"]))


def _status_rank(value: Any) -> int:
    return LEAD_STATUSES.index(value) if value in LEAD_STATUSES else -1


_VERIFIED_BY = {"email": "email_verified", "phone": "phone_verified"}


def default_choice(name: str, leads: Sequence[Mapping[str, Any]]) -> str:
    """The lead whose value a merge keeps for ``name`` unless told otherwise:
    the survivor's (``leads[0]``) when it has one, a verified email or phone
    over an unverified one, the most advanced status; else the first lead
    that has a value."""
    holders = [lead for lead in leads if _filled(lead.get(name))]
    if not holders:
        return str(leads[0]["id"])
    if name == "lead_status":
        return str(max(holders, key=lambda lead: _status_rank(lead.get(name)))["id"])
    flag = _VERIFIED_BY.get(name)
    if flag:
        verified = [lead for lead in holders if lead.get(flag)]
        holders = verified or holders
    return str(holders[0]["id"])


def _cell_text(form_field: FormField, value: Any) -> str:
    if form_field.kind == "checkbox":
        return "Yes" if value else "No"
    if form_field.kind == "tel" and value:
        return lead_detail.phone_text(value)
    if form_field.kind == "list" and form_field.item == "tel" and value:
        return ", ".join(lead_detail.phone_text(item) for item in value)
    if form_field.kind == "select" and value:
        return str(value).replace("_", " ").capitalize()
    return lead_detail.shown(form_field, value)


def field_rows(leads: Sequence[Mapping[str, Any]]) -> list[FieldRow]:
    """Every field some lead has, in the lead page's order; a field differs
    when the leads do not all show the same value."""
    rows = []
    for form_field in lead_detail.FORM_FIELDS.values():
        values = [lead.get(form_field.name) for lead in leads]
        if not any(_filled(value) for value in values):
            continue
        cells = tuple(
            Cell(str(lead["id"]), value, _cell_text(form_field, value))
            for lead, value in zip(leads, values, strict=True)
        )
        differs = len({cell.text for cell in cells}) > 1
        chosen = default_choice(form_field.name, leads)
        rows.append(FieldRow(form_field, cells, differs, chosen))
    return rows


def _gone(lead_id: str, lead: Mapping[str, Any] | None) -> Gone | None:
    if lead is None:
        return Gone(lead_id, lead_id, "no longer exists", None)
    if lead.get("merged_into_id"):
        target = f"/leads/{lead['merged_into_id']}"
        return Gone(lead_id, lead_name(lead), "was merged into another lead", target)
    if lead.get("is_deleted"):
        return Gone(lead_id, lead_name(lead), "was deleted", f"/leads/{lead_id}")
    return None


def cluster_view(cluster: DuplicateCluster, rows: Mapping[str, Mapping[str, Any]]) -> ClusterView:
    active: list[Mapping[str, Any]] = []
    gone: list[Gone] = []
    for lead_id in cluster.lead_ids:
        lead = rows.get(lead_id)
        left = _gone(lead_id, lead)
        if left is not None:
            gone.append(left)
        elif lead is not None:
            active.append(lead)
    leads = [dict(lead) for lead in survivor_order(active)]
    return ClusterView(cluster, leads, gone, field_rows(leads))


def lead_rows(session: Session, lead_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found = leads_repository.get_many(session, list(dict.fromkeys(lead_ids)))
    columns = [column.key for column in SalesLead.__table__.columns]
    return {lead_id: {c: getattr(lead, c) for c in columns} for lead_id, lead in found.items()}


def cluster_views(session: Session, clusters: Sequence[DuplicateCluster]) -> list[ClusterView]:
    """The clusters with their leads, read in one query."""
    rows = lead_rows(session, [lead_id for c in clusters for lead_id in c.lead_ids])
    return [cluster_view(cluster, rows) for cluster in clusters]


# --- flash messages ------------------------------------------------------------------

FLASH_PARAMS = ("done", "merge", "error")
ERRORS = {
    "conflict": (
        "Someone changed these leads while you were deciding: nothing was merged. "
        "Check the leads again and retry."
    ),
    "gone": "One of these leads was deleted or merged meanwhile: nothing was changed.",
    "invalid": "Choose a lead to keep, and for each field a value from one of the leads.",
    "not-latest": (
        "That merge can no longer be undone here: a later merge of the same lead "
        "comes first. Undo it from the lead's page."
    ),
    "undone": "That merge was already undone.",
    "undo-refused": (
        "The merge cannot be undone: the kept lead was changed after it "
        "(undoing would lose that change)."
    ),
}


@dataclass(frozen=True)
class Flash:
    kind: str  # an .alert-* class
    message: str
    merge: Merge | None = None  # for an Undo button, or links to the leads
    names: dict[str, str] = field(default_factory=dict)  # lead id -> name


def _plural(count: int, word: str = "lead") -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def flash(session: Session, params: Mapping[str, str]) -> Flash | None:
    """What the last action did. Codes and ids from the URL, never text: a
    link cannot make the page say something else."""
    error = ERRORS.get(params.get("error", ""))
    if error:
        return Flash("error", error)
    done = params.get("done", "")
    if done == "dismissed":
        return Flash(
            "success", "Marked as not duplicates: they will not be suggested together again."
        )
    merge_id = params.get("merge", "")
    merge = merge_by_id(session, merge_id) if _ID.match(merge_id) else None
    if merge is None or done not in ("merged", "unmerged"):
        return None
    names = {
        lead_id: lead_name(row)
        for lead_id, row in lead_rows(session, [merge.survivor_id, *merge.merged_ids]).items()
    }
    survivor = names.get(merge.survivor_id, merge.survivor_id)
    if done == "merged":
        message = f"Merged {_plural(len(merge.merged_ids))} into {survivor}."
        return Flash("success", message, merge, names)
    others = _plural(len(merge.merged_ids), "other lead")
    message = f"Merge undone: {survivor} and {others} are apart again."
    return Flash("success", message, merge, names)


# --- pages ---------------------------------------------------------------------------


def _list_url(**params: str | None) -> str:
    given = {name: value for name, value in params.items() if value}
    return "/duplicates" + ("?" + urlencode(given) if given else "")


def _read_list(
    request: Request, status: str, action: str, cursor: str | None
) -> tuple[list[ClusterView], bool, Flash | None]:
    with http_support.database(request).read_session() as session:
        clusters = clusters_page(
            session, status=status, action=action, after=cursor, limit=PAGE_SIZE + 1
        )
        views = cluster_views(session, clusters[:PAGE_SIZE])
        shown_flash = flash(session, request.query_params)
    return views, len(clusters) > PAGE_SIZE, shown_flash


@router.get("/duplicates")
async def duplicates_page(
    request: Request,
    user: SignedIn,
    status: StatusFilter = "open",
    action: ActionFilter = "",
    cursor: Cursor = None,
) -> Response:
    """The clusters of one status (open by default), highest score first."""
    views, more, shown_flash = await run_in_threadpool(_read_list, request, status, action, cursor)
    shown_status = None if status == "open" else status
    filters = {"status": shown_status, "action": action}
    context: dict[str, Any] = {
        "clusters": views,
        "flash": shown_flash,
        "status": status,
        "action": action,
        "statuses": list(STATUS_LABELS.items()),
        "actions": list(ACTION_LABELS.items()),
        "narrowed": bool(shown_status or action),
        "next_url": _list_url(**filters, cursor=views[-1].id) if more else None,
        "first_url": _list_url(**filters) if cursor else None,
        "current_url": _list_url(**filters, cursor=cursor),
        "single": None,
    }
    return _render(request, user, context)


def _read_one(request: Request, cluster_id: str) -> tuple[ClusterView, Flash | None]:
    with http_support.database(request).read_session() as session:
        cluster = session.get(DuplicateCluster, cluster_id) if _ID.match(cluster_id) else None
        if cluster is None or cluster.entity != "lead":
            raise NotFoundError(f"possible duplicate {cluster_id[:64]} not found")
        [view] = cluster_views(session, [cluster])
        return view, flash(session, request.query_params)


@router.get("/duplicates/{cluster_id}")
async def cluster_page(request: Request, user: SignedIn, cluster_id: str) -> Response:
    """One cluster on its own: where a lead's page links to."""
    view, shown_flash = await run_in_threadpool(_read_one, request, cluster_id)
    context: dict[str, Any] = {
        "clusters": [view],
        "flash": shown_flash,
        "status": view.cluster.status,
        "action": "",
        "statuses": list(STATUS_LABELS.items()),
        "actions": list(ACTION_LABELS.items()),
        "narrowed": False,
        "next_url": None,
        "first_url": None,
        "current_url": f"/duplicates/{view.id}",
        "single": view,
    }
    return _render(request, user, context)


def _render(request: Request, user: Any, context: dict[str, Any]) -> Response:
    context.update(
        user=user,
        status_labels=STATUS_LABELS,
        none_text=NONE_TEXT,
        action_labels=ACTION_LABELS,
        iso=lead_detail.iso,
        lead_name=lead_name,
    )
    return rendering.render(request, "duplicates.html", context)


# --- where an action goes back to -----------------------------------------------------


def safe_return(value: object) -> str:
    """A /duplicates page the form came from, never another site."""
    if not isinstance(value, str) or len(value) > 2000:
        return "/duplicates"
    path = urlsplit(value).path
    if value.startswith("/duplicates") and not value.startswith("//") and path.count("/") <= 2:
        return value
    return "/duplicates"


def back_to(return_to: object, **params: str) -> RedirectResponse:
    """303 to the page the action came from, with the outcome's codes."""
    parts = urlsplit(safe_return(return_to))
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in FLASH_PARAMS
    ]
    query += [(name, value) for name, value in params.items() if value]
    return RedirectResponse(parts.path + ("?" + urlencode(query) if query else ""), 303)


def nav_count(session: Session) -> str:
    """The open clusters as the menu shows them: "", "3", "99+"."""
    count = open_cluster_count(session)
    if count > NAV_COUNT_CAP:
        return f"{NAV_COUNT_CAP}+"
    return str(count) if count else ""


rendering.NAV_COUNTS["/duplicates"] = nav_count
