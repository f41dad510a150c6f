"""Console: the /leads explorer.

Everything a list shows (filters, search, sort and which page) lives in the
URL's query, so a list can be shared, bookmarked and walked with the back
button. Pages are keyset pages of the queries GET /api/v1/leads runs. A page
link names a lead rather than an offset (``after=<id>``: the page starts
right after that lead in the sort order; ``before=<id>``: it ends right
before it), and the lead's own row gives the position, so every page, forward
or back, is an index range even on a million leads, and no cursor format is
shared with the API.

Editors select rows and act on them in bulk (delete, restore, re-enrich, add
a tag) through the one write path, in one unit of work acting as themselves:
the rows they ticked, or every lead the list matches (up to SELECT_ALL_CAP).

The page also shows how many leads match (exact up to TOTAL_CAP, then
"10,000+": the count stops there, so it stays cheap on a million leads), the
columns the user chose (or a saved view's), and sorts by a header click.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import RowMapping
from sqlalchemy.orm import Session
from starlette.responses import Response

from leadbase.db import UnitOfWork, serialize_writers
from leadbase.errors import ValidationError
from leadbase.http.support import database, write
from leadbase.leads import listing, repository, service
from leadbase.leads.repository import Position, Sort
from leadbase.models import SalesLead
from leadbase.models.lead import ENRICHMENT_STATUSES, LEAD_STATUSES
from leadbase.views import repository as views_repository
from leadbase.views.schemas import (
    DEFAULT_LEAD_COLUMNS,
    LEAD_COLUMNS,
    LEADS,
    NAME_COLUMN,
    Column,
    ViewLink,
)
from leadbase.web import pages, rendering
from leadbase.web.session import ConsoleUser, Editor, SignedIn

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_BULK = 500  # ticked rows in one post
SELECT_ALL_CAP = 5000  # "select all matching" acts on at most this many leads
TOTAL_CAP = 10_000  # the total is exact up to here, then "10,000+"
QUICK_CAP = 1_000  # counted first, always: cheap whatever the filters
COUNT_BUDGET_SECONDS = 0.025  # past QUICK_CAP, the count up to TOTAL_CAP may take this long
ID_LENGTH = 36

DEFAULT_SORT = "-created_at"
SORTS: dict[str, str] = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "-updated_at": "Recently updated",
    "updated_at": "Least recently updated",
    "-lead_score": "Highest score",
    "lead_score": "Lowest score",
    "full_name": "Name A to Z",
    "-full_name": "Name Z to A",
}
MANUAL_CHOICES = {"true": "Manual only", "false": "Not manual"}
# The filter form's fields, in the order URLs list them.
FORM_FIELDS = (
    "q",
    "is_manual",
    "enrichment_status",
    "lead_status",
    "source",
    "country",
    "tag",
    "sort",
    "include_deleted",
)
# Filters behind "More filters" (the bar shows search, status and source).
MORE_FILTERS = ("is_manual", "enrichment_status", "country", "tag", "include_deleted")
# A header click sorts by its field in this direction first, then reverses.
FIRST_DIRECTION = {"full_name": "", "lead_score": "-", "created_at": "-", "updated_at": "-"}
# The longest value each free-text field takes (as the API's list does).
TEXT_LIMITS = {"q": 200, "source": 50, "country": 100, "tag": 50}
LABELS = {
    "q": "Search",
    "is_manual": "Manual",
    "enrichment_status": "Enrichment",
    "lead_status": "Status",
    "source": "Source",
    "country": "Country",
    "tag": "Tag",
    "sort": "Sort",
    "include_deleted": "Show deleted",
    "cursor": "Page",
    "view": "Saved view",
}


# --- what the URL asks for ------------------------------------------------------------


@dataclass
class ListView:
    """The list a URL asks for: the form's values as given ("" = not set),
    what they mean for the repository, and what was wrong with them."""

    form: dict[str, str]
    filters: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    sort: Sort = field(default_factory=lambda: Sort.parse(DEFAULT_SORT))
    after: str | None = None
    before: str | None = None
    view_id: str | None = None  # the saved view the list was opened as

    @property
    def q(self) -> str | None:
        return self.form["q"] or None

    @property
    def tag(self) -> str | None:
        return self.form["tag"] or None

    @property
    def include_deleted(self) -> bool:
        return self.form["include_deleted"] == "true"

    @property
    def narrowed(self) -> bool:
        """Whether anything but the sort narrows (or widens) the list."""
        return any(self.form[name] for name in FORM_FIELDS if name != "sort")

    @property
    def more_filters_set(self) -> int:
        """How many of the filters behind "More filters" narrow the list."""
        return sum(1 for name in MORE_FILTERS if self.form[name])

    def query(self, **changes: str) -> list[tuple[str, str]]:
        """The list's filters and sort as URL parameters (no page, no view)."""
        form = {**self.form, **changes}
        return [
            (name, form[name])
            for name in FORM_FIELDS
            if form[name] and not (name == "sort" and form[name] == DEFAULT_SORT)
        ]

    @property
    def query_string(self) -> str:
        return urlencode(self.query())

    def url(self, **cursor: str | None) -> str:
        """This list's URL, at the page ``cursor`` names (the first without one)."""
        query = self.query()
        if self.view_id:
            query.append(("view", self.view_id))
        query += [(name, value) for name, value in cursor.items() if value]
        return "/leads" + ("?" + urlencode(query) if query else "")

    def active_more_filters(self) -> list[tuple[str, str, str]]:
        """(label, value shown, URL without it) of each filter set behind
        "More filters": chips under the bar say what narrows the list."""
        chips = []
        for name in MORE_FILTERS:
            value = self.form[name]
            if not value or name in self.errors:
                continue
            shown = {"is_manual": MANUAL_CHOICES.get(value, value), "include_deleted": "yes"}.get(
                name, value.replace("_", " ")
            )
            query = self.query(**{name: ""})
            if self.view_id:
                query.append(("view", self.view_id))
            chips.append(
                (LABELS[name], shown, "/leads" + ("?" + urlencode(query) if query else ""))
            )
        return chips

    def sort_url(self, field_name: str) -> str:
        """The first page sorted by ``field_name``: in its first direction,
        or reversed when the list is already sorted by it."""
        if self.sort.field == field_name:
            spec = field_name if self.sort.descending else f"-{field_name}"
        else:
            spec = FIRST_DIRECTION[field_name] + field_name
        query = self.query(sort=spec)
        if self.view_id:
            query.append(("view", self.view_id))
        return "/leads" + ("?" + urlencode(query) if query else "")

    def aria_sort(self, field_name: str) -> str:
        if self.sort.field != field_name:
            return ""
        return "descending" if self.sort.descending else "ascending"

    @property
    def current_url(self) -> str:
        return self.url(after=self.after, before=self.before)


