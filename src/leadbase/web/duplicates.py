"""Console: /duplicates, the possible duplicates people decide on.

Each stored cluster (a scan's, or one the write path queued for review) is
shown side by side: one column per lead, one row per field, the rows whose
values differ marked. An editor keeps one lead (the survivor), picks per
differing field whose value it keeps (the radios start at what default
survivorship keeps), and merges; or says the leads are not duplicates
(dismiss), which later scans and writes remember. A merge's flash message
carries its Undo. Everything works as plain forms and redirects, without
script.

Writes go through ``duplicates.service`` in a unit of work acting as the
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
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from leadbase.db import UnitOfWork
from leadbase.duplicates import service as duplicates_service
from leadbase.duplicates.survivorship import GROUPS, NOT_CHOOSABLE, survive
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.http import support as http_support
from leadbase.leads import repository as leads_repository
from leadbase.models import DuplicateCluster, Merge, SalesLead
from leadbase.models.duplicate import CLUSTER_ACTIONS, CLUSTER_STATUSES
from leadbase.web import lead_detail, rendering
from leadbase.web.lead_detail import FormField
from leadbase.web.session import Editor, SignedIn

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

# Fields a merge makes from every lead's values rather than one lead's
# (duplicates.survivorship.survive): no choice to make, the row says what happens.
COMBINED = {
    "additional_emails": "All kept, with the emails not kept above",
    "additional_phones": "All kept, with the phones not kept above",
    "tags": "All kept",
    "notes": "Joined",
    "verified": "Yes if any is",
    "is_manual": "Yes if any is",
}
# A field of a group moves with the others of its group (a name, an
# address...): one choice per group, made on its first differing row.
GROUP_OF = {name: group for group, names in GROUPS.items() for name in names}


# --- queries duplicates.service has no function for -------------------------------------


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
    merge = session.get(Merge, merge_id)
    return merge if merge is not None and merge.entity == "lead" else None


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
    pickable: bool = False  # this row's radios choose (for its group, if any)
    note: str = ""  # what the merge does instead of a choice here


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


def default_winners(leads: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Field -> the lead whose value a merge keeps when nobody chooses:
    duplicates.survivorship, the first lead kept; except that a
    value beats none. (survive counts a group's false flag, phone_verified
    say, as a value: a kept lead without a phone would keep none.)"""
    winners = survive(leads).winners
    by_id = {str(lead["id"]): lead for lead in leads}
    for names in GROUPS.values():
        winner = winners.get(names[0])
        if winner is None or _holds(by_id[winner], names):
            continue
        holder = next((lead for lead in leads if _holds(lead, names)), None)
        if holder is not None:
            winners.update(dict.fromkeys(names, str(holder["id"])))
    return winners


