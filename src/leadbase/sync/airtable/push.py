"""Push leads to Airtable from the sync_status outbox.

A page of leads to push is read (keyset, so 10k leads are never all in
memory), each lead is planned as one of:

- ``upsert``: never pushed (or its record is gone): all its fields, merged
  on "Leadbase ID", so a push cut off between Airtable's answer and our
  commit finds the record it made instead of making a second one;
- ``update``: linked: PATCH only the fields that differ from the link's
  ``synced_fields`` (one emptied here is sent as null, so Airtable clears it);
- ``delete``: soft-deleted or merged, with a record: DELETE it;
- ``none``: nothing to send (no change, or deleted before it was ever pushed).

and the plans go out in batches of at most 10 (one request each). After
each answer one unit of work settles the batch: links saved, the outbox
rows of leads still at the version we sent marked success; a lead edited
meanwhile keeps its pending row, and its newer change goes next time.

A batch Airtable refuses as a whole (a 422 for one bad record) is sent
again one record at a time, so the good ones go and the bad one keeps its
error and attempt count (failed after ``max_attempts``). An error that is
not a record's (Airtable unreachable after every retry, a bad token, a
field missing from the table) stops the run; the outbox stays as it was.

The pacing is the client's (a rolling window per base): the database work
between two requests happens while the window would make them wait anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from leadbase import context
from leadbase.db import Database, serialize_writers
from leadbase.leads import service as leads_service
from leadbase.models import AirtableLink, SalesLead, utcnow
from leadbase.sync.airtable import repository, runs
from leadbase.sync.airtable.client import AirtableClient, AirtableError
from leadbase.sync.airtable.mapping import FLAG_TAG, ID_FIELD, FieldMapping, modified_at
from leadbase.sync.airtable.settings import AirtableConfig

BATCH_SIZE = 10  # Airtable's most records per write request
PAGE_SIZE = 500  # leads read per query
ACTOR = context.system_actor("airtable")
# 422s that are one record's fault: the batch is sent again a record at a time.
# (A batch request answers a missing record with 422 ROW_DOES_NOT_EXIST; a
# 404 there means the table or base is missing: the run stops.)
RECORD_ERRORS = frozenset(
    {
        "INVALID_VALUE_FOR_COLUMN",
        "INVALID_MULTIPLE_CHOICE_OPTIONS",
        "INVALID_RECORDS",
        "ROW_DOES_NOT_EXIST",
    }
)
GONE = "ROW_DOES_NOT_EXIST"

RUN_COUNTS = (
    "pushed",
    "created",
    "updated",
    "deleted",
    "failed",
    "requests",
    "rate_limited",
    "retries",
)
Op = Literal["upsert", "update", "delete", "none"]
ProgressFn = Callable[[int, int], None]  # (leads done, leads to push)


@dataclass
class Item:
    """One lead's push, planned from what was read."""

    lead_id: str
    version: int
    op: Op
    fields: dict[str, Any]  # what to send (update: the changed fields only)
    base: dict[str, Any]  # the link's synced_fields ({} without a link)
    record_id: str | None = None
    full: dict[str, Any] = field(default_factory=dict)  # all its fields, to make it anew


@dataclass
class Outcome:
    """What a batch's answer said of each of its items."""

    done: list[tuple[Item, str | None]] = field(default_factory=list)  # (item, record id)
    modified: dict[str, datetime] = field(default_factory=dict)  # record id -> Last Modified
    failed: list[tuple[Item, str]] = field(default_factory=list)  # (item, error)
    created: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass
class PushResult:
    run_id: str = ""
    pushed: int = 0  # leads Airtable now holds as they are here (records written or deleted)
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0  # nothing to send
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    error: str | None = None
    errors: list[str] = field(default_factory=list)  # the first few records' errors

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in RUN_COUNTS}