def _shown(value: str) -> str:
    """A bad value as an error message quotes it: short."""
    return value if len(value) <= 40 else value[:40] + "…"


def parse_view(params: Mapping[str, str]) -> ListView:
    """Read the list's query. Bad values become messages, never a 500."""
    view = ListView(form={name: params.get(name, "").strip() for name in FORM_FIELDS})
    form, errors = view.form, view.errors
    for name, limit in TEXT_LIMITS.items():
        if len(form[name]) > limit:
            errors[name] = f"{LABELS[name]}: at most {limit} characters."
    for name in ("source", "country"):
        if form[name] and name not in errors:
            view.filters[name] = form[name]
    if form["is_manual"] in MANUAL_CHOICES:
        view.filters["is_manual"] = form["is_manual"] == "true"
    elif form["is_manual"]:
        errors["is_manual"] = "Manual: choose any, manual only (true) or not manual (false)."
    for name, allowed in (
        ("enrichment_status", ENRICHMENT_STATUSES),
        ("lead_status", LEAD_STATUSES),
    ):
        if form[name] in allowed:
            view.filters[name] = form[name]
        elif form[name]:
            errors[name] = (
                f"{LABELS[name]}: “{_shown(form[name])}” is not one of {', '.join(allowed)}."
            )
    if form["sort"] in SORTS:
        view.sort = Sort.parse(form["sort"])
    elif form["sort"]:
        errors["sort"] = f"Sort: “{_shown(form['sort'])}” is not a sort of this list."
    if form["include_deleted"] not in ("", "true"):
        errors["include_deleted"] = "Show deleted: true, or leave it out."
    _parse_cursor(view, params)
    return view


def _parse_cursor(view: ListView, params: Mapping[str, str]) -> None:
    view.after = params.get("after") or None
    view.before = params.get("before") or None
    if view.after and view.before:
        view.errors["cursor"] = "Page: a page link names after= or before=, not both."
    elif any(len(value) > ID_LENGTH for value in (view.after or "", view.before or "")):
        view.errors["cursor"] = BROKEN_LINK


