"""Pull: what changed in Airtable lands on our leads, through the one write path.

A page of records (≤100) is one unit of work, written as ``system:airtable``.
Each record is compared field by field with its link's ``synced_fields``
(what both sides last agreed) and with the lead as it is now:

- remote == base: nothing came from Airtable for that field;
- remote != base, lead == base: Airtable changed it, it is applied;
- both changed, to different values: a conflict, decided by
  last-modified-wins and kept in ``airtable_conflicts`` either way.

Afterwards the link's base is the record's fields, so the push that follows
sends only what differs from Airtable (nothing for what came from it), and
our own pushed records, seen again here, are no-ops. A record we have no
link for becomes a lead through the import path (duplicates merged, so a
record matching a lead by email lands on it), and gets its link.

A full pull reads every record and then handles the links whose record is
gone: the lead is flagged (tag ``airtable-deleted``) or soft-deleted, by
setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadbase import audit, context
from leadbase.db import Database, UnitOfWork, chunked
from leadbase.errors import LeadbaseError
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import AirtableLink, SalesLead, utcnow
from leadbase.sync.airtable import repository, runs
from leadbase.sync.airtable.client import AirtableClient, AirtableError
from leadbase.sync.airtable.mapping import (
    FLAG_TAG,
    ID_FIELD,
    FieldMapping,
    modified_at,
)
from leadbase.sync.airtable.settings import AirtableConfig

ACTOR = context.system_actor("airtable")
SOURCE = "airtable"
# The cursor is the newest modification time seen; asking from a second
# before it re-reads a few records (no-ops) rather than miss one modified
# in the same second as the newest.
CURSOR_OVERLAP = timedelta(seconds=1)
# A listing restarted this often when its offset is gone, then the run fails.
LISTING_ATTEMPTS = 3
ITERATOR_GONE = "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"
# Reasons kept in the run's record: enough to find the records, not a log.
NOTED_FAILURES = 20

Progress = Callable[[int, int | None], None]
COUNTERS = (
    *("pulled", "created", "updated", "conflicts", "deleted", "failed", "skipped"),
    *("requests", "rate_limited", "retries"),
)


@dataclass
class PullResult:
    run_id: str
    kind: str
    pulled: int = 0
    created: int = 0
    updated: int = 0
    conflicts: int = 0
    deleted: int = 0
    failed: int = 0
    # Records whose lead was deleted here: left deleted (the push deletes them).
    skipped: int = 0
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    cursor: datetime | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    # Records read without a modification time: the table lacks MODIFIED_FIELD.
    untimed: int = 0

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTERS}

    def fail(self, record_id: str, reason: str) -> None:
        self.failed += 1
        self.failures.append((record_id, reason))


def pull(
    database: Database,
    config: AirtableConfig,
    *,
    client: AirtableClient | None = None,
    full: bool = False,
    progress: Progress | None = None,
) -> PullResult:
    """Pull the records changed since the last pull (all of them when ``full``
    or the first time) and apply them; returns the run's counts."""
    client = client or config.client()
    kind = "full-pull" if full else "pull"
    with database.read_session() as session:
        since = repository.last_pull_cursor(session)
    result = PullResult(runs.start(database, kind, ACTOR), kind, cursor=since)
    stats_before = client.stats.as_counts()
    try:
        with context.acting_as(ACTOR):
            seen = _pull_pages(database, config, client, None if full else since, result, progress)
            if full:
                _remote_deletes(database, config, seen, result)
    except BaseException as exc:  # Ctrl-C too: the run must not stay "running"
        _count_requests(result, client, stats_before)
        runs.finish(database, result.run_id, result.counts(), error=str(exc) or repr(exc))
        raise
    _count_requests(result, client, stats_before)
    runs.finish(database, result.run_id, result.counts(), cursor=result.cursor)
    if result.failures:
        with database.unit_of_work() as uow:
            repository.note_run(uow.session, result.run_id, _failure_note(result))
    return result


def changed_since(cursor: datetime) -> str:
    """The formula for records modified after ``cursor`` (less the overlap)."""
    start = (cursor - CURSOR_OVERLAP).astimezone(UTC)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start.microsecond // 1000:03d}Z"
    return f"IS_AFTER(LAST_MODIFIED_TIME(), '{stamp}')"