class StopPush(Exception):
    """An error that is not one record's: the run stops here. ``outcome``:
    what the records sent before it got (a batch sent a record at a time)."""

    def __init__(self, message: str, outcome: Outcome | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome or Outcome()


# --- planning --------------------------------------------------------------------------


def _changed_fields(mapping: FieldMapping, lead: SalesLead, base: dict[str, Any]) -> dict[str, Any]:
    """The record's fields that differ from the last agreed ones; a field
    emptied here is None (PATCH with null clears it in Airtable)."""
    local = mapping.to_fields(lead)
    changed = {name: value for name, value in local.items() if base.get(name) != value}
    for name in (*mapping.remote_names, ID_FIELD):
        if name not in local and base.get(name) not in (None, "", []):
            changed[name] = None
    return changed


def plan(mapping: FieldMapping, lead: SalesLead, link: AirtableLink | None) -> Item:
    live = link is not None and link.remote_deleted_at is None
    base = dict(link.synced_fields) if live and link is not None else {}
    item = Item(lead.id, lead.version, "none", {}, base)
    if lead.is_deleted or lead.merged_into_id:
        if live and link is not None:
            item.op, item.record_id = "delete", link.record_id
        return item
    if link is not None and not live and FLAG_TAG in (lead.tags or []):
        return item
    item.full = mapping.to_fields(lead)
    if not live or link is None:
        # The upsert merges into a record that may hold this lead already (a
        # push cut off before its commit, run again): null clears there what
        # the lead has emptied since, or the pull would bring the old value back.
        item.op, item.fields = "upsert", {**dict.fromkeys(mapping.remote_names), **item.full}
        return item
    item.record_id = link.record_id
    item.fields = _changed_fields(mapping, lead, base)
    item.op = "update" if item.fields else "none"
    return item


def _batches(items: Sequence[Item]) -> Iterator[list[Item]]:
    """Items of one kind, at most BATCH_SIZE at a time."""
    for op in ("upsert", "update", "delete"):
        same = [item for item in items if item.op == op]
        for start in range(0, len(same), BATCH_SIZE):
            yield same[start : start + BATCH_SIZE]


# --- sending ---------------------------------------------------------------------------


def _send(client: AirtableClient, batch: list[Item]) -> Outcome:
    """One request for the batch; a record's 422 → again, a record at a time."""
    try:
        return _request(client, batch)
    except AirtableError as exc:
        if not _record_error(exc):
            raise StopPush(str(exc)) from exc
        if len(batch) == 1:
            return _single_failed(client, batch[0], exc)
    outcome = Outcome()
    for item in batch:
        try:
            _add(outcome, _send(client, [item]))
        except StopPush as stop:
            _add(outcome, stop.outcome)
            stop.outcome = outcome
            raise
    return outcome


def _add(outcome: Outcome, more: Outcome) -> None:
    outcome.done += more.done
    outcome.modified.update(more.modified)
    outcome.failed += more.failed
    outcome.created += more.created
    outcome.updated += more.updated
    outcome.deleted += more.deleted


def _record_error(exc: AirtableError) -> bool:
    return exc.status == 422 and exc.kind in RECORD_ERRORS


def _single_failed(client: AirtableClient, item: Item, exc: AirtableError) -> Outcome:
    """One record refused: gone (a delete is done, an update makes it anew) or bad."""
    if exc.kind == GONE and item.op == "delete":
        return Outcome(done=[(item, item.record_id)], deleted=1)
    if exc.kind == GONE and item.op == "update":
        # Deleted in Airtable since we linked it: make it again, all fields.
        return _send(client, [Item(item.lead_id, item.version, "upsert", item.full, {})])
    return Outcome(failed=[(item, str(exc))])


def _request(client: AirtableClient, batch: list[Item]) -> Outcome:
    op = batch[0].op
    if op == "delete":
        client.delete([item.record_id for item in batch if item.record_id])
        return Outcome(done=[(item, item.record_id) for item in batch], deleted=len(batch))
    if op == "update":
        answer = client.update([{"id": item.record_id, "fields": item.fields} for item in batch])
        ids = {record["id"] for record in answer}
        done = [(item, item.record_id) for item in batch if item.record_id in ids]
        return Outcome(done=done, updated=len(done), modified=_modified(answer))
    result = client.upsert([{"fields": item.fields} for item in batch], key_field=ID_FIELD)
    by_lead = {
        str(record.get("fields", {}).get(ID_FIELD)): record["id"] for record in result["records"]
    }
    done = [(item, by_lead[item.lead_id]) for item in batch if item.lead_id in by_lead]
    missing = "Airtable's answer did not hold this lead's record"
    return Outcome(
        done=done,
        failed=[(item, missing) for item in batch if item.lead_id not in by_lead],
        created=len(result.get("createdRecords", [])),
        updated=len(result.get("updatedRecords", [])),
        modified=_modified(result["records"]),
    )


def _modified(records: Sequence[dict[str, Any]]) -> dict[str, datetime]:
    """The records' modification times, where the table has the field for it."""
    found = {record["id"]: modified_at(record) for record in records}
    return {record_id: when for record_id, when in found.items() if when is not None}


# --- settling --------------------------------------------------------------------------


def _settle(database: Database, config: AirtableConfig, outcome: Outcome, none: list[Item]) -> None:
    """One unit of work for a batch's answer (and the leads that needed no request)."""
    done = [*outcome.done, *((item, item.record_id) for item in none)]
    if not done and not outcome.failed:
        return
    now = utcnow()
    with database.unit_of_work() as uow:
        session = uow.session
        # Lead writers take this lock too: an edit either lands before we read
        # the versions (its lead keeps its mark) or after (it adds a new mark).
        serialize_writers(session)
        versions = repository.lead_versions(session, [item.lead_id for item, _ in done])
        repository.save_links(session, _links(config, done, outcome.modified), now)
        for item, _ in done:
            if item.op == "delete":
                repository.mark_record_deleted(session, item.lead_id, now)
        current = [item.lead_id for item, _ in done if versions.get(item.lead_id) == item.version]
        repository.settle_pushed(session, current, now)
        _fail(session, config, outcome.failed, now)


def _links(
    config: AirtableConfig, done: list[tuple[Item, str | None]], modified: dict[str, datetime]
) -> list[dict[str, Any]]:
    """The links of records written: both sides now agree on what was sent."""
    rows = []
    for item, record_id in done:
        if item.op not in ("upsert", "update") or not record_id:
            continue
        agreed = {**item.base, **item.fields}
        rows.append(
            {
                "lead_id": item.lead_id,
                "record_id": record_id,
                "base_id": config.base_id,
                "table_name": config.table,
                "synced_fields": {k: v for k, v in agreed.items() if v is not None},
                "synced_version": item.version,
                "remote_modified_at": modified.get(record_id),
            }
        )
    return rows


def _fail(
    session: Any, config: AirtableConfig, failed: list[tuple[Item, str]], now: datetime
) -> None:
    if not failed:
        return
    # A lead never marked (new) gets its pending row here, to hold the error.
    leads_service.mark_leads_for_sync(session, [item.lead_id for item, _ in failed], "update")
    for item, error in failed:
        repository.settle_failed(session, item.lead_id, error, now, config.max_attempts)


# --- the run ---------------------------------------------------------------------------


def _pages(
    database: Database, limit: int | None
) -> Iterator[list[tuple[SalesLead, AirtableLink | None]]]:
    """Leads to push with their links, a page at a time, at most ``limit`` in all."""
    after: str | None = None
    left = limit if limit is not None else -1
    while left != 0:
        size = PAGE_SIZE if left < 0 else min(PAGE_SIZE, left)
        with database.read_session() as session:
            leads = repository.push_page(session, after, size)
            links = repository.links_for_leads(session, [lead.id for lead in leads])
        if not leads:
            return
        yield [(lead, links.get(lead.id)) for lead in leads]
        after = leads[-1].id
        left = max(0, left - len(leads)) if left > 0 else left
        if len(leads) < size:
            return


def _total(database: Database, limit: int | None) -> int:
    with database.read_session() as session:
        count = repository.pending_count(session)
    return count if limit is None else min(count, limit)


def _push_page(
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    page: list[tuple[SalesLead, AirtableLink | None]],
    result: PushResult,
    advance: Callable[[int], None],
) -> None:
    items = [plan(config.mapping, lead, link) for lead, link in page]
    none = [item for item in items if item.op == "none"]
    result.unchanged += len(none)
    _settle(database, config, Outcome(), none)
    advance(len(none))
    for batch in _batches(items):
        try:
            outcome = _send(client, batch)
        except StopPush as stop:  # what went before it is settled all the same
            _settle(database, config, stop.outcome, [])
            _count(result, stop.outcome)
            raise
        _settle(database, config, outcome, [])
        _count(result, outcome)
        advance(len(batch))
        errors = {error for _, error in outcome.failed}
        if len(batch) > 1 and len(outcome.failed) == len(batch) and len(errors) == 1:
            # Every record refused alike: the table, not the leads (a field's
            # type); better stop than send each lead one by one.
            raise StopPush(f"Airtable refused every record of a batch: {outcome.failed[0][1]}")


def _count(result: PushResult, outcome: Outcome) -> None:
    result.pushed += len(outcome.done)
    result.created += outcome.created
    result.updated += outcome.updated
    result.deleted += outcome.deleted
    result.failed += len(outcome.failed)
    result.errors.extend(error for _, error in outcome.failed[: max(0, 5 - len(result.errors))])


def push(
    database: Database,
    config: AirtableConfig,
    *,
    client: AirtableClient | None = None,
    progress: ProgressFn | None = None,
    limit: int | None = None,
    retry_failed: bool = False,
    actor: str | None = None,
) -> PushResult:
    """Push what the outbox holds; see the module's docstring."""
    client = client or config.client()
    before = client.stats.as_counts()
    result = PushResult(run_id=runs.start(database, "push", actor or ACTOR))
    if retry_failed:
        with database.unit_of_work() as uow:
            repository.retry_failed(uow.session, utcnow())
    total, done = _total(database, limit), 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    try:
        for page in _pages(database, limit):
            _push_page(database, config, client, page, result, advance)
    except StopPush as exc:
        result.error = str(exc)
    except BaseException as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        for name, value in client.stats.since(before).items():
            setattr(result, name, value)
        runs.finish(database, result.run_id, result.counts(), error=result.error)
    return result