# Without the "Page: " its label adds (LABELS["cursor"]) when shown.
BROKEN_LINK_WHY = "this page link is broken or out of date (it names no lead)."
BROKEN_LINK = f"Page: {BROKEN_LINK_WHY}"


# --- reading a page ---------------------------------------------------------------------


@dataclass(frozen=True)
class ListPage:
    rows: list[RowMapping]
    has_previous: bool
    has_next: bool


def read_page(session: Session, view: ListView) -> ListPage | None:
    """The page the view names; None when a ``before`` page is the first page
    (its URL is the list's, without a cursor)."""
    anchor = _anchor(session, view, view.after or view.before)
    if view.before and anchor is not None:
        preceding = _preceding(session, view, anchor, PAGE_SIZE + 1)
        if len(preceding) <= PAGE_SIZE:
            return None
        rows = list(reversed(preceding[:PAGE_SIZE]))
        # Forward from here lies at least the lead the link named.
        return ListPage(rows, has_previous=True, has_next=True)
    rows = _rows(session, view, view.sort, anchor, PAGE_SIZE + 1)
    # Past the end (the leads after the link's were deleted since), the
    # page offers the first page rather than a Previous from nowhere.
    has_previous = anchor is not None and bool(rows)
    return ListPage(rows[:PAGE_SIZE], has_previous=has_previous, has_next=len(rows) > PAGE_SIZE)


def _anchor(session: Session, view: ListView, lead_id: str | None) -> Position | None:
    """Where the lead a page link names stands in the view's order. Deleted
    leads too: a page may start after a lead deleted since."""
    if lead_id is None:
        return None
    row = repository.row_by_id(session, lead_id, include_deleted=True)
    if row is None:
        raise ValidationError("cursor", BROKEN_LINK_WHY)
    return Position(row[view.sort.key], row["id"])


def _rows(
    session: Session, view: ListView, sort: Sort, after: Position | None, limit: int
) -> list[RowMapping]:
    """Up to ``limit`` leads of the view past ``after`` in ``sort`` order:
    the same queries as GET /api/v1/leads."""
    return listing.page(session, _listing(session, view), sort=sort, after=after, limit=limit)


def _listing(session: Session, view: ListView) -> listing.Listing:
    """The view's filters as stored spellings: "fr" finds "France"."""
    return listing.resolve(
        session, view.filters, q=view.q, tag=view.tag, include_deleted=view.include_deleted
    )


def _preceding(session: Session, view: ListView, anchor: Position, limit: int) -> list[RowMapping]:
    """Up to ``limit`` leads before ``anchor`` in the view's order, nearest first.

    That is the reversed order read from the anchor, except that leads
    without a value of a nullable sort field (score, name) come last in
    either direction: before a valued anchor lie only valued leads, and
    before an empty one the empty leads nearer the start, then the valued
    leads from the end of theirs.
    """
    backwards = Sort(view.sort.field, not view.sort.descending)
    rows = _rows(session, view, backwards, anchor, limit)
    if anchor.value is not None:
        return _valued(view.sort, rows)
    if len(rows) < limit:  # the empty leads before an empty anchor, then the valued ones
        tail = _rows(session, view, backwards, None, limit - len(rows))
        rows += _valued(view.sort, tail)
    return rows


def _valued(sort: Sort, rows: list[RowMapping]) -> list[RowMapping]:
    """The leading rows that hold a value of ``sort``'s field: read
    backwards, a nullable sort runs on into the empty leads once the valued
    ones end, and those come after, not before."""
    if not sort.nullable:
        return rows
    return list(itertools.takewhile(lambda row: row[sort.key] is not None, rows))


# --- the page ----------------------------------------------------------------------------


def _options(values: Sequence[str]) -> list[tuple[str, str]]:
    return [("", "Any")] + [(value, value.replace("_", " ")) for value in values]


FORM_OPTIONS = {
    "is_manual": [("", "Any"), *MANUAL_CHOICES.items()],
    "enrichment_status": _options(ENRICHMENT_STATUSES),
    "lead_status": [("", "Any status")] + [(value, value) for value in LEAD_STATUSES],
}


@dataclass
class Shown:
    """What the page shows besides its rows: the columns, the total, the
    saved views, and the saved view it was opened as."""

    columns: list[Column]
    total: int | None = None
    total_cap: int = TOTAL_CAP  # a total above this shows as "cap+"
    views: list[ViewLink] = field(default_factory=list)
    saved_view: Any = None  # a SavedView, when opened as one
    count_seconds: float = 0.0  # what counting the total cost (Server-Timing)


