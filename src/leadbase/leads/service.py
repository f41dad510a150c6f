"""The one write path for leads.

Every change to a lead, from any caller, comes through here inside the
caller's unit of work: validate and normalise, check duplicates and apply
the caller's policy, write with a version bump, record a timeline event and
an audit entry, and mark the lead for outbound sync. Nothing here commits.

Each fact is written once: the audit entry holds a change's old and new
values, the timeline event only its kind. A new lead needs neither a sync
mark (a lead the target never got is pending without one) nor a
lead_sources row repeating its own source fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from leadbase import audit, context
from leadbase.audit.batch import batch_id, batch_type
from leadbase.changes import Changes, diff, row_values
from leadbase.companies import repository as companies_repository
from leadbase.companies import service as companies_service
from leadbase.config import get_settings
from leadbase.db import UnitOfWork, chunked, serialize_writers
from leadbase.dedupe import normalise as norm
from leadbase.dedupe import repository as dedupe_repository
from leadbase.dedupe.keys import KEY_SOURCE_FIELDS, match_keys
from leadbase.dedupe.matcher import Candidate, Matcher
from leadbase.dedupe.merge import merged_values
from leadbase.dedupe.score import COMPARED_FIELDS, EXACT_REASONS
from leadbase.errors import (
    ConflictError,
    DuplicateLeadError,
    LeadbaseError,
    NotFoundError,
    ValidationError,
)
from leadbase.jobs import service as jobs_service
from leadbase.leads import repository
from leadbase.leads.clean import Prepared as Prepared
from leadbase.leads.clean import clean_input as clean_input
from leadbase.leads.clean import prepare_row as prepare_row
from leadbase.leads.schemas import (
    IDENTITY_FIELDS,
    LEAD_FIELDS,
    DuplicatePolicy,
    LeadInput,
    QuickAddInput,
)
from leadbase.models import SalesLead, new_id, utcnow
from leadbase.models.lead import FUNNEL_RANKS, STATUS_EVENT, enrichment_steps_key
from leadbase.validation import parse

SYNC_TARGET = "airtable"
COMPARED = frozenset(COMPARED_FIELDS)
DEFAULTS: dict[str, Any] = LeadInput().model_dump()
Outcome = Literal["created", "merged", "unchanged", "updated"]


@dataclass(frozen=True)
class WriteResult:
    lead_id: str
    outcome: Outcome


def _require_identity(clean: Mapping[str, Any], prefix: str) -> None:
    if not any(clean.get(field) for field in IDENTITY_FIELDS):
        raise ValidationError(
            f"{prefix}full_name",
            "a lead needs at least one of: " + ", ".join(IDENTITY_FIELDS),
        )


def _check_companies(
    session: Session, rows: Sequence[Mapping[str, Any]], prefixes: Sequence[str]
) -> None:
    """Every company_id must name an existing company; the first row without one is named."""
    known = _known_companies(session, rows)
    for prefix, row in zip(prefixes, rows, strict=True):
        if row.get("company_id") and row["company_id"] not in known:
            raise ValidationError(f"{prefix}company_id", f"no such company: {row['company_id']}")


# --- duplicates ------------------------------------------------------------------

POLICIES = ("reject", "merge", "allow", "review")
# The identity key an exact match names (dedupe.score's exact reasons).
_EXACT_FIELDS = {
    EXACT_REASONS["email"]: "email",
    EXACT_REASONS["linkedin_url"]: "linkedin_url",
    EXACT_REASONS["provider_record"]: "provider_name+external_id",
    EXACT_REASONS["phone"]: "phone",
}


def _exact_field(candidate: Candidate) -> str | None:
    """The identity key of an exact match; None for a fuzzy one."""
    reasons = candidate.verdict.reasons
    return _EXACT_FIELDS.get(reasons[0]) if len(reasons) == 1 else None


def _matched_on(candidate: Candidate) -> str:
    """The field a refusal names: the identity key of an exact match, else
    the name (a fuzzy match is about the person as a whole)."""
    return _exact_field(candidate) or "full_name"


def _refusal(candidate: Candidate, where: str = "") -> DuplicateLeadError:
    verdict = candidate.verdict
    return DuplicateLeadError(
        candidate.lead_id,
        _matched_on(candidate),
        where=where,
        score=verdict.score,
        reasons=verdict.reasons,
    )


def _keyed(row: Mapping[str, Any]) -> dict[str, Any]:
    """A lead's fields with its match keys: what the matcher compares."""
    return {**row, **match_keys(row)}


