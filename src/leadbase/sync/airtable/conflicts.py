"""Conflicts a pull found: a field changed both here and in Airtable.

The pull already applied one side (last-modified-wins) and kept both. A
person resolves a conflict by keeping the local values, the remote ones, or
choosing per field; the chosen values are written to the lead through the
one write path, as that person.

The link's base is left as it is: it holds what Airtable last had, so a
lead that now differs from it (the local side kept) is what the next push
sends, and a lead that matches it (the remote side kept) sends nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from leadbase import context
from leadbase.config import get_settings
from leadbase.db import Database, UnitOfWork
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import AirtableConflict, utcnow
from leadbase.sync.airtable import repository
from leadbase.sync.airtable.mapping import FieldMapping, load_mapping
from leadbase.sync.airtable.pull import lead_values, same

SIDES = ("local", "remote")
# A choice: keep every field's local or remote value, or {field: side}.
Choice = str | Mapping[str, str]


@dataclass(frozen=True)
class ConflictView:
    id: str
    lead_id: str
    lead_name: str | None
    record_id: str
    fields: dict[str, dict[str, Any]]
    applied: str
    status: str
    resolution: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    local_modified_at: datetime | None
    remote_modified_at: datetime | None
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _view(conflict: AirtableConflict, lead_name: str | None) -> ConflictView:
    return ConflictView(
        id=conflict.id,
        lead_id=conflict.lead_id,
        lead_name=lead_name,
        record_id=conflict.record_id,
        fields=dict(conflict.fields),
        applied=conflict.applied,
        status=conflict.status,
        resolution=conflict.resolution,
        resolved_by=conflict.resolved_by,
        resolved_at=conflict.resolved_at,
        local_modified_at=conflict.local_modified_at,
        remote_modified_at=conflict.remote_modified_at,
        created_at=conflict.created_at,
    )


def list_conflicts(
    database: Database, *, include_resolved: bool = False, limit: int = 100
) -> list[ConflictView]:
    """Open conflicts (every one with ``include_resolved``), newest first."""
    with database.read_session() as session:
        rows = repository.conflicts_with_leads(session, open_only=not include_resolved, limit=limit)
        return [_view(conflict, name) for conflict, name in rows]


def get(database: Database, conflict_id: str) -> ConflictView:
    with database.read_session() as session:
        conflict = repository.get_conflict(session, conflict_id)
        if conflict is None:
            raise NotFoundError(f"conflict {conflict_id} not found")
        lead = leads_repository.get(session, conflict.lead_id, include_deleted=True)
        return _view(conflict, lead.full_name if lead is not None else None)


def resolve(
    database: Database,
    conflict_id: str,
    choice: Choice,
    actor: str,
    *,
    mapping: FieldMapping | None = None,
) -> ConflictView:
    """:func:`apply_resolution` in its own unit of work, as ``actor`` (the CLI's way)."""
    with context.acting_as(actor), database.unit_of_work() as uow:
        apply_resolution(uow, conflict_id, choice, mapping=mapping)
    return get(database, conflict_id)


def apply_resolution(
    uow: UnitOfWork,
    conflict_id: str,
    choice: Choice,
    *,
    mapping: FieldMapping | None = None,
) -> AirtableConflict:
    """Keep ``"keep-local"``, ``"keep-remote"`` or per field (``{field:
    "local"|"remote"}``, by Airtable or lead field name; a field left out
    keeps the side the pull applied). The lead gets the chosen values, written
    as the one acting (``context``), in the caller's unit of work."""
    mapping = mapping or load_mapping(get_settings().airtable_mapping)
    conflict = repository.get_conflict(uow.session, conflict_id)
    if conflict is None:
        raise NotFoundError(f"conflict {conflict_id} not found")
    if conflict.status != "open":
        raise ConflictError(
            f"conflict {conflict_id} was resolved by {conflict.resolved_by} ({conflict.resolution})"
        )
    resolution, sides = _sides(conflict, choice, mapping)
    _write_choice(uow, conflict, sides, mapping)
    conflict.status = "resolved"
    conflict.resolution = resolution
    conflict.resolved_by = context.current().actor
    conflict.resolved_at = utcnow()
    return conflict


def _sides(
    conflict: AirtableConflict, choice: Choice, mapping: FieldMapping
) -> tuple[str, dict[str, str]]:
    """The resolution's name and the side kept for each conflicting field."""
    if isinstance(choice, str):
        side = {"keep-local": "local", "keep-remote": "remote"}.get(choice)
        if side is None:
            raise ValidationError("resolution", "keep-local, keep-remote, or a side per field")
        return choice, dict.fromkeys(conflict.fields, side)
    sides = dict.fromkeys(conflict.fields, conflict.applied)
    for name, side in choice.items():
        remote = name if name in conflict.fields else mapping.remote_name(name)
        if remote not in conflict.fields:
            raise ValidationError(
                f"fields.{name}",
                "not a field of this conflict; its fields are: " + ", ".join(conflict.fields),
            )
        if side not in SIDES:
            raise ValidationError(f"fields.{name}", "local or remote")
        sides[remote] = side
    return "per-field", sides


def _write_choice(
    uow: UnitOfWork, conflict: AirtableConflict, sides: Mapping[str, str], mapping: FieldMapping
) -> None:
    """Write the chosen values the lead does not hold; make sure a lead that
    now differs from Airtable's last values is pushed."""
    lead = leads_repository.get(uow.session, conflict.lead_id, include_deleted=True)
    if lead is None or lead.is_deleted:
        return  # gone here: nothing to write, and the push deletes the record
    chosen = {name: conflict.fields[name][side] for name, side in sides.items()}
    current = mapping.to_fields(lead)
    differing = [name for name, value in chosen.items() if not same(current.get(name), value)]
    if differing:
        leads_service.update(uow, lead.id, lead_values(mapping, chosen, differing))
        return
    link = repository.links_for_leads(uow.session, [lead.id]).get(lead.id)
    base = link.synced_fields if link is not None else {}
    if link is not None and any(not same(current.get(n), base.get(n)) for n in chosen):
        leads_service.mark_for_sync(uow, lead.id)
