"""Merge, unmerge and dismiss duplicates, in the caller's unit of work.

A merge folds any number of leads into one survivor (``duplicates.survivorship.survive``
decides its values), moves their events and sources to it, and marks them
``merged_into_id``: they leave every list and duplicate lookup but keep
their rows. The ``merges`` row keeps every column of every row the merge
changed, as it was, so ``unmerge`` puts them back exactly. Both are
audited on the chain for every lead they touch, appear on each lead's
timeline and mark the leads for outbound sync, like any other write.

Writers are serialised (``db.serialize_writers``) before anything is read:
of two merges that share a lead, the second one sees the first one's
result and is refused with a ConflictError, never half-applied. Nothing
here commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from leadbase import audit, context
from leadbase.changes import Changes, diff, row_values
from leadbase.companies import service as companies_service
from leadbase.companies.schemas import COMPANY_FIELDS
from leadbase.db import UnitOfWork, serialize_writers
from leadbase.dedupe import repository
from leadbase.dedupe.keys import KEY_SOURCE_FIELDS, match_keys
from leadbase.duplicates.survivorship import survive
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.leads.schemas import LEAD_FIELDS
from leadbase.models import (
    Company,
    DuplicateCluster,
    LeadEvent,
    LeadSource,
    Merge,
    SalesLead,
    new_id,
    utcnow,
)

# Leads (or companies) one merge takes, in one transaction: 1,000 merge in a
# few seconds (bench: 99 in 0.2-0.9 s); past that, merge in rounds.
MAX_MERGE = 1000
# What a lead's audit entries and the unmerge diff compare: its fields and where it went.
# A merged lead is also soft-deleted: it leaves every list, count and export
# the way a deleted lead does, and GET by id still shows where it went.
TRACKED = (*LEAD_FIELDS, "merged_into_id", "is_deleted")


# --- checks ----------------------------------------------------------------------------


def _merge_ids(survivor_id: str, other_ids: Sequence[str], field: str) -> list[str]:
    """The survivor first, then the others once each, in the order given."""
    if isinstance(other_ids, str) or not other_ids:
        raise ValidationError(field, "name at least one other id to merge into the survivor")
    if not all(isinstance(i, str) and i for i in (survivor_id, *other_ids)):
        raise ValidationError(field, "ids must be non-empty strings")
    others = list(dict.fromkeys(other_ids))
    if survivor_id in others:
        raise ValidationError(field, "the survivor cannot also be merged into itself")
    if len(others) + 1 > MAX_MERGE:
        raise ValidationError(field, f"at most {MAX_MERGE} leads merge at once")
    return [survivor_id, *others]


def _flush(session: Session, what: str) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(f"the {what} changed meanwhile; reload and retry") from None


def _check_versions(
    found: Mapping[str, Any], expected: Mapping[str, int] | None, what: str
) -> None:
    """The caller's view of each row (``expected``: id -> version) is still current."""
    for row_id, version in (expected or {}).items():
        row = found.get(row_id)
        if row is None:
            raise ValidationError(f"versions.{row_id}", f"is not one of the {what}s merged")
        if row.version != version:
            raise ConflictError(
                f"{what} {row_id} is at version {row.version}, not {version}: "
                f"it was changed by {row.updated_by}",
                current_version=row.version,
            )


def _load_leads(
    session: Session, ids: Sequence[str], expected: Mapping[str, int] | None
) -> dict[str, SalesLead]:
    """The leads to merge, read after the write lock: each must exist and be active."""
    leads = {}
    for lead_id in ids:
        lead = leads_repository.get_current(session, lead_id, include_deleted=True)
        if lead is not None and lead.merged_into_id is not None:
            raise ConflictError(f"lead {lead_id} was already merged into {lead.merged_into_id}")
        if lead is None or lead.is_deleted:
            raise NotFoundError(f"lead {lead_id} not found")
        leads[lead_id] = lead
    _check_versions(leads, expected, "lead")
    return leads