def columns_from(keys: Sequence[str] | None) -> list[Column]:
    chosen = [LEAD_COLUMNS[key] for key in keys or () if key in LEAD_COLUMNS]
    return chosen if keys is not None else [LEAD_COLUMNS[key] for key in DEFAULT_LEAD_COLUMNS]


def total_text(total: int | None, cap: int | None = None) -> str:
    if total is None:
        return ""
    cap = TOTAL_CAP if cap is None else cap
    if total > cap:
        return f"{cap:,}+ leads"
    return "1 lead" if total == 1 else f"{total:,} leads"


def count_total(session: Session, view: ListView) -> tuple[int, int]:
    """(how many leads match, the cap it was counted to). Up to QUICK_CAP
    first; more, then up to TOTAL_CAP within COUNT_BUDGET_SECONDS. A count
    that runs out of time (two filters no one index answers, a common tag)
    leaves "1,000+": the page stays fast on a million leads."""
    wanted = _listing(session, view)
    q, tag, deleted = wanted.q, wanted.tag, wanted.include_deleted
    quick = repository.count_capped(
        session, wanted.filters, q=q, tag=tag, include_deleted=deleted, cap=QUICK_CAP
    )
    if quick <= QUICK_CAP:
        return quick, QUICK_CAP
    try:
        total = repository.count_capped_within(
            session,
            wanted.filters,
            q=q,
            tag=tag,
            include_deleted=deleted,
            cap=TOTAL_CAP,
            seconds=COUNT_BUDGET_SECONDS,
        )
    except repository.CountTookTooLong:
        return quick, QUICK_CAP
    return total, TOTAL_CAP


def _opened_view(session: Session, user: ConsoleUser, params: Mapping[str, str]) -> Any:
    """The saved view ``view=`` names, if the user may see it; None otherwise."""
    view_id = params.get("view", "")
    if not view_id or len(view_id) > ID_LENGTH:
        return None
    saved = views_repository.get(session, view_id)
    if saved is None or not views_repository.is_visible(saved, user.principal.user_id):
        return None
    return saved


def _with_view_query(params: Mapping[str, str], saved: Any) -> dict[str, str]:
    """A view opened with no filters of its own in the URL lists what the
    view saved; with some (a header sort, a refined filter), the URL's."""
    given = dict(params)
    if saved is None or any(name in given for name in FORM_FIELDS):
        return given
    return {**dict(parse_qsl(saved.query)), **given}


def _known_total(view: ListView, listing: ListPage | None) -> int | None:
    """A first page that is also the last holds every match: its rows are
    the total, with no count to run (rare filter combinations, which an
    index finds slowly, mostly end here)."""
    if listing is None or view.after or view.before or listing.has_next:
        return None
    return len(listing.rows)


def _read_shown(
    session: Session, user: ConsoleUser, view: ListView, saved: Any, known_total: int | None
) -> Shown:
    user_id = user.principal.user_id
    if saved is not None and saved.columns is not None:
        keys: list[str] | None = list(saved.columns)
    else:
        keys = views_repository.columns_of(session, user_id, LEADS)
    shown = Shown(columns=columns_from(keys), saved_view=saved)
    shown.views = views_repository.visible_to(session, user_id, LEADS)
    if known_total is not None:
        shown.total = known_total
    elif not view.errors:
        started = time.perf_counter()
        shown.total, shown.total_cap = count_total(session, view)
        shown.count_seconds = time.perf_counter() - started
    return shown


@router.get("/leads")
async def leads_page(request: Request, user: SignedIn) -> Response:
    started = time.perf_counter()
    db = database(request)
    listing: ListPage | None = None
    with db.read_session() as session:
        saved = _opened_view(session, user, request.query_params)
        view = parse_view(_with_view_query(request.query_params, saved))
        view.view_id = saved.id if saved is not None else None
        status = 422 if view.errors else 200
        try:
            if not view.errors:
                listing = read_page(session, view)
                if listing is None:
                    return RedirectResponse(view.url(), status_code=303)
            shown = _read_shown(session, user, view, saved, _known_total(view, listing))
        except ValidationError as exc:  # a broken page link, a search of too many words
            view.errors[exc.field] = (
                f"{LABELS.get(exc.field, exc.field)}: {exc.details[0]['message']}"
            )
            listing, status = None, 422
            shown = Shown(columns=columns_from(None), saved_view=saved)
    db_seconds = time.perf_counter() - started
    return _render(request, user, view, listing, shown, status_code=status, db_seconds=db_seconds)