def _holds(lead: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Whether the lead has a value (not just a flag) among ``names``."""
    return any(_filled(lead.get(name)) and not isinstance(lead.get(name), bool) for name in names)


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
    when the leads do not all show the same value. The radios of a group
    sit on its first differing row; its other rows go with it."""
    winners = default_winners(leads) if len(leads) > 1 else {}
    rows: list[FieldRow] = []
    picked_on: dict[str, str] = {}  # group -> the label of the row choosing for it
    for form_field in lead_detail.FORM_FIELDS.values():
        name = form_field.name
        values = [lead.get(name) for lead in leads]
        if not any(_filled(value) for value in values):
            continue
        cells = tuple(
            Cell(str(lead["id"]), value, _cell_text(form_field, value))
            for lead, value in zip(leads, values, strict=True)
        )
        differs = len({cell.text for cell in cells}) > 1
        chosen = winners.get(name, str(leads[0]["id"]))
        group = GROUP_OF.get(name, "")
        pickable, note = False, ""
        if differs and name in COMBINED:
            note = COMBINED[name]
        elif differs and group in picked_on:
            note = f"Goes with {picked_on[group]}"
        elif differs and name not in NOT_CHOOSABLE:
            pickable = True
            if group:
                picked_on[group] = form_field.label.lower()
        rows.append(FieldRow(form_field, cells, differs, chosen, pickable, note))
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
    "decided": "These leads were merged meanwhile: there is nothing left to dismiss.",
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
        # The cursor is the last cluster shown: the page goes on after its
        # place (after one that does not exist, nothing).
        page = duplicates_service.list_clusters(
            session, status=status, action=action or None, limit=PAGE_SIZE, after=cursor
        )
        views = cluster_views(session, page.items)
        shown_flash = flash(session, request.query_params)
    return views, page.next_after is not None, shown_flash


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
        if not _ID.match(cluster_id):
            raise NotFoundError(f"possible duplicate {cluster_id[:64]} not found")
        try:
            cluster = duplicates_service.get_cluster(session, cluster_id)
        except NotFoundError:
            raise NotFoundError(f"possible duplicate {cluster_id} not found") from None
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


# --- merge, dismiss, undo ----------------------------------------------------------------

CHOICE_PREFIX = "choice."
VERSION_PREFIX = "version."


@dataclass(frozen=True)
class MergeRequest:
    """A cluster's form as posted: the leads shown (and the version each was
    shown at), the one to keep, and the values picked."""

    lead_ids: list[str]
    survivor_id: str
    choices: dict[str, str]
    versions: dict[str, int]

    @classmethod
    def from_form(cls, form: FormData) -> MergeRequest | None:
        """None when the post does not make a merge (a survivor or a choice
        that is not one of the leads shown)."""
        lead_ids = list(dict.fromkeys(v for v in form.getlist("lead") if isinstance(v, str)))
        survivor = form.get("survivor")
        choices: dict[str, str] = {}
        versions: dict[str, int] = {}
        for key, value in form.multi_items():
            if not isinstance(value, str):
                continue
            if key.startswith(CHOICE_PREFIX):
                choices[key.removeprefix(CHOICE_PREFIX)] = value
            elif key.startswith(VERSION_PREFIX) and value.isdigit():
                versions[key.removeprefix(VERSION_PREFIX)] = int(value)
        shown = set(lead_ids)
        if not isinstance(survivor, str) or survivor not in shown or len(shown) < 2:
            return None
        if not set(choices.values()) <= shown or not set(versions) <= shown:
            return None
        return cls(lead_ids, survivor, choices, versions)

    @property
    def others(self) -> list[str]:
        return [lead_id for lead_id in self.lead_ids if lead_id != self.survivor_id]


def merge_cluster_leads(uow: UnitOfWork, cluster_id: str, sent: MergeRequest) -> Merge:
    """Merge the leads shown of the cluster; the cluster is resolved with it
    when they are all of its leads (some may have been deleted or merged
    since the scan: the merge then leaves the cluster open, to dismiss)."""
    cluster = duplicates_service.get_cluster(uow.session, cluster_id)
    if not set(sent.lead_ids) <= set(cluster.lead_ids):
        raise ValidationError("lead", "every lead merged must be one of the cluster's")
    whole = set(cluster.lead_ids) <= set(sent.lead_ids)
    return duplicates_service.merge_leads(
        uow,
        sent.survivor_id,
        sent.others,
        sent.choices,
        cluster_id=cluster_id if whole else None,
        expected_versions=sent.versions,
    )


@router.post("/duplicates/{cluster_id}/merge")
async def merge_cluster(request: Request, user: Editor, cluster_id: str) -> Response:
    """Merge a cluster's leads into the one kept, with the values picked."""
    form = await request.form()
    return_to = form.get("return_to")
    sent = MergeRequest.from_form(form)
    if sent is None:
        return back_to(return_to, error="invalid")
    try:
        merge = await http_support.write(
            request, user.principal, lambda uow: merge_cluster_leads(uow, cluster_id, sent)
        )
    except ConflictError:
        return back_to(return_to, error="conflict")
    except NotFoundError:
        return back_to(return_to, error="gone")
    except ValidationError:
        return back_to(return_to, error="invalid")
    return back_to(return_to, done="merged", merge=merge.id)


@router.post("/duplicates/{cluster_id}/dismiss")
async def dismiss_cluster(request: Request, user: Editor, cluster_id: str) -> Response:
    """Not duplicates: remembered, so they are never suggested together again."""
    form = await request.form()
    return_to = form.get("return_to")
    try:
        await http_support.write(
            request, user.principal, lambda uow: duplicates_service.dismiss_cluster(uow, cluster_id)
        )
    except ConflictError:  # merged meanwhile
        return back_to(return_to, error="decided")
    return back_to(return_to, done="dismissed")


class NotLatestMergeError(ConflictError):
    """The merge asked for is not the one an unmerge of its lead would undo."""


class AlreadyUndoneError(ConflictError):
    """The merge asked for was undone already (a second click, another tab)."""


def undo_merge(uow: UnitOfWork, merge_id: str) -> Merge:
    """Undo exactly this merge: refused (and rolled back) when a later merge
    of its leads would be undone instead."""
    merge = merge_by_id(uow.session, merge_id)
    if merge is None:
        raise NotFoundError(f"merge {merge_id[:64]} not found")
    if merge.undone_at is not None:
        raise AlreadyUndoneError(f"merge {merge_id} was undone already")
    undone = duplicates_service.unmerge(uow, merge.survivor_id)
    if undone.id != merge.id:
        raise NotLatestMergeError(f"merge {merge_id} is not the latest merge of its lead")
    return undone


def _undo_refusal(exc: ConflictError) -> str:
    if isinstance(exc, NotLatestMergeError):
        return "not-latest"
    return "undone" if isinstance(exc, AlreadyUndoneError) else "undo-refused"


@router.post("/duplicates/unmerge")
async def unmerge(request: Request, user: Editor) -> Response:
    """A merge's Undo (its flash message, or the lead page's merge history):
    every lead, event and source back as it was before."""
    form = await request.form()
    merge_id = form.get("merge_id")
    return_to = form.get("return_to")
    to_lead = form.get("back") == "lead"
    if not isinstance(merge_id, str) or not _ID.match(merge_id):
        raise ValidationError("merge_id", "name the merge to undo")
    try:
        merge = await http_support.write(
            request, user.principal, lambda uow: undo_merge(uow, merge_id)
        )
    except ConflictError as exc:
        if to_lead:
            raise  # the lead page's actions fail as an error page
        return back_to(return_to, error=_undo_refusal(exc))
    if to_lead:
        return RedirectResponse(f"/leads/{merge.survivor_id}?notice=unmerged", status_code=303)
    return back_to(return_to, done="unmerged", merge=merge.id)


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