def _pull_pages(
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    since: datetime | None,
    result: PullResult,
    progress: Progress | None,
) -> set[str]:
    """Apply every page; the ids of the records seen. A listing whose offset
    the service no longer knows (expired, or spent by a request whose answer
    was lost) starts over: the pages already applied are no-ops now."""
    seen: set[str] = set()
    formula = changed_since(since) if since is not None else None
    for attempt in range(1, LISTING_ATTEMPTS + 1):
        try:
            for page in client.pages(formula=formula):
                with database.unit_of_work() as uow:
                    _apply_page(uow, config, page, result)
                _saw(page, seen, result)
                if progress is not None:
                    progress(result.pulled, None)
            return seen
        except AirtableError as exc:
            if exc.kind != ITERATOR_GONE or attempt == LISTING_ATTEMPTS:
                raise
    return seen


def _saw(page: Sequence[Mapping[str, Any]], seen: set[str], result: PullResult) -> None:
    seen.update(record["id"] for record in page)
    result.pulled = len(seen)
    for record in page:
        modified = modified_at(record)
        if modified is None:
            result.untimed += 1
        elif result.cursor is None or modified > result.cursor:
            result.cursor = modified


def _count_requests(result: PullResult, client: AirtableClient, before: Mapping[str, int]) -> None:
    for name, value in client.stats.since(before).items():
        setattr(result, name, value)


def _failure_note(result: PullResult) -> str:
    shown = [f"{record_id}: {reason}" for record_id, reason in result.failures[:NOTED_FAILURES]]
    more = len(result.failures) - len(shown)
    tail = [f"... and {more} more"] if more else []
    return f"{result.failed} record(s) not pulled:\n" + "\n".join(shown + tail)


# --- one page ----------------------------------------------------------------------------


def _apply_page(
    uow: UnitOfWork, config: AirtableConfig, page: Sequence[dict[str, Any]], result: PullResult
) -> None:
    session = uow.session
    links = repository.links_for_records(session, [record["id"] for record in page])
    new: list[dict[str, Any]] = []
    for record in page:
        link = links.get(record["id"])
        if link is None:
            link, refusal = _claim(session, config, record)
            if refusal:
                result.fail(record["id"], refusal)
                continue
        if link is not None:
            _apply_linked(uow, config.mapping, record, link, result)
        else:
            new.append(record)
    if new:
        _create(uow, config, new, result)


def _claim(
    session: Session, config: AirtableConfig, record: Mapping[str, Any]
) -> tuple[AirtableLink | None, str | None]:
    """Link a record that carries one of our lead ids (a push whose link
    was never committed, a record re-made by hand): both sides as they are
    now count as agreed. (None, None): it names no lead of ours; (None,
    reason): its lead is linked to another record that still exists."""
    lead_id = record.get("fields", {}).get(ID_FIELD)
    if not isinstance(lead_id, str) or not lead_id:
        return None, None
    lead = leads_repository.get(session, lead_id, include_deleted=True)
    if lead is None:
        return None, None
    existing = repository.links_for_leads(session, [lead_id]).get(lead_id)
    if existing is not None and existing.remote_deleted_at is None:
        return None, (
            f"carries the Leadbase ID {lead_id}, whose lead is linked to record "
            f"{existing.record_id}"
        )
    link = _link(session, config, lead, record, existing)
    if _holds_more(config.mapping, lead, link):
        leads_service.mark_leads_for_sync(session, [lead.id], "update")
    return link, None


def _link(
    session: Session,
    config: AirtableConfig,
    lead: SalesLead,
    record: Mapping[str, Any],
    existing: AirtableLink | None,
) -> AirtableLink:
    """Link the lead to the record (moving its ``existing`` link), both
    sides as they are now."""
    values: dict[str, Any] = {
        "lead_id": lead.id,
        "record_id": record["id"],
        "base_id": config.base_id,
        "table_name": config.table,
        "synced_fields": remote_fields(config.mapping, record),
        "synced_version": lead.version,
        "remote_modified_at": modified_at(record),
        "now": utcnow(),
    }
    return repository.save_link(session, existing, **values)


def _holds_more(mapping: FieldMapping, lead: SalesLead, link: AirtableLink) -> bool:
    """Whether a lead just linked holds more than its record (its id, a
    derived name, a canonical phone, values a merge kept): then the push
    sends just that."""
    local, base = mapping.to_fields(lead), link.synced_fields
    names = (*mapping.remote_names, ID_FIELD)
    return not lead.is_deleted and not all(same(local.get(n), base.get(n)) for n in names)