def _render(
    request: Request,
    user: ConsoleUser,
    view: ListView,
    listing: ListPage | None,
    shown: Shown,
    *,
    status_code: int = 200,
    db_seconds: float = 0.0,
) -> Response:
    started = time.perf_counter()
    rows = listing.rows if listing else []
    saved = shown.saved_view
    values = pages.template_context(
        user,
        view=view,
        sort_view=view,
        form=view.form,
        errors=view.errors,
        options=FORM_OPTIONS,
        listing=listing,
        rows=rows,
        columns=shown.columns,
        name_column=NAME_COLUMN,
        all_columns=_chooser_order(shown.columns),
        column_keys=",".join(column.key for column in shown.columns),
        total=shown.total,
        total_text=total_text(shown.total, shown.total_cap),
        select_all_cap=SELECT_ALL_CAP,
        saved_view=saved,
        can_edit_view=saved is not None
        and (saved.owner_id == user.principal.user_id or user.role == "admin"),
        nav_views=shown.views,
        first_run=listing is not None and not rows and not view.narrowed and not view.after,
        first_page_url=view.url(),
        previous_url=view.url(before=rows[0]["id"]) if listing and listing.has_previous else "",
        next_url=view.url(after=rows[-1]["id"]) if listing and listing.has_next else "",
        flash=flash(request.query_params),
    )
    response = rendering.render(request, "leads/list.html", values, status_code=status_code)
    # What the page's own work cost (bench/console.py reads it): the
    # queries (the total's count among them) and the template.
    render_ms = (time.perf_counter() - started) * 1000
    response.headers["Server-Timing"] = (
        f"db;dur={db_seconds * 1000:.2f}, count;dur={shown.count_seconds * 1000:.2f}, "
        f"render;dur={render_ms:.2f}"
    )
    return response


def _chooser_order(chosen: list[Column]) -> list[tuple[Column, bool]]:
    """The column chooser's rows: the shown columns in order, then the rest."""
    keys = {column.key for column in chosen}
    rest = [column for column in LEAD_COLUMNS.values() if column.key not in keys]
    return [(column, True) for column in chosen] + [(column, False) for column in rest]


# --- flash messages after a bulk action ---------------------------------------------------

FLASH_PARAMS = ("done", "skipped", "error")
_DONE = re.compile(r"^(deleted|restored|enriched|tagged)-(\d{1,4})$")
_DONE_TEXT = {
    "deleted": "Deleted {leads}.",
    "restored": "Restored {leads}.",
    "enriched": "Started enriching {leads} again.",
    "tagged": "Tagged {leads}.",
}
_SKIPPED_WHY = {
    "deleted": "already deleted or not found",
    "restored": "not deleted or not found",
    "enriched": "deleted or not found",
    "tagged": "already tagged, deleted or not found",
}
BULK_ERRORS = {
    "none-selected": "Select at least one lead first.",
    "bad-tag": "Enter a tag of 1 to 50 characters to add.",
    "too-many": (
        "“Select all matching” acts on at most {cap:,} leads at once, "
        "and more match these filters: narrow them first (for example by status or source)."
    ),
}


@dataclass(frozen=True)
class Flash:
    kind: str  # an .alert-* class
    message: str


def _leads(count: int) -> str:
    return f"{count} lead" if count == 1 else f"{count} leads"


def flash(params: Mapping[str, str]) -> Flash | None:
    """The outcome of the bulk action that redirected here. Codes, never
    text from the URL: a link cannot make the page say something else."""
    error = BULK_ERRORS.get(params.get("error", ""))
    if error:
        return Flash("error", error.format(cap=SELECT_ALL_CAP))
    done = _DONE.match(params.get("done", ""))
    if done is None:
        return None
    action, count = done.group(1), int(done.group(2))
    message = _DONE_TEXT[action].format(leads=_leads(count))
    skipped = params.get("skipped", "")
    if skipped.isdigit() and 0 < int(skipped) <= SELECT_ALL_CAP:
        message += f" Skipped {_leads(int(skipped))}: {_SKIPPED_WHY[action]}."
    return Flash("success" if count else "warning", message)


# --- bulk actions ---------------------------------------------------------------------------