def _open_cluster(session: Session, cluster_id: str, ids: Sequence[str]) -> DuplicateCluster:
    cluster = repository.get_cluster(session, cluster_id)
    if cluster is None:
        raise NotFoundError(f"duplicate cluster {cluster_id} not found")
    if cluster.status != "open":
        raise ConflictError(f"duplicate cluster {cluster_id} is {cluster.status} already")
    if not set(cluster.lead_ids) <= set(ids):
        raise ValidationError("cluster_id", "the merge must take every lead of the cluster")
    return cluster


# --- merge -----------------------------------------------------------------------------


def merge_leads(
    uow: UnitOfWork,
    survivor_id: str,
    other_ids: Sequence[str],
    choices: Mapping[str, str] | None = None,
    *,
    cluster_id: str | None = None,
    expected_versions: Mapping[str, int] | None = None,
) -> Merge:
    """Fold ``other_ids`` into ``survivor_id``; returns the stored merge.

    ``choices``: field -> the id of the lead whose value the survivor takes
    (``duplicates.survivorship`` says what wins otherwise). ``cluster_id``: the stored
    cluster this merge resolves. ``expected_versions`` (id -> version): a
    lead changed since the caller read it refuses the merge (409).
    """
    session = uow.session
    ids = _merge_ids(survivor_id, other_ids, "merged_ids")
    others = ids[1:]
    serialize_writers(session)
    leads = _load_leads(session, ids, expected_versions)
    cluster = _open_cluster(session, cluster_id, ids) if cluster_id else None
    before = repository.rows_by_id(session, SalesLead, ids)
    events = repository.rows_of_leads(session, LeadEvent, others)
    sources = repository.rows_of_leads(session, LeadSource, others)
    outcome = survive([{"id": i, **row_values(leads[i], LEAD_FIELDS)} for i in ids], choices)

    survivor = leads[survivor_id]
    changes = diff(row_values(survivor, LEAD_FIELDS), outcome.values)
    _apply_to_survivor(survivor, changes)
    actor, now = context.current().actor, utcnow()
    for lead_id in others:
        merged = leads[lead_id]
        merged.merged_into_id = survivor_id
        merged.is_deleted, merged.deleted_at, merged.deleted_by = True, now, actor
        merged.updated_by = actor
    _flush(session, "leads")
    repository.move_to_lead(session, LeadEvent, [row["id"] for row in events], survivor_id)
    repository.move_to_lead(session, LeadSource, [row["id"] for row in sources], survivor_id)

    merge = Merge(
        id=new_id(),
        entity="lead",
        survivor_id=survivor_id,
        merged_ids=others,
        snapshot={
            "rows": [repository.encode_row(SalesLead, before[i]) for i in ids],
            "events": [repository.encode_row(LeadEvent, row) for row in events],
            "sources": [repository.encode_row(LeadSource, row) for row in sources],
            "versions": {i: leads[i].version for i in ids},
            "choices": dict(choices or {}),
            "kept": outcome.kept,
            "clusters": _resolve_clusters(session, ids, cluster, "merged"),
        },
        survivor_version=survivor.version,
        created_at=utcnow(),
        created_by=actor,
    )
    repository.add_merge(session, merge)
    _record(session, merge, "merge", {survivor_id: changes}, others)
    leads_service.rescore(uow, [survivor_id])  # it holds the others' activities now
    return merge


def _apply_to_survivor(survivor: SalesLead, changes: Changes) -> None:
    """The write path's own apply (sort name, match keys, who), plus a version
    bump even when no field changed: the lead now holds others' events and
    sources, and its unmerge is checked against that version."""
    leads_service.apply_changes(survivor, changes)
    for column, value in match_keys(row_values(survivor, KEY_SOURCE_FIELDS)).items():
        setattr(survivor, column, value)
    flag_modified(survivor, "updated_by")