def remote_fields(mapping: FieldMapping, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's fields the sync compares: the mapped ones and the lead id."""
    fields = record.get("fields", {})
    names = (*mapping.remote_names, ID_FIELD)
    return {name: fields[name] for name in names if _present(fields.get(name))}


# --- a linked record -----------------------------------------------------------------


def _apply_linked(
    uow: UnitOfWork,
    mapping: FieldMapping,
    record: Mapping[str, Any],
    link: AirtableLink,
    result: PullResult,
) -> None:
    if link.remote_deleted_at is not None:
        # Back from Airtable's trash: what a full pull did to the lead for its
        # record gone is undone (the flag stayed, and went out with the lead's
        # next push as a tag; the lead it soft-deleted stayed deleted).
        _undo_gone(uow, link.lead_id)
    link.remote_deleted_at = None  # seen: back from Airtable's trash, if it was gone
    remote = remote_fields(mapping, record)
    base = link.synced_fields or {}
    changed = [n for n in mapping.remote_names if not same(remote.get(n), base.get(n))]
    if not changed:
        return  # our own push seen again, or a change to a field we don't map
    lead = leads_repository.get(uow.session, link.lead_id, include_deleted=True)
    if lead is None or lead.is_deleted:
        result.skipped += 1  # deleted here: the push deletes the record
        return
    local = mapping.to_fields(lead)
    take, clashes = _sort_changes(changed, remote, base, local)
    modified, local_at, version = modified_at(record), lead.updated_at, lead.version
    remote_wins = bool(clashes) and modified is not None and modified > local_at
    if remote_wins:
        take += list(clashes)
    if take and not _write(uow, lead.id, lead_values(mapping, remote, take), record, result):
        return
    if clashes:
        applied = "remote" if remote_wins else "local"
        _keep_conflict(uow.session, lead.id, local_at, record, clashes, applied)
        result.conflicts += 1
    result.updated += lead.version != version
    link.synced_fields = remote
    link.synced_version = lead.version
    link.remote_modified_at = modified
    link.synced_at = utcnow()


def _undo_gone(uow: UnitOfWork, lead_id: str) -> None:
    """The flag off, or the lead restored if the pull deleted it (one a
    person deleted here stays deleted: the push deletes its record)."""
    lead = leads_repository.get(uow.session, lead_id, include_deleted=True)
    if lead is None:
        return
    if lead.is_deleted:
        if lead.deleted_by == ACTOR and lead.merged_into_id is None:
            leads_service.restore(uow, lead.id)
        return
    if FLAG_TAG not in (lead.tags or []):
        return
    tags = [tag for tag in lead.tags or [] if tag != FLAG_TAG]
    # Not marked for the push: the record never held the flag.
    leads_service.update(
        uow, lead.id, {"tags": tags or None}, on_duplicate="allow", mark_sync=False
    )


def _sort_changes(
    changed: Sequence[str],
    remote: Mapping[str, Any],
    base: Mapping[str, Any],
    local: Mapping[str, Any],
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The remotely changed fields to apply (unchanged here), and the
    conflicts (changed here too, to something else). A field both sides
    changed to the same value is agreed: neither."""
    take: list[str] = []
    clashes: dict[str, dict[str, Any]] = {}
    for name in changed:
        if same(local.get(name), base.get(name)):
            take.append(name)
        elif not same(local.get(name), remote.get(name)):
            clashes[name] = {
                "local": local.get(name),
                "remote": remote.get(name),
                "base": base.get(name),
            }
    return take, clashes


def lead_values(
    mapping: FieldMapping, fields: Mapping[str, Any], names: Sequence[str]
) -> dict[str, Any]:
    """Lead field values for the Airtable fields ``names`` (absent: cleared)."""
    wanted = {local for local, remote in mapping.fields if remote in names}
    values = mapping.from_fields({name: fields.get(name) for name in names})
    return {local: value for local, value in values.items() if local in wanted}


def _write(
    uow: UnitOfWork,
    lead_id: str,
    values: Mapping[str, Any],
    record: Mapping[str, Any],
    result: PullResult,
) -> bool:
    """Update the lead in a savepoint: a record the write path refuses
    (invalid value, another lead's email) fails alone, the page goes on."""
    session = uow.session
    mark = audit.queued(session)
    savepoint = session.begin_nested()
    try:
        leads_service.update(uow, lead_id, values)
        savepoint.commit()
    except LeadbaseError as exc:
        savepoint.rollback()
        audit.unqueue(session, mark)
        result.fail(record["id"], exc.message)
        return False
    return True


def _keep_conflict(
    session: Session,
    lead_id: str,
    local_at: datetime,
    record: Mapping[str, Any],
    clashes: dict[str, dict[str, Any]],
    applied: str,
) -> None:
    """Both sides of each field, and when each last changed (the lead's
    time from before the pull wrote to it)."""
    repository.add_conflict(
        session,
        lead_id=lead_id,
        record_id=record["id"],
        fields=clashes,
        local_modified_at=local_at,
        remote_modified_at=modified_at(record),
        applied=applied,
        status="open",
    )


def same(a: Any, b: Any) -> bool:
    """Equal as Airtable holds them: empties alike, a multiple select's
    order irrelevant, 80 and 80.0 one number."""
    if not _present(a) or not _present(b):
        return not _present(a) and not _present(b)
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    return bool(a == b)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value is not False


# --- records new to us ---------------------------------------------------------------


def _create(
    uow: UnitOfWork, config: AirtableConfig, records: Sequence[dict[str, Any]], result: PullResult
) -> None:
    """New records become leads through the import path (policy merge: one
    matching a lead by email, LinkedIn... lands on it), each then linked."""
    rows, sources, kept = [], [], []
    for record in records:
        try:
            rows.append(_lead_row(config.mapping, record))
        except LeadbaseError as exc:
            result.fail(record["id"], exc.message)
            continue
        sources.append(_source(config, record))
        kept.append(record)
    if not rows:
        return
    outcomes = leads_service.import_rows(uow, rows, on_duplicate="merge", sources=sources)
    landed = [o.lead_id for o in outcomes if isinstance(o, leads_service.WriteResult)]
    leads = leads_repository.get_many(uow.session, landed)
    linked = repository.links_for_leads(uow.session, landed)
    to_push: list[str] = []
    for record, outcome in zip(kept, outcomes, strict=True):
        if isinstance(outcome, LeadbaseError):
            result.fail(record["id"], outcome.message)
            continue
        existing = linked.get(outcome.lead_id)
        if existing is not None and existing.remote_deleted_at is None:
            result.fail(
                record["id"],
                f"a duplicate of lead {outcome.lead_id}, which is linked to record "
                f"{existing.record_id} (its data was merged into the lead)",
            )
            continue
        lead = leads[outcome.lead_id]
        linked[lead.id] = link = _link(uow.session, config, lead, record, existing)
        if _holds_more(config.mapping, lead, link):
            to_push.append(lead.id)
        result.created += outcome.outcome == "created"
        result.updated += outcome.outcome == "merged"
    # One mark for the page, not a query per lead.
    leads_service.mark_leads_for_sync(uow.session, to_push, "update")


def _lead_row(mapping: FieldMapping, record: Mapping[str, Any]) -> dict[str, Any]:
    values = mapping.from_fields(record.get("fields", {}))
    row = {name: value for name, value in values.items() if value is not None}
    return {**row, "source": SOURCE}


def _source(config: AirtableConfig, record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "source_type": SOURCE,
        "provider_name": SOURCE,
        "external_id": record["id"],
        "metadata": {"base_id": config.base_id, "table": config.table},
    }


# --- records gone from Airtable (full pull) --------------------------------------------


def _remote_deletes(
    database: Database, config: AirtableConfig, seen: set[str], result: PullResult
) -> None:
    """Every link whose record the full pull did not see: its lead is
    flagged or soft-deleted (``config.on_remote_delete``), its link marked."""
    with database.read_session() as session:
        gone = [
            lead_id
            for lead_id, record_id in repository.live_links(session)
            if record_id not in seen
        ]
    for chunk in chunked(gone, 100):
        with database.unit_of_work() as uow:
            for link in repository.links_for_leads(uow.session, chunk).values():
                _record_gone(uow, config, link)
                result.deleted += 1


def _record_gone(uow: UnitOfWork, config: AirtableConfig, link: AirtableLink) -> None:
    lead = leads_repository.get(uow.session, link.lead_id, include_deleted=True)
    if lead is not None and not lead.is_deleted:
        if config.on_remote_delete == "delete":
            leads_service.soft_delete(uow, lead.id)
        else:
            # Not marked for the push: it would make the record again
            # (a flagged lead stays here, for a person to decide on).
            tags = [*(lead.tags or []), FLAG_TAG]
            leads_service.update(
                uow, lead.id, {"tags": tags}, on_duplicate="allow", mark_sync=False
            )
    link.remote_deleted_at = utcnow()