PAST_TENSE = {"delete": "deleted", "restore": "restored", "enrich": "enriched", "tag": "tagged"}


@dataclass(frozen=True)
class BulkOutcome:
    changed: int
    skipped: int


def _applies(action: str, lead: SalesLead, tag: str) -> bool:
    if action == "restore":
        return lead.is_deleted
    if lead.is_deleted:
        return False
    return action != "tag" or tag not in (lead.tags or [])


def apply_bulk(uow: UnitOfWork, action: str, lead_ids: Sequence[str], tag: str) -> BulkOutcome:
    """``action`` on those of the leads it applies to, through the write
    path; the others (unknown, already deleted, already tagged) are skipped."""
    # The write lock first: what is read below stays true until the commit
    # (on PostgreSQL a lead deleted meanwhile would fail the whole action).
    serialize_writers(uow.session)
    leads = repository.get_many(uow.session, lead_ids)
    chosen = [i for i in lead_ids if i in leads and _applies(action, leads[i], tag)]
    if action == "enrich":
        service.start_enrichment(uow, chosen)
    for lead_id in chosen:
        if action == "delete":
            service.soft_delete(uow, lead_id)
        elif action == "restore":
            service.restore(uow, lead_id)
        elif action == "tag":
            service.update(uow, lead_id, {"tags": [*(leads[lead_id].tags or []), tag]})
    return BulkOutcome(changed=len(chosen), skipped=len(lead_ids) - len(chosen))


def _every_match(session: Session, view: ListView) -> list[str] | None:
    """Ids of every lead the list matches, read in the action's own unit of
    work; None when more than SELECT_ALL_CAP match."""
    wanted = _listing(session, view)
    ids = repository.ids_matching(
        session,
        wanted.filters,
        q=wanted.q,
        tag=wanted.tag,
        include_deleted=wanted.include_deleted,
        limit=SELECT_ALL_CAP + 1,
    )
    return None if len(ids) > SELECT_ALL_CAP else ids


def safe_return(value: object) -> str:
    """Where a bulk action goes back to: a /leads list, never another site."""
    if not isinstance(value, str) or len(value) > 4000:
        return "/leads"
    return value if value == "/leads" or value.startswith("/leads?") else "/leads"


def back_to(return_to: object, **params: str) -> RedirectResponse:
    """303 to the list the action came from, with the outcome's flash codes."""
    parts = urlsplit(safe_return(return_to))
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in FLASH_PARAMS
    ]
    query += [(name, value) for name, value in params.items() if value]
    return RedirectResponse(parts.path + ("?" + urlencode(query) if query else ""), 303)


@router.post("/leads/bulk-action")
async def bulk_action(request: Request, user: Editor) -> Response:
    """Delete, restore, re-enrich or tag the selected leads (at most 500
    ticked), or every lead a list matches (``matching``: the list's query)."""
    form = await request.form()
    action = form.get("action")
    if not isinstance(action, str) or action not in PAST_TENSE:
        raise ValidationError("action", f"must be one of: {', '.join(PAST_TENSE)}")
    lead_ids = list(dict.fromkeys(v for v in form.getlist("ids") if isinstance(v, str) and v))
    if len(lead_ids) > MAX_BULK:
        raise ValidationError("ids", f"at most {MAX_BULK} leads at once")
    return_to = form.get("return_to")
    matching = form.get("matching")
    every_match = parse_view(dict(parse_qsl(matching))) if isinstance(matching, str) else None
    if every_match is not None and every_match.errors:
        raise ValidationError("matching", "; ".join(every_match.errors.values()))
    if not lead_ids and every_match is None:
        return back_to(return_to, error="none-selected")
    given_tag = form.get("tag")
    tag = given_tag.strip() if isinstance(given_tag, str) else ""
    if action == "tag" and not 1 <= len(tag) <= TEXT_LIMITS["tag"]:
        return back_to(return_to, error="bad-tag")

    def act(uow: UnitOfWork) -> BulkOutcome | None:
        serialize_writers(uow.session)  # what matches now is what is changed
        ids = lead_ids if every_match is None else _every_match(uow.session, every_match)
        if ids is None:
            return None
        return apply_bulk(uow, action, ids, tag)

    outcome = await write(request, user.principal, act)
    if outcome is None:
        return back_to(return_to, error="too-many")
    return back_to(
        return_to,
        done=f"{PAST_TENSE[action]}-{outcome.changed}",
        skipped=str(outcome.skipped) if outcome.skipped else "",
    )