def _resolve_clusters(
    session: Session, ids: Sequence[str], chosen: DuplicateCluster | None, status: str
) -> list[str]:
    """Mark ``chosen`` and every other open cluster within these leads
    ``status``; returns their ids (an unmerge reopens them)."""
    wanted = set(ids)
    clusters = [
        cluster
        for cluster in repository.clusters_for_leads(session, ids, status="open")
        if set(cluster.lead_ids) <= wanted
    ]
    if chosen is not None and chosen not in clusters:
        clusters.append(chosen)
    now, actor = utcnow(), context.current().actor
    for cluster in clusters:
        cluster.status, cluster.resolved_at, cluster.resolved_by = status, now, actor
    session.flush()
    return [cluster.id for cluster in clusters]


def _record(
    session: Session,
    merge: Merge,
    action: str,
    survivor_changes: Mapping[str, Changes],
    others: Sequence[str],
    other_changes: Mapping[str, Changes] | None = None,
) -> None:
    """Audit entries, timeline events and sync marks for every lead of a
    merge (``action`` "merge") or an unmerge ("unmerge")."""
    now = utcnow()
    event_type = "merged" if action == "merge" else "unmerged"
    data = {"merge_id": merge.id, "survivor_id": merge.survivor_id, "merged_ids": list(others)}
    entries: dict[str, Changes] = {}
    for lead_id, changes in survivor_changes.items():
        entries[lead_id] = {**changes, "merged_leads": [None, list(others)]}
        if action == "unmerge":
            entries[lead_id]["merged_leads"] = [list(others), None]
    for lead_id in others:
        into = merge.survivor_id
        default = [None, into] if action == "merge" else [into, None]
        hidden = [False, True] if action == "merge" else [True, False]
        entries[lead_id] = (other_changes or {}).get(lead_id) or {
            "merged_into_id": default,
            "is_deleted": hidden,
        }
    events = []
    for lead_id, changes in entries.items():
        audit.append(session, "lead", lead_id, action, {**changes, "merge_id": [None, merge.id]})
        events.append(leads_service.event_row(lead_id, event_type, now, changes, data))
    leads_repository.insert_events(session, events)
    leads_service.mark_leads_for_sync(session, list(entries), "update")


# --- unmerge ---------------------------------------------------------------------------


def _merge_to_undo(session: Session, entity: str, entity_id: str) -> Merge:
    merges = repository.merges_for(session, entity, entity_id)
    todo = next((merge for merge in merges if merge.undone_at is None), None)
    if todo is None:
        state = "was undone already" if merges else "was never merged"
        raise ConflictError(f"{entity} {entity_id} {state}: there is no merge to undo")
    return todo


def _check_unchanged(merge: Merge, now: Mapping[Any, Any], what: str) -> None:
    """Every row the merge left is still as it left it."""
    versions: Mapping[str, int] = merge.snapshot["versions"]
    for row_id, version in versions.items():
        row = now.get(row_id)
        if row is None or row["version"] != version:
            raise ConflictError(
                f"{what} {row_id} changed after merge {merge.id}: "
                "undoing the merge would lose that change"
            )
    for row_id in merge.merged_ids:
        if now[row_id]["merged_into_id"] != merge.survivor_id:
            raise ConflictError(f"{what} {row_id} is no longer merged into {merge.survivor_id}")


