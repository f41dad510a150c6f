"""A lead's timeline, in words: what happened to it, newest first.

Two records feed it. Every change to a lead has an audit entry (who, when,
from where, every field's old and new value): the timeline tells each one
as a sentence ("Updated job title and city", "Enriched: filled company
name") that opens to the entry itself. Activities recorded against the lead
(``POST /leads/{id}/events``: a call, an email opened) and merges are in
lead_events and show as themselves; the write path no longer writes a
lead_events row beside each change (created, updated...): it would only
repeat the audit entry (rows older writes left are passed over).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadbase.leads.schemas import HistoryEntry
from leadbase.models import AuditLog, LeadEvent
from leadbase.models.lead import NOT_ON_TIMELINE

MAX_SHOWN = 500  # characters of one value in the history; the API has the rest
ENRICHMENT_FIELDS = frozenset({"enrichment_status", "enrichment_data", "enrichment_task_id"})
# Fields a sentence does not name (the company link is told in words).
QUIET_FIELDS = ENRICHMENT_FIELDS | {"company_id"}


@dataclass(frozen=True)
class Change:
    field: str  # as the page names it
    old: str
    new: str
    name: str = ""  # the lead field


class HistoryItem(HistoryEntry):
    """An audit entry, and its changes as the page shows them."""

    shown: list[Change]


@dataclass(frozen=True)
class Happening:
    """One line of the timeline."""

    at: datetime
    kind: str  # created, updated, enriched, deleted, restored, activity (a CSS class)
    title: str
    actor: str
    detail: str = ""
    entry: HistoryItem | None = None  # the audit entry it opens to
    changes: tuple[Change, ...] = ()  # the entry's changes this reader may see
    hidden: int = 0  # how many changes of internal fields were left out


def display(value: Any) -> str:
    """One value as the history shows it (empty string: nothing)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        text = ", ".join(display(item) for item in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def who(actor: str | None) -> str:
    """An actor as people read it: the user's email, or what the system did."""
    if not actor:
        return "someone"
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind == "system" and name:
        return f"{name.replace('_', ' ')} (automatic)"
    return actor


def history_item(entry: AuditLog, labels: Mapping[str, str]) -> HistoryItem:
    audit = HistoryEntry.from_audit(entry)
    shown = [
        Change(labels.get(name, name), display(old), display(new), name)
        for name, (old, new) in audit.changes.items()
        # A new lead's unset fields and unticked boxes say nothing.
        if not (audit.action == "create" and new in (None, False, "", []))
    ]
    return HistoryItem(**dict(audit), shown=shown)


def _listed(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _labelled(fields: Sequence[str], labels: Mapping[str, str]) -> list[str]:
    """Field names as the page labels them, in the page's order."""
    order = {name: i for i, name in enumerate(labels)}
    ordered = sorted(fields, key=lambda name: order.get(name, len(order)))
    return [labels.get(name, name.replace("_", " ")).lower() for name in ordered]


def told(entry: HistoryItem, labels: Mapping[str, str]) -> tuple[str, str]:
    """(kind, sentence) for one audit entry."""
    changes = entry.changes
    if entry.action == "create":
        return "created", "Created"
    if entry.action == "delete":
        return "deleted", "Deleted"
    if entry.action == "restore":
        return "restored", "Restored"
    others = _labelled([f for f in changes if f not in QUIET_FIELDS], labels)
    linked = "linked to its company" if (changes.get("company_id") or [None, None])[1] else ""
    status = changes.get("enrichment_status")
    if status:
        new = status[1]
        if new == "in_progress":
            return "enriched", "Enrichment started"
        if new == "failed":
            return "enriched", "Enrichment failed"
        if new == "completed":
            parts = [f"filled {_listed(others)}"] if others else []
            parts += [linked] if linked else []
            return "enriched", ("Enriched: " + "; ".join(parts)) if parts else "Enriched"
    if entry.action == "update":
        if others:
            return "updated", "Updated " + _listed(others) + (f"; {linked}" if linked else "")
        return "updated", linked.capitalize() if linked else "Updated enrichment details"
    return "updated", entry.action.replace("_", " ").capitalize()


def duration(seconds: Any) -> str:
    """A visit's length as people say it: 45 s, 2 min 5 s, 1 h 3 min."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return display(seconds)
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def activity_detail(event: LeadEvent) -> str:
    """An activity's outcome and what its data says (a web visit's page,
    page views and duration; a note), in one line."""
    data = event.event_data if isinstance(event.event_data, dict) else {}
    outcome = event.outcome or data.get("outcome")
    views = data.get("page_views")
    parts = [
        event.event_description or "",
        display(outcome).replace("_", " ") if outcome else "",
        display(data["page"]) if data.get("page") else "",
        f"{display(views)} page view{'s' if views != 1 else ''}" if views is not None else "",
        duration(data["duration_seconds"]) if data.get("duration_seconds") is not None else "",
        display(data["note"]) if data.get("note") else "",
    ]
    return " · ".join(part for part in parts if part)


def activity(event: LeadEvent) -> Happening:
    title = event.event_name or event.event_type.replace("_", " ").capitalize()
    detail = activity_detail(event)
    return Happening(_aware(event.event_timestamp), "activity", title, who(event.actor), detail)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def timeline(
    history: Sequence[HistoryItem],
    events: Sequence[LeadEvent],
    labels: Mapping[str, str],
    hidden: frozenset[str] = frozenset(),
) -> list[Happening]:
    """Everything that happened to the lead, newest first; changes to the
    ``hidden`` fields (internals, for admins only) are left out of each entry."""
    items = []
    for entry in history:
        kind, title = told(entry, labels)
        shown = tuple(change for change in entry.shown if change.name not in hidden)
        items.append(
            Happening(
                _aware(entry.at),
                kind,
                title,
                who(entry.actor),
                entry=entry,
                changes=shown,
                hidden=len(entry.shown) - len(shown),
            )
        )
    items += [activity(event) for event in events if event.event_type not in NOT_ON_TIMELINE]
    # Same instant: the later audit entry (higher seq) first; activities after changes.
    items.sort(key=lambda h: (h.at, h.entry.seq if h.entry else -1), reverse=True)
    return items