def _review(candidate: Candidate, lead_id: str) -> dict[str, Any]:
    return {
        "lead_ids": [lead_id, candidate.lead_id],
        "score": candidate.verdict.score,
        "reasons": list(candidate.verdict.reasons),
        "action": candidate.verdict.action,
    }


def _queue_reviews(session: Session, reviews: Sequence[dict[str, Any]]) -> None:
    """Likely duplicates a write found but did not merge: kept for a person."""
    if reviews:
        dedupe_repository.upsert_clusters(session, reviews, origin="write")


# --- rows we write besides the lead ------------------------------------------------


def event_row(
    lead_id: str,
    event_type: str,
    now: datetime,
    changed: Changes,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A merge's timeline event (merged, unmerged). Lean: the audit entry
    written beside it holds who, when and every old and new value. A plain
    change (created, updated, deleted, restored) writes no event at all: its
    audit entry tells the timeline (leads.endpoints._timeline)."""
    status = changed.get("lead_status")
    return {
        "lead_id": lead_id,
        "event_type": event_type,
        "event_name": None,
        "event_source": None,
        "event_timestamp": now,
        "event_data": data,
        "actor": context.current().actor,
        "old_status": status[0] if status else None,
        "new_status": status[1] if status else None,
        "changed_fields": None if event_type == "created" else sorted(changed),
        "created_at": now,
        "updated_at": now,
    }


# What a caller may tell about a lead's source beyond the lead row (an
# import's run, an Apify run's dataset): every source row carries all of
# them, so one multi-row insert takes a batch.
SOURCE_FACTS = (
    "source_name",
    "actor_name",
    "import_batch_id",
    "external_url",
    "scraped_at",
    "scrape_params",
    "metadata",
)


def _source(
    lead: Mapping[str, Any], now: datetime, actor: str, given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if given:
        unknown = given.keys() - _KNOWN_FACTS
        if unknown:
            raise ValueError(f"unknown source facts: {', '.join(sorted(unknown))}")
    get = lead.get
    row = {
        "id": new_id(),
        "lead_id": lead["id"],
        "source_type": get("source") or "api",
        "provider_name": get("provider_name"),
        "actor_id": get("actor_id"),
        "run_id": get("run_id"),
        "dataset_id": get("dataset_id"),
        "external_id": get("external_id"),
        "created_at": now,
        "updated_at": now,
        "created_by": actor,
        "updated_by": actor,
        "is_deleted": False,
        **_NO_FACTS,
    }
    if given:
        row.update(given)  # the caller's facts win, source_type included
    return row


_LEAD_SOURCE_FIELDS = ("provider_name", "actor_id", "run_id", "dataset_id", "external_id")
_KNOWN_FACTS = frozenset({*SOURCE_FACTS, "source_type", *_LEAD_SOURCE_FIELDS})
_NO_FACTS = dict.fromkeys(SOURCE_FACTS)


def _sync_mark(lead_id: str, operation: str, now: datetime) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "target": SYNC_TARGET,
        "operation": operation,
        "status": "pending",
        "attempt_count": 0,
        "created_at": now,
        "updated_at": now,
    }


def mark_leads_for_sync(session: Session, lead_ids: Sequence[str], operation: str) -> None:
    """One pending outbox row per lead: an earlier pending mark already covers it."""
    already = repository.pending_sync_lead_ids(session, lead_ids, SYNC_TARGET)
    now = utcnow()
    repository.insert_sync_marks(
        session,
        [_sync_mark(lid, operation, now) for lid in dict.fromkeys(lead_ids) if lid not in already],
    )


def mark_for_sync(uow: UnitOfWork, lead_id: str, operation: str = "update") -> None:
    serialize_writers(uow.session)
    if repository.get(uow.session, lead_id, include_deleted=True) is None:
        raise NotFoundError(f"lead {lead_id} not found")
    mark_leads_for_sync(uow.session, [lead_id], operation)


# --- companies -----------------------------------------------------------------------

COMPANY_FIELDS = ("company_domain", "company_name")


def _wanted_company(row: Mapping[str, Any]) -> companies_service.Wanted | None:
    domain, name = row.get("company_domain"), row.get("company_name")
    if "key_company" not in row:  # a row without its match keys: work it out
        return companies_service.wanted(domain, name)
    # The keys hold both: key_domain is the company domain's registered
    # domain when there is one, key_company the name's key.
    registered = (row["key_domain"] or norm.normalise_domain(domain)) if domain else None
    return companies_service.wanted_by_keys(registered, name, row["key_company"])


def _link_companies(uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    """Set ``company_id`` of each row (a lead about to be written) to the
    company its company domain or name names, found or created: one
    find-or-create for all of them."""
    wants = [_wanted_company(row) for row in rows]
    if not any(wants):
        return
    for row, company_id in zip(rows, companies_service.find_or_create(uow, wants), strict=True):
        if company_id is not None:
            row["company_id"] = company_id


def _names_another_company(changes: Changes) -> bool:
    return any(field in changes for field in COMPANY_FIELDS)


def _relink(
    uow: UnitOfWork, current: Mapping[str, Any], clean: dict[str, Any], changes: Changes
) -> None:
    """An update that changes the company domain or name (or a PUT that
    leaves ``company_id`` out) links the lead to the company they now name:
    none, once both are cleared."""
    [company_id] = companies_service.find_or_create(uow, [_wanted_company({**current, **clean})])
    clean["company_id"] = company_id
    if company_id != current.get("company_id"):
        changes["company_id"] = [current.get("company_id"), company_id]
    else:  # a PUT that left company_id out, its company fields still naming this one
        changes.pop("company_id", None)


# --- create ------------------------------------------------------------------------


def create(
    uow: UnitOfWork, data: Mapping[str, Any], *, on_duplicate: DuplicatePolicy = "reject"
) -> WriteResult:
    return bulk_create(uow, [data], on_duplicate=on_duplicate, _single=True)[0]


def bulk_create(
    uow: UnitOfWork,
    rows: Sequence[Mapping[str, Any]],
    *,
    on_duplicate: DuplicatePolicy = "reject",
    _single: bool = False,
) -> list[WriteResult]:
    """Create many leads in the caller's transaction, with one lookup per
    duplicate key kind for the whole batch and one multi-row insert per table.

    All or nothing: the first invalid row or (with ``reject``) duplicate
    raises and the caller's unit of work rolls everything back.
    """
    _check_policy(on_duplicate)
    prefixes = [""] if _single else [f"rows[{i}]." for i in range(len(rows))]
    cleaned = [clean_input(row, prefix=prefixes[i]) for i, row in enumerate(rows)]
    for i, clean in enumerate(cleaned):
        _require_identity(clean, prefixes[i])
    serialize_writers(uow.session)
    _check_companies(uow.session, cleaned, prefixes)
    planned = _create_cleaned(uow, cleaned, on_duplicate, prefixes)
    return [r for r in planned if isinstance(r, WriteResult)]


def import_rows(
    uow: UnitOfWork,
    rows: Sequence[Mapping[str, Any] | Prepared],
    *,
    on_duplicate: DuplicatePolicy = "merge",
    sources: Sequence[Mapping[str, Any]],
) -> list[WriteResult | LeadbaseError]:
    """``bulk_create`` for imports: a row that is invalid, or a duplicate
    the policy refuses, comes back as its error and the other rows are
    written. Every lead a row creates or changes gets that row's
    ``lead_sources`` row (``sources[i]``: run, batch...); a row that brings
    nothing new leaves none. A row may come ``Prepared`` (by ``prepare_row``)."""
    _check_policy(on_duplicate)
    results: list[WriteResult | LeadbaseError | None] = [None] * len(rows)
    valid: list[int] = []
    prepared: list[Prepared] = []
    for i, row in enumerate(rows):
        try:
            ready = row if isinstance(row, Prepared) else prepare_row(row)
            _require_identity(ready.clean, "")
        except ValidationError as exc:
            results[i] = exc
            continue
        valid.append(i)
        prepared.append(ready)
    serialize_writers(uow.session)
    known = _known_companies(uow.session, [ready.clean for ready in prepared])
    for position in range(len(prepared) - 1, -1, -1):
        company_id = prepared[position].clean.get("company_id")
        if company_id and company_id not in known:
            results[valid[position]] = ValidationError(
                "company_id", f"no such company: {company_id}"
            )
            del valid[position], prepared[position]
    planned = _create_cleaned(
        uow,
        [ready.clean for ready in prepared],
        on_duplicate,
        [""] * len(prepared),
        lenient=True,
        sources=[sources[i] for i in valid],
        keys=[ready.keys for ready in prepared],
    )
    for i, result in zip(valid, planned, strict=True):
        results[i] = result
    return [r for r in results if r is not None]


def _check_policy(on_duplicate: str) -> None:
    if on_duplicate not in POLICIES:
        raise ValidationError("on_duplicate", "must be one of: " + ", ".join(POLICIES))


def _known_companies(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    wanted = {row["company_id"] for row in rows if row.get("company_id")}
    return companies_repository.existing_ids(session, wanted) if wanted else set()


def _create_cleaned(
    uow: UnitOfWork,
    cleaned: Sequence[dict[str, Any]],
    on_duplicate: DuplicatePolicy,
    prefixes: Sequence[str],
    *,
    lenient: bool = False,
    sources: Sequence[Mapping[str, Any]] | None = None,
    keys: Sequence[Mapping[str, Any]] | None = None,
) -> list[WriteResult | LeadbaseError]:
    """Match, merge and insert validated rows. ``lenient``: a refused
    duplicate is that row's result instead of an exception. ``keys``: each
    row's match keys, when computed ahead (``prepare_row``)."""
    session = uow.session
    matcher = Matcher(session) if on_duplicate != "allow" else None
    if keys is None:
        keyed = [_keyed(clean) for clean in cleaned]
    else:
        keyed = [{**clean, **k} for clean, k in zip(cleaned, keys, strict=True)]
    if matcher is not None:
        matcher.prefetch(keyed)
    new_rows: dict[str, dict[str, Any]] = {}
    merges: dict[str, list[dict[str, Any]]] = {}
    reviews: list[dict[str, Any]] = []
    results: list[WriteResult | LeadbaseError] = []
    for i, clean in enumerate(cleaned):
        candidate = matcher.best(keyed[i]) if matcher is not None else None
        if (
            candidate is not None
            and candidate.verdict.action == "merge"
            and on_duplicate in ("reject", "merge")
        ):
            if on_duplicate == "reject":
                if not lenient:
                    raise _refusal(candidate, prefixes[i])
                results.append(_refusal(candidate, prefixes[i]))
                continue
            lead_id = candidate.lead_id
            if lead_id in new_rows:  # an earlier row of this same batch
                folded = _fold_into_new(new_rows[lead_id], clean)
                if folded == "merged":
                    assert matcher is not None
                    matcher.add(lead_id, new_rows[lead_id])
                results.append(WriteResult(lead_id, folded))
            else:
                merges.setdefault(lead_id, []).append(clean)
                results.append(WriteResult(lead_id, "merged"))
            continue
        lead_id = new_id()
        new_rows[lead_id] = {**DEFAULTS, **keyed[i], "id": lead_id}
        results.append(WriteResult(lead_id, "created"))
        if matcher is not None:
            matcher.add(lead_id, keyed[i])
            if candidate is not None:
                reviews.append(_review(candidate, lead_id))

    _link_companies(uow, [row for row in new_rows.values() if not row.get("company_id")])
    _insert_new(session, list(new_rows.values()), _sources_by_lead(results, sources))
    brought = _apply_merges(uow, merges)
    _queue_reviews(session, reviews)
    results = _merge_outcomes(results, merges, brought)
    if sources is not None:
        _add_sources(session, results, sources)
    rescore(uow, [*new_rows, *brought])
    return results


def _fold_into_new(row: dict[str, Any], clean: Mapping[str, Any]) -> Outcome:
    """Fold a duplicate into a lead an earlier row of its batch creates:
    "unchanged" when it brings nothing new, as it would a batch later."""
    changes = merged_values(row, clean)
    if not changes:
        return "unchanged"
    row.update(changes)
    row.update(match_keys(row))
    return "merged"


def _sources_by_lead(
    results: Sequence[WriteResult | LeadbaseError],
    sources: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Mapping[str, Any]]:
    """A created lead's source: the first row that created it."""
    if sources is None:
        return {}
    found: dict[str, Mapping[str, Any]] = {}
    for result, source in zip(results, sources, strict=True):
        if isinstance(result, WriteResult) and result.outcome == "created":
            found.setdefault(result.lead_id, source)
    return found


def _add_sources(
    session: Session,
    results: Sequence[WriteResult | LeadbaseError],
    sources: Sequence[Mapping[str, Any]],
) -> None:
    """One source row for each lead an incoming duplicate changed, whether
    the lead was stored or an earlier row of the batch creates it (a row
    that brought nothing new leaves no trace: a re-run adds no rows)."""
    landed: dict[str, Mapping[str, Any]] = {}
    for result, source in zip(results, sources, strict=True):
        if isinstance(result, WriteResult) and result.outcome == "merged":
            landed.setdefault(result.lead_id, source)
    record_sources(session, list(landed.items()))


def record_sources(session: Session, landed: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """A source row for each (lead id, source facts): where data that
    landed on an existing lead came from (an import's merge or update)."""
    now, actor = utcnow(), context.current().actor
    repository.insert_sources(
        session, [_source({"id": lead_id}, now, actor, source) for lead_id, source in landed]
    )


def _insert_new(
    session: Session,
    rows: list[dict[str, Any]],
    sources: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Insert new lead rows (every field, their match keys included) with
    their source rows (``sources``: what a caller knows beyond the lead)."""
    if not rows:
        return
    now, actor = utcnow(), context.current().actor
    stamp = {
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": actor,
        "updated_by": actor,
        "is_deleted": False,
        "deleted_at": None,
        "deleted_by": None,
        "merged_into_id": None,
    }
    for row in rows:
        row.update(stamp)
        row["sort_name"] = norm.sort_key(row["full_name"])
        # Core inserts skip the ORM's derivation (models.lead.enrichment_steps_key).
        row["enrichment_steps"] = enrichment_steps_key(row.get("enrichment_data"))
    # The INSERT runs while the rest is worked out (no database use in the block).
    with repository.inserting_leads(session, rows):
        # A plain create writes no lead_sources row (it would only repeat the
        # lead's own source fields: repository.sources_for tells them from
        # the lead row); a caller's source facts (an import's run) are kept.
        given = sources or {}
        source_rows = [
            _source(row, now, actor, given[row["id"]]) for row in rows if row["id"] in given
        ]
        # Every new row holds every field: its changes are the non-empty ones.
        audit.append_rows(session, "lead", rows, LEAD_FIELDS, now)
    repository.insert_sources(session, source_rows)
    # No sync mark: a lead without one for the target has never been pushed,
    # and the outbox counts it pending (repository.sync_pending).


def _merge_outcomes(
    results: list[WriteResult | LeadbaseError],
    merges: Mapping[str, list[dict[str, Any]]],
    brought: Mapping[str, list[bool]],
) -> list[WriteResult | LeadbaseError]:
    """A row folded into a stored lead counts "merged" when it brought that
    lead something, else "unchanged": the same whether the rows that name
    the lead come in one batch or in several."""
    folded: dict[str, int] = dict.fromkeys(merges, 0)  # each lead's rows seen so far
    outcomes: list[WriteResult | LeadbaseError] = []
    for result in results:
        if isinstance(result, WriteResult) and result.lead_id in folded:
            at = folded[result.lead_id]
            folded[result.lead_id] = at + 1
            changed_by = brought.get(result.lead_id)
            if changed_by is None or not changed_by[at]:
                result = WriteResult(result.lead_id, "unchanged")
        outcomes.append(result)
    return outcomes


def _apply_merges(
    uow: UnitOfWork, merges: Mapping[str, list[dict[str, Any]]]
) -> dict[str, list[bool]]:
    """Fold incoming duplicates into existing leads. Returns, for each lead
    that changed, whether each of its incoming rows brought it something.

    A merge only fills what a lead lacks: a lead without a company that
    gains a company domain or name is linked to it; one with a company
    keeps it.
    """
    if not merges:
        return {}
    session = uow.session
    leads = repository.get_many(session, list(merges))
    currents: dict[str, dict[str, Any]] = {}
    targets: dict[str, dict[str, Any]] = {}
    brought: dict[str, list[bool]] = {}
    for lead_id, incoming in merges.items():
        currents[lead_id] = row_values(leads[lead_id], LEAD_FIELDS)
        target = dict(currents[lead_id])
        brought[lead_id] = []
        for clean in incoming:
            changes = merged_values(target, clean)
            target.update(changes)
            brought[lead_id].append(bool(changes))
        targets[lead_id] = target
    _link_companies(uow, [t for t in targets.values() if not t.get("company_id")])
    changed: dict[str, Changes] = {}
    for lead_id, target in targets.items():
        lead = leads[lead_id]
        changes = diff(currents[lead_id], target)
        if changes:
            apply_changes(lead, changes)
            changed[lead_id] = changes
    moves = status_events([(leads[i], c) for i, c in changed.items()], utcnow())
    _flush(session)
    repository.insert_events(session, moves)
    for lead_id, changes in changed.items():
        audit.append(session, "lead", lead_id, "update", changes)
    mark_leads_for_sync(session, list(changed), "update")
    for lead_id in changed:
        if not any(brought[lead_id]):  # changed by its company link alone: the first row's doing
            brought[lead_id][0] = True
    return {lead_id: brought[lead_id] for lead_id in changed}


# --- quick-add -----------------------------------------------------------------------

ENRICH_JOB = "enrich_lead"


def quick_add(
    uow: UnitOfWork, data: Any, *, on_duplicate: DuplicatePolicy = "reject"
) -> WriteResult:
    """A manual lead from an email (and a domain, name, notes), marked
    ``in_progress`` with its enrichment job's id; the job is handed to the
    runner once the caller's unit of work commits, so the caller answers at
    once and a rollback leaves neither lead nor job.

    A merge into an existing lead (``on_duplicate=merge``) enriches that lead.
    """
    given = parse(QuickAddInput, data)
    job_id = new_id()
    lead = {
        "email": given.email,
        "company_domain": given.domain,
        "full_name": given.name,
        "notes": given.notes,
        "source": "manual",
        "is_manual": True,
        "enrichment_status": "in_progress",
        "enrichment_task_id": job_id,
    }
    result = create(
        uow, {k: v for k, v in lead.items() if v is not None}, on_duplicate=on_duplicate
    )
    if result.outcome == "created":
        _queue_enrichment(uow, result.lead_id, job_id)
    else:  # merged: the existing lead kept its own status and task
        start_enrichment(uow, [result.lead_id])
    return result


def start_enrichment(uow: UnitOfWork, lead_ids: Sequence[str]) -> dict[str, str]:
    """Mark each lead ``in_progress`` under a new enrichment job and queue
    the jobs (handed to the runner after commit). Returns job ids by lead.

    A job still running for one of these leads is superseded: it finds
    another task id on the lead when it finishes, and leaves it alone.
    """
    jobs: dict[str, str] = {}
    for lead_id in dict.fromkeys(lead_ids):
        job_id = new_id()
        marks = {"enrichment_status": "in_progress", "enrichment_task_id": job_id}
        update(uow, lead_id, marks, on_duplicate="allow")
        _queue_enrichment(uow, lead_id, job_id)
        jobs[lead_id] = job_id
    return jobs


def _queue_enrichment(uow: UnitOfWork, lead_id: str, job_id: str) -> None:
    jobs_service.enqueue(uow, ENRICH_JOB, {"lead_id": lead_id}, job_id=job_id)


# --- scoring after the change ---------------------------------------------------------

SCORE_JOB = "score_leads"
# Lead ids per scoring job: 1,000 ids are ~38 KB of payload (jobs take 64 KB).
SCORE_JOB_LEADS = 1000


def rescore(uow: UnitOfWork, lead_ids: Sequence[str]) -> None:
    """Have these leads scored again once the unit of work commits: the ids
    are gathered over the unit of work and queued as ``score_leads`` jobs,
    one per 1,000 leads, in its transaction just before it commits."""
    if not lead_ids or not get_settings().score_on_write:
        return
    if SCORE_JOB in uow.queued_by_caller:
        return
    gathered = uow.gathered.get(SCORE_JOB)
    if gathered is None:
        gathered = uow.gathered[SCORE_JOB] = set()
        uow.before_commit(_queue_scoring, uow)
    gathered.update(lead_ids)


def _queue_scoring(uow: UnitOfWork) -> None:
    lead_ids = sorted(uow.gathered.pop(SCORE_JOB, ()))
    for chunk in chunked(lead_ids, SCORE_JOB_LEADS):
        jobs_service.enqueue(uow, SCORE_JOB, {"lead_ids": list(chunk)})


def defer_scoring(uow: UnitOfWork) -> None:
    """The caller queues the scoring of what this unit of work writes itself
    (an import run: one job for the whole run at its end, not one per
    batch), or nothing is kept (a dry run): ``rescore`` queues nothing here."""
    uow.queued_by_caller.add(SCORE_JOB)


def queue_run_scoring(uow: UnitOfWork, run_id: str) -> None:
    """One job scoring every lead an import run or Apify sync wrote
    (found by its lead_sources rows' import_batch_id)."""
    if get_settings().score_on_write:
        jobs_service.enqueue(uow, SCORE_JOB, {"import_run_id": run_id})


# Leads per audit entry of a scoring batch: ~50 bytes each (id, old and new
# score) keeps an entry well within MariaDB's 64 KB TEXT.
SCORE_AUDIT_LEADS = 500
SCORE_ACTION = "score"


def _same_score(
    stored: tuple[int | None, dict[str, Any] | None], new: tuple[int, dict[str, Any]]
) -> bool:
    """The same score with the same explanation, whenever each was computed."""
    old_score, old_why = stored
    if old_score != new[0] or not isinstance(old_why, dict):
        return False
    return {**old_why, "scored_at": None} == {**new[1], "scored_at": None}


def record_scores(uow: UnitOfWork, scores: Mapping[str, tuple[int, dict[str, Any]]]) -> list[str]:
    """Store each lead's (score, explanation) where it changed; returns the
    ids written.

    A score is derived, not an edit: no version bump (a person's edit is
    never refused because a job scored the lead meanwhile), no sync mark, no
    updated_at. The chain still holds every change: one audit entry per
    batch (entity ``lead_batch``, action ``score``: the ids and each one's
    old and new score, the mode and the rules' digest).
    """
    session = uow.session
    serialize_writers(session)
    stored = repository.stored_scores(session, list(scores))
    changed = [
        lead_id
        for lead_id, new in scores.items()
        if lead_id in stored and not _same_score(stored[lead_id], new)
    ]
    repository.write_scores(
        session,
        [{"b_id": i, "b_score": scores[i][0], "b_explanation": scores[i][1]} for i in changed],
    )
    now = utcnow()
    entries = []
    for chunk in chunked(changed, SCORE_AUDIT_LEADS):
        first = scores[chunk[0]][1]
        entries.append(
            (
                batch_id(now),
                {
                    "ids": list(chunk),
                    "lead_score": [[stored[i][0], scores[i][0]] for i in chunk],
                    "mode": first.get("mode"),
                    "rules": first.get("rules"),
                },
            )
        )
    audit.append_many(session, batch_type("lead"), SCORE_ACTION, entries, at=now)
    return changed


# --- update, delete, restore ---------------------------------------------------------


def apply_changes(lead: SalesLead, changes: Changes) -> None:
    """Set the changed fields and what derives from them (sort and match
    keys). A status change's timeline event is the caller's to record
    (``status_events``): a merge's survivor records none, as an unmerge must
    leave its rows as they were."""
    for field, (_, new) in changes.items():
        setattr(lead, field, new)
    if "full_name" in changes:
        lead.sort_name = norm.sort_key(lead.full_name)
    if not KEY_SOURCE_FIELDS.isdisjoint(changes):
        for column, value in match_keys(row_values(lead, KEY_SOURCE_FIELDS)).items():
            setattr(lead, column, value)
    lead.updated_by = context.current().actor


def status_events(
    changed: Sequence[tuple[SalesLead, Changes]], now: datetime
) -> list[dict[str, Any]]:
    """A status_changed event row for each lead whose lead_status changes,
    with the seconds it spent in the stage it leaves: what the funnel and
    the time-in-stage figures count (analytics), one indexed read away.
    Call before the flush (it sets ``status_changed_at``); insert the rows
    after it."""
    rows = []
    for lead, changes in changed:
        if "lead_status" not in changes:
            continue
        since = lead.status_changed_at or lead.created_at or now
        row = event_row(lead.id, STATUS_EVENT, now, {"lead_status": changes["lead_status"]})
        row["changed_fields"] = None
        row["stage_seconds"] = max(0, int((now - since).total_seconds()))
        rows.append(row)
        lead.status_changed_at = now
        lead.stage_reached = stage_reached(lead.stage_reached, *changes["lead_status"])
    return rows


def stage_reached(before: int | None, old_status: Any, new_status: Any) -> int | None:
    """A lead's stage_reached after a change from ``old_status`` to
    ``new_status``: the furthest funnel rank it has been at, while that is
    past the new status's; None when the new status is as far as it went."""
    rank = FUNNEL_RANKS.get(new_status, 0)
    furthest = max(before or 0, FUNNEL_RANKS.get(old_status, 0), rank)
    return furthest if furthest > rank else None


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError("the lead was changed by someone else; reload and retry") from None


def _load_for_write(
    session: Session, lead_id: str, expected_version: int | None, *, include_deleted: bool = False
) -> SalesLead:
    serialize_writers(session)
    lead = repository.get_current(session, lead_id, include_deleted=include_deleted)
    if lead is None:
        raise NotFoundError(f"lead {lead_id} not found")
    if expected_version is not None and lead.version != expected_version:
        raise ConflictError(
            f"lead {lead_id} is at version {lead.version}, not {expected_version}: "
            f"it was changed by {lead.updated_by} at {lead.updated_at:%Y-%m-%d %H:%M:%S}Z",
            current_version=lead.version,
        )
    return lead


def update(
    uow: UnitOfWork,
    lead_id: str,
    data: Mapping[str, Any],
    *,
    expected_version: int | None = None,
    replace: bool = False,
    on_duplicate: DuplicatePolicy = "reject",
    mark_sync: bool = True,
) -> SalesLead:
    """Change some fields (``replace=False``, PATCH) or all of them (PUT).

    ``mark_sync=False``: a change the sync target must not get (the
    Airtable pull's flag on a lead whose record was deleted there)."""
    session = uow.session
    lead = _load_for_write(session, lead_id, expected_version)
    current = row_values(lead, LEAD_FIELDS)
    clean = clean_input(data, full=replace, current=current)
    _require_identity({**current, **clean}, "")
    changes = diff(current, clean)
    if not changes:
        return lead
    if "company_id" in data:  # the caller's choice, whatever the company fields say
        if "company_id" in changes:
            _check_companies(session, [clean], [""])
    elif _names_another_company(changes) or "company_id" in changes:
        _relink(uow, current, clean, changes)
        if not changes:
            return lead
    if on_duplicate != "allow" and not COMPARED.isdisjoint(changes):
        _check_duplicates(session, {**current, **clean}, lead_id, on_duplicate)
    apply_changes(lead, changes)
    moves = status_events([(lead, changes)], utcnow())
    _flush(session)
    repository.insert_events(session, moves)
    audit.append(session, "lead", lead_id, "update", changes)
    if mark_sync:
        mark_leads_for_sync(session, [lead_id], "update")
    rescore(uow, [lead_id])
    return lead


def _check_duplicates(
    session: Session, values: Mapping[str, Any], lead_id: str, on_duplicate: DuplicatePolicy
) -> None:
    """An edit that makes a lead another's duplicate: an exact match on an
    identity key (another active lead holds this email) is refused, unless
    the policy is review; a fuzzy one is a suggestion, not a reason to
    refuse a person's (or enrichment's) edit, so it is queued for review."""
    matcher = Matcher(session)
    row = _keyed(values)
    matcher.prefetch([row])
    candidate = matcher.best(row, exclude_id=lead_id)
    if candidate is None:
        return
    exact = candidate.verdict.action == "merge" and _exact_field(candidate) is not None
    if exact and on_duplicate != "review":
        raise _refusal(candidate)
    _queue_reviews(session, [_review(candidate, lead_id)])


def soft_delete(uow: UnitOfWork, lead_id: str, *, expected_version: int | None = None) -> SalesLead:
    session = uow.session
    lead = _load_for_write(session, lead_id, expected_version)
    now, actor = utcnow(), context.current().actor
    changes: Changes = {"is_deleted": [False, True]}
    lead.is_deleted, lead.deleted_at, lead.deleted_by = True, now, actor
    lead.updated_by = actor
    _flush(session)
    audit.append(session, "lead", lead_id, "delete", changes)
    mark_leads_for_sync(session, [lead_id], "delete")
    return lead


def restore(uow: UnitOfWork, lead_id: str, *, expected_version: int | None = None) -> SalesLead:
    session = uow.session
    lead = _load_for_write(session, lead_id, expected_version, include_deleted=True)
    if not lead.is_deleted:
        return lead
    if lead.merged_into_id is not None:
        raise ConflictError(
            f"lead {lead_id} was merged into {lead.merged_into_id}: unmerge it to bring it back"
        )
    changes: Changes = {"is_deleted": [True, False]}
    lead.is_deleted, lead.deleted_at, lead.deleted_by = False, None, None
    lead.updated_by = context.current().actor
    _flush(session)
    audit.append(session, "lead", lead_id, "restore", changes)
    mark_leads_for_sync(session, [lead_id], "update")
    rescore(uow, [lead_id])
    return lead