def unmerge(uow: UnitOfWork, lead_id: str) -> Merge:
    """Undo the latest merge ``lead_id`` took part in (as survivor or merged):
    every lead row, event and source it changed goes back exactly as it was.

    Refused (ConflictError) when the merge was undone already or when one of
    its leads changed since (its version moved on): undoing it would lose
    that change.
    """
    session = uow.session
    serialize_writers(session)
    if leads_repository.get(session, lead_id, include_deleted=True) is None:
        raise NotFoundError(f"lead {lead_id} not found")
    merge = _merge_to_undo(session, "lead", lead_id)
    ids = [merge.survivor_id, *merge.merged_ids]
    now = repository.rows_by_id(session, SalesLead, ids)
    _check_unchanged(merge, now, "lead")
    snapshot = merge.snapshot
    rows = [repository.decode_row(SalesLead, row) for row in snapshot["rows"]]
    for row in rows:
        if not repository.restore_versioned(session, SalesLead, row, now[row["id"]]["version"]):
            raise ConflictError(f"lead {row['id']} changed meanwhile; reload and retry")
    for model, key in ((LeadEvent, "events"), (LeadSource, "sources")):
        repository.write_rows(
            session, model, [repository.decode_row(model, row) for row in snapshot[key]]
        )
    session.expire_all()  # the ORM's copies of these rows are stale now
    changes = {row["id"]: diff(_tracked(now[row["id"]]), _tracked(row)) for row in rows}
    _reopen(session, snapshot.get("clusters", []))
    merge.undone_at, merge.undone_by = utcnow(), context.current().actor
    session.flush()
    others = merge.merged_ids
    _record(
        session,
        merge,
        "unmerge",
        {merge.survivor_id: changes[merge.survivor_id]},
        others,
        {i: changes[i] for i in others},
    )
    leads_service.rescore(uow, ids)
    return merge


def _tracked(row: repository.Row) -> dict[str, Any]:
    return {name: row[name] for name in TRACKED}


def _reopen(session: Session, cluster_ids: Sequence[str]) -> None:
    """Clusters a merge resolved are open again after its unmerge, for a
    person to decide: as "review", so an automatic merge never redoes it."""
    for cluster_id in cluster_ids:
        cluster = repository.get_cluster(session, cluster_id)
        if cluster is not None and cluster.status == "merged":
            cluster.status, cluster.action = "open", "review"
            cluster.resolved_at, cluster.resolved_by = None, None
    session.flush()


# --- clusters --------------------------------------------------------------------------


def dismiss_cluster(uow: UnitOfWork, cluster_id: str) -> DuplicateCluster:
    """Not duplicates: the cluster is dismissed and every pair of its leads
    remembered, so later scans and writes never join them again."""
    session = uow.session
    serialize_writers(session)
    cluster = repository.get_cluster(session, cluster_id)
    if cluster is None:
        raise NotFoundError(f"duplicate cluster {cluster_id} not found")
    if cluster.status == "dismissed":
        return cluster
    if cluster.status != "open":
        raise ConflictError(f"duplicate cluster {cluster_id} is {cluster.status} already")
    actor = context.current().actor
    cluster.status, cluster.resolved_at, cluster.resolved_by = "dismissed", utcnow(), actor
    if cluster.entity == "lead":
        repository.add_dismissals(session, cluster.lead_ids, actor)
    audit.append(
        session,
        "duplicate_cluster",
        cluster.id,
        "dismiss",
        {"status": ["open", "dismissed"], "lead_ids": [None, list(cluster.lead_ids)]},
    )
    session.flush()
    return cluster


@dataclass(frozen=True)
class ClusterPage:
    items: list[DuplicateCluster]
    # The id of the last item when more follow: pass it back as ``after``.
    next_after: str | None


def list_clusters(
    session: Session,
    *,
    status: str | None = "open",
    action: str | None = None,
    limit: int = 50,
    after: str | None = None,
) -> ClusterPage:
    """Stored clusters best first (highest score), one page at a time."""
    rows = list(
        repository.clusters_page(
            session, status=status, action=action, after=after, limit=limit + 1
        )
    )
    items = rows[:limit]
    more = len(rows) > limit
    return ClusterPage(items, items[-1].id if more and items else None)


def get_cluster(session: Session, cluster_id: str) -> DuplicateCluster:
    cluster = repository.get_cluster(session, cluster_id)
    if cluster is None:
        raise NotFoundError(f"duplicate cluster {cluster_id} not found")
    return cluster


def clusters_for_lead(session: Session, lead_id: str) -> list[DuplicateCluster]:
    """The open clusters ``lead_id`` is in: its possible duplicates."""
    return repository.clusters_for_leads(session, [lead_id], status="open")


def merges_for_lead(session: Session, lead_id: str) -> list[Merge]:
    """Every merge the lead took part in, newest first (undone ones too)."""
    return repository.merges_for(session, "lead", lead_id)


# --- companies -------------------------------------------------------------------------


def _load_companies(
    session: Session, ids: Sequence[str], expected: Mapping[str, int] | None
) -> dict[str, Company]:
    companies = {}
    for company_id in ids:
        company = session.get(Company, company_id, populate_existing=True)
        if company is None or company.is_deleted:
            raise NotFoundError(f"company {company_id} not found")
        if company.merged_into_id is not None:
            raise ConflictError(
                f"company {company_id} was already merged into {company.merged_into_id}"
            )
        companies[company_id] = company
    _check_versions(companies, expected, "company")
    return companies


def company_values(
    companies: Sequence[Mapping[str, Any]], choices: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """A merged company's fields: the chosen company's value, else the
    survivor's (the first), else the first other that has one; tags
    unioned. Returns the values and every value left out (field -> [{id, value}])."""
    ids = [company["id"] for company in companies]
    for name, company_id in choices.items():
        if name not in COMPANY_FIELDS:
            raise ValidationError(f"choices.{name}", "is not a company field")
        if company_id not in ids:
            raise ValidationError(f"choices.{name}", "must be the id of one of the companies")
    by_id = {company["id"]: company for company in companies}
    values: dict[str, Any] = {}
    for name in COMPANY_FIELDS:
        if name in choices:
            values[name] = by_id[choices[name]][name]
        elif name == "tags":
            tags = [tag for company in companies for tag in company.get("tags") or []]
            values[name] = list(dict.fromkeys(tags)) or None
        else:
            given = [c[name] for c in companies if c.get(name) not in (None, "")]
            values[name] = given[0] if given else None
    kept: dict[str, list[dict[str, Any]]] = {}
    for name in COMPANY_FIELDS:
        for company in companies:
            value = company.get(name)
            if value in (None, "", []) or value == values[name]:
                continue
            if isinstance(value, list) and all(v in (values[name] or []) for v in value):
                continue
            kept.setdefault(name, []).append({"id": company["id"], "value": value})
    return values, kept


def merge_companies(
    uow: UnitOfWork,
    survivor_id: str,
    other_ids: Sequence[str],
    choices: Mapping[str, str] | None = None,
    *,
    expected_versions: Mapping[str, int] | None = None,
) -> Merge:
    """Fold companies into one: their leads move to the survivor (each lead
    change audited, on its timeline and marked for sync); the others keep
    their rows with ``merged_into_id``. ``unmerge_company`` undoes it."""
    session = uow.session
    ids = _merge_ids(survivor_id, other_ids, "merged_ids")
    others = ids[1:]
    serialize_writers(session)
    companies = _load_companies(session, ids, expected_versions)
    before = repository.rows_by_id(session, Company, ids)
    lead_ids = repository.lead_ids_of_companies(session, others)
    lead_rows = repository.rows_by_id(session, SalesLead, lead_ids)
    fields = [{"id": i, **row_values(companies[i], COMPANY_FIELDS)} for i in ids]
    values, kept = company_values(fields, dict(choices or {}))

    survivor = companies[survivor_id]
    changes = diff(fields[0], values)
    for name, (_, new) in changes.items():
        setattr(survivor, name, new)
    if "name" in changes:
        for name, value in companies_service.derived_keys(survivor.name).items():
            setattr(survivor, name, value)
    actor = context.current().actor
    survivor.updated_by = actor
    flag_modified(survivor, "updated_by")
    for company_id in others:
        companies[company_id].merged_into_id = survivor_id
        companies[company_id].updated_by = actor
    _flush(session, "companies")
    _move_leads(session, lead_rows, survivor_id)

    merge = Merge(
        id=new_id(),
        entity="company",
        survivor_id=survivor_id,
        merged_ids=others,
        snapshot={
            "rows": [repository.encode_row(Company, before[i]) for i in ids],
            "leads": [repository.encode_row(SalesLead, r) for r in lead_rows.values()],
            "versions": {i: companies[i].version for i in ids},
            "lead_versions": {i: row["version"] + 1 for i, row in lead_rows.items()},
            "choices": dict(choices or {}),
            "kept": kept,
        },
        survivor_version=survivor.version,
        created_at=utcnow(),
        created_by=actor,
    )
    repository.add_merge(session, merge)
    audit.append(
        session,
        "company",
        survivor_id,
        "merge",
        {**changes, "merged_companies": [None, others], "merge_id": [None, merge.id]},
    )
    for company_id in others:
        audit.append(
            session,
            "company",
            company_id,
            "merge",
            {"merged_into_id": [None, survivor_id], "merge_id": [None, merge.id]},
        )
    return merge


def _move_leads(session: Session, lead_rows: Mapping[str, Any], company_id: str | None) -> None:
    """Each lead's company_id becomes ``company_id`` (None: back to each lead's
    own, restored separately): a versioned, audited change of every lead."""
    if not lead_rows:
        return
    now, actor = utcnow(), context.current().actor
    for lead_id, row in lead_rows.items():
        values = {
            "id": lead_id,
            "company_id": company_id,
            "version": row["version"] + 1,
            "updated_at": now,
            "updated_by": actor,
        }
        if not repository.restore_versioned(session, SalesLead, values, row["version"]):
            raise ConflictError(f"lead {lead_id} changed meanwhile; reload and retry")
        changes: Changes = {"company_id": [row["company_id"], company_id]}
        audit.append(session, "lead", lead_id, "update", changes)
    leads_service.mark_leads_for_sync(session, list(lead_rows), "update")
    session.expire_all()


def unmerge_company(uow: UnitOfWork, company_id: str) -> Merge:
    """Undo the latest merge ``company_id`` took part in: the companies'
    rows and their leads' rows go back exactly as they were. Refused when
    one of them changed since."""
    session = uow.session
    serialize_writers(session)
    if session.get(Company, company_id) is None:
        raise NotFoundError(f"company {company_id} not found")
    merge = _merge_to_undo(session, "company", company_id)
    ids = [merge.survivor_id, *merge.merged_ids]
    now = repository.rows_by_id(session, Company, ids)
    _check_unchanged(merge, now, "company")
    snapshot = merge.snapshot
    lead_versions: Mapping[str, int] = snapshot["lead_versions"]
    leads_now = repository.rows_by_id(session, SalesLead, list(lead_versions))
    for lead_id, version in lead_versions.items():
        if lead_id not in leads_now or leads_now[lead_id]["version"] != version:
            raise ConflictError(
                f"lead {lead_id} changed after merge {merge.id}: "
                "undoing the merge would lose that change"
            )
    for row in snapshot["rows"]:
        decoded = repository.decode_row(Company, row)
        if not repository.restore_versioned(session, Company, decoded, now[row["id"]]["version"]):
            raise ConflictError(f"company {row['id']} changed meanwhile; reload and retry")
    restored_leads = [repository.decode_row(SalesLead, r) for r in snapshot["leads"]]
    for row in restored_leads:
        if not repository.restore_versioned(session, SalesLead, row, lead_versions[row["id"]]):
            raise ConflictError(f"lead {row['id']} changed meanwhile; reload and retry")
        changes: Changes = {"company_id": [merge.survivor_id, row["company_id"]]}
        audit.append(session, "lead", row["id"], "update", changes)
    leads_service.mark_leads_for_sync(session, [row["id"] for row in restored_leads], "update")
    session.expire_all()
    tracked = (*COMPANY_FIELDS, "merged_into_id")
    for row in snapshot["rows"]:
        before = {name: now[row["id"]][name] for name in tracked}
        changes = diff(before, {name: row[name] for name in tracked})
        audit.append(
            session, "company", row["id"], "unmerge", {**changes, "merge_id": [None, merge.id]}
        )
    merge.undone_at, merge.undone_by = utcnow(), context.current().actor
    session.flush()
    return merge


def merges_for_company(session: Session, company_id: str) -> list[Merge]:
    return repository.merges_for(session, "company", company_id)
