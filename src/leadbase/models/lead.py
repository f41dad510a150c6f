"""sales_leads and the tables that hang off a lead: sources and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import (
    AuditColumns,
    Base,
    BigIntPK,
    JSONType,
    UTCDateTime,
    new_id,
    utcnow,
)

# Full-text search artefacts that only migration 0004 knows, one set per
# database (an FTS5 table and its triggers; a generated tsvector column, GIN
# indexes and SQL functions; a FULLTEXT index): the models cannot describe
# them, so the model-vs-migrations drift check leaves every name starting
# with this alone.
SEARCH_ARTEFACT_PREFIX = "lead_search"


def is_search_artefact(name: str | None) -> bool:
    return bool(name) and str(name).startswith(SEARCH_ARTEFACT_PREFIX)


ENRICHMENT_STATUSES = ("pending", "in_progress", "completed", "failed")
LEAD_STATUSES = ("new", "contacted", "qualified", "converted", "lost")


# The equality filters of GET /leads.
FILTERED = (
    "is_manual",
    "enrichment_status",
    "lead_status",
    "source",
    "country",
    "industry",
    "company_id",
)

# The duplicate match keys, one indexed column each (dedupe.keys).
MATCH_KEY_COLUMNS = (
    "key_email",
    "key_domain",
    "key_name",
    "key_name_alt",
    "key_company",
    "key_address",
)
# The keys the write path's matcher looks leads up by, one index each
# (dedupe.matcher.LOOKUP_COLUMNS); key_domain and key_company are compared,
# never looked up.
INDEXED_MATCH_KEYS = ("key_email", "key_name", "key_name_alt", "key_address")


class RarelyDeleted:
    """SoftDeleteColumns, but ``is_deleted`` has no index of its own: the
    table's __table_args__ index the few deleted rows only (``where_true``)."""

    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(255))


# Indexed only where the lead has a value (SQLite, PostgreSQL: partial
# indexes; MariaDB has none and indexes every row). A lookup by value
# (= or IN) implies the value is there, so every database still uses them.
SPARSE = (
    "phone",
    "linkedin_url",
    "external_id",
    "actor_id",
    "run_id",
    "merged_into_id",
)
# The fuzzy match keys the matcher looks up; key_name and key_name_alt keep
# their own definitions (another change makes them partial).
FUZZY_KEYS = ("key_name", "key_name_alt")


# enrichment_steps: its length, and what it holds when the steps do not fit.
STEPS_KEY_LENGTH = 255
STEPS_OVERFLOW = "*"


def enrichment_steps_key(data: Any) -> str | None:
    """enrichment_data's steps (provider and status, as the enrichment
    path records them) as "provider=status,...": what analytics counts.
    None without steps; STEPS_OVERFLOW when they do not fit the column or
    a name holds the separators (analytics then reads those leads' JSON)."""
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        return None
    pairs = [
        (str(step["provider"]), str(step.get("status")))
        for step in steps
        if isinstance(step, dict) and step.get("provider")
    ]
    if not pairs:
        return None
    if any("," in part or "=" in part for pair in pairs for part in pair):
        return STEPS_OVERFLOW
    key = ",".join(f"{provider}={status}" for provider, status in pairs)
    return key if len(key) <= STEPS_KEY_LENGTH else STEPS_OVERFLOW


def steps_of_key(key: str) -> list[tuple[str, str]]:
    """The (provider, status) pairs ``enrichment_steps_key`` wrote."""
    return [tuple(pair.split("=", 1)) for pair in key.split(",")]  # type: ignore[misc]


def where_set(column: str) -> dict[str, Any]:
    """A partial index's condition: the rows with a value of ``column``."""
    condition = text(f"{column} IS NOT NULL")
    return {"sqlite_where": condition, "postgresql_where": condition}


def where_true(column: str) -> dict[str, Any]:
    """A partial index's condition: the rows where boolean ``column`` is true.
    A query must say ``column = true`` (literally or bound) to use it."""
    return {"sqlite_where": text(f"{column} = 1"), "postgresql_where": text(f"{column} = true")}


class SalesLead(AuditColumns, RarelyDeleted, Base):
    __tablename__ = "sales_leads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    full_name: Mapped[str | None] = mapped_column(String(255))
    # What the list sorts names by: full_name with accents and case folded
    # (dedupe.normalise.sort_key). Derived, set by the write path, never
    # given by a caller, not audited.
    sort_name: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(255))
    # Not indexed: a lookup by email goes by key_email (canonical_email of
    # it), leads.repository.email_matches.
    email: Mapped[str | None] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    phone: Mapped[str | None] = mapped_column(String(50))
    phone_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    additional_emails: Mapped[list[str] | None] = mapped_column(JSONType)
    additional_phones: Mapped[list[str] | None] = mapped_column(JSONType)
    linkedin_url: Mapped[str | None] = mapped_column(String(500))
    company_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("companies.id", ondelete="SET NULL")
    )
    company_name: Mapped[str | None] = mapped_column(String(255))
    # Not indexed: nothing looks leads up by it (the matcher compares key_domain).
    company_domain: Mapped[str | None] = mapped_column(String(255))
    street: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    # source tracking (seed 003)
    source: Mapped[str | None] = mapped_column(String(50))
    provider_name: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(255))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    run_id: Mapped[str | None] = mapped_column(String(100))
    dataset_id: Mapped[str | None] = mapped_column(String(100))
    # enrichment (seed 001)
    is_manual: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    enrichment_status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    enrichment_task_id: Mapped[str | None] = mapped_column(String(64))
    enrichment_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # enrichment_data's steps as "provider=status,..." in their order
    # (enrichment_steps_key above; STEPS_OVERFLOW when they do not
    # fit): the few distinct ones are counted from an index, not the JSON
    # parsed for every lead (analytics' success per provider). Derived by
    # the write path, not audited.
    enrichment_steps: Mapped[str | None] = mapped_column(String(STEPS_KEY_LENGTH))
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # lead management
    lead_score: Mapped[int | None] = mapped_column(Integer)
    score_explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    lead_status: Mapped[str] = mapped_column(String(20), nullable=False, default="new")
    # When lead_status last changed (None: never since the lead was
    # created): a status_changed event's stage_seconds counts from it.
    # Derived, set by the write path, not audited.
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The furthest funnel stage (FUNNEL_RANKS) a status change took the lead
    # to or from, kept only while it is past the current status (a lost
    # lead, one moved back); None otherwise. The funnel counts "reached"
    # from it and lead_status without reading events. Derived by the write
    # path (leads.service.status_events), not audited.
    stage_reached: Mapped[int | None] = mapped_column(SmallInteger)
    notes: Mapped[str | None] = mapped_column(Text)
    raw_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    merged_into_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="SET NULL")
    )
    # Duplicate match keys (dedupe.keys.match_keys), derived by the write
    # path from the fields above, never given by a caller, not audited: a
    # canonical email, the registered company domain, and blocking keys that
    # let a fuzzy lookup touch a few candidates instead of the whole table.
    key_email: Mapped[str | None] = mapped_column(String(255))
    key_domain: Mapped[str | None] = mapped_column(String(255))
    key_name: Mapped[str | None] = mapped_column(String(64))
    key_name_alt: Mapped[str | None] = mapped_column(String(64))
    key_company: Mapped[str | None] = mapped_column(String(255))
    key_address: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        # Keyset sorts of GET /leads: (sort value, id) pages walk these.
        Index("idx_lead_created_at", "created_at", "id"),
        Index("idx_lead_updated_at", "updated_at", "id"),
        Index("idx_lead_score", "lead_score", "id", **where_set("lead_score")),
        # Enriched leads by their steps' outcomes (the others hold none).
        Index(
            "idx_lead_enrichment_steps",
            "enrichment_steps",
            "enrichment_status",
            "created_at",
            **where_set("enrichment_steps"),
        ),
        # The few leads whose status is behind the furthest stage they reached.
        Index(
            "idx_lead_stage_reached", "stage_reached", "created_at", **where_set("stage_reached")
        ),
        Index("idx_lead_sort_name", "sort_name", "id"),
        # Filtered lists, newest first: `country = ? ORDER BY created_at DESC`
        # walks one of these in order and stops after a page. No id: leads
        # of one import batch share a created_at, and the databases sort
        # such ties by id as they go (SQLite a run of ties at a time,
        # PostgreSQL by incremental sort); a page reads its batch's ties.
        # The company_id one also serves the foreign key (MariaDB) and a
        # company's leads. On MariaDB every index holds the id anyway.
        *(
            Index(f"idx_lead_{field}_created", field, "created_at")
            for field in FILTERED
            if field != "is_manual"
        ),
        # Manual leads are few: only they are indexed (an is_manual=false
        # list walks created_at, nearly every lead matching).
        Index("idx_lead_is_manual_created", "is_manual", "created_at", **where_true("is_manual")),
        *(Index(f"idx_lead_{column}", column) for column in ("key_email", *FUZZY_KEYS)),
        Index("idx_lead_key_address", "key_address", **where_set("key_address")),
        # Looked up by value (the matcher, imports, Apify syncs), NULL in
        # most leads: only the leads that have one are indexed.
        *(Index(f"ix_sales_leads_{column}", column, **where_set(column)) for column in SPARSE),
        # Not partial: the matcher asks (provider_name, external_id) IN (...),
        # which SQLite does not take to mean "external_id IS NOT NULL".
        Index("idx_provider_external", "provider_name", "external_id"),
        # Deleted leads are few; live ones are read by other indexes.
        Index("ix_sales_leads_is_deleted", "is_deleted", **where_true("is_deleted")),
        # The name lookup of a row with an email (dedupe.matcher.NAME_LOOKUPS)
        # reads only the leads without one, few where most leads have an
        # email. key_email rides along so the lookup reads this index
        # alone, and so MariaDB, which has no partial indexes, gets a plain
        # (key_name, key_email) index that answers it too. No such index
        # for LinkedIn URLs: most leads lack one, so idx_lead_key_name with
        # a filter reads about as much.
        Index(
            "idx_lead_key_name_no_email",
            "key_name",
            "key_email",
            sqlite_where=text("key_email IS NULL"),
            postgresql_where=text("key_email IS NULL"),
        ),
    )
    __mapper_args__: dict[str, Any] = {"version_id_col": version}


class LeadSource(AuditColumns, RarelyDeleted, Base):
    """Where a lead came from, in more detail than the lead row keeps."""

    __tablename__ = "lead_sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Not unique: a merge moves the merged leads' sources to the survivor.
    lead_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="CASCADE"), nullable=False, index=True
    )
    source_type: Mapped[str] = mapped_column(String(50), nullable=False)
    source_name: Mapped[str | None] = mapped_column(String(255))
    provider_name: Mapped[str | None] = mapped_column(String(100))
    provider_id: Mapped[str | None] = mapped_column(String(255))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    actor_name: Mapped[str | None] = mapped_column(String(255))
    run_id: Mapped[str | None] = mapped_column(String(100))
    dataset_id: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(255))
    external_url: Mapped[str | None] = mapped_column(String(1000))
    scraped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    import_batch_id: Mapped[str | None] = mapped_column(String(64))
    scrape_params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    data_quality_score: Mapped[int | None] = mapped_column(Integer)
    confidence_score: Mapped[int | None] = mapped_column(Integer)
    # "metadata" is reserved on declarative classes; the column keeps its name.
    extra_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)

    __table_args__ = (
        # An import's sources have no provider or actor: only an Apify
        # run's are indexed by them (MariaDB: all).
        Index("idx_source_provider", "provider_name", "external_id", **where_set("provider_name")),
        Index("idx_source_actor_run", "actor_id", "run_id", **where_set("actor_id")),
        Index("idx_source_batch", "import_batch_id"),
        Index("ix_lead_sources_is_deleted", "is_deleted", **where_true("is_deleted")),
    )


# The timeline kinds an audit entry tells (action -> event_type). The write
# path wrote a lead_events row of these beside each audit entry until
# migration 0013; readers take them from the audit log and pass over any
# such row an older write left.
AUDITED_EVENTS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "restore": "restored",
}
CHANGE_EVENTS = frozenset(AUDITED_EVENTS.values())
# A lead_status change, written beside its audit entry (which the timeline
# shows) so that the funnel and time-in-stage figures are one indexed
# query: old_status, new_status, event_timestamp and stage_seconds.
STATUS_EVENT = "status_changed"
# Event types the timeline takes from elsewhere (the audit log).
NOT_ON_TIMELINE = CHANGE_EVENTS | {STATUS_EVENT}
# What leadbase records itself on lead_events, never a client: the kinds
# above and a merge's. Every other kind is an activity (activities.service
# refuses these; scoring and analytics count the rest), sorted for SQL.
NOT_ACTIVITIES: tuple[str, ...] = tuple(sorted(NOT_ON_TIMELINE | {"merged", "unmerged"}))
# The funnel's stages in order; lost (and any other status) ranks with new:
# it says nothing of how far a lead went.
FUNNEL_RANKS = {"new": 0, "contacted": 1, "qualified": 2, "converted": 3}


class LeadEvent(Base):
    """What the audit log does not tell of a lead: activities recorded
    against it (POST /leads/{id}/events) and merges (merged, unmerged)."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # Indexed by (lead_id, event_type) below: a lead's events are read by lead id.
    lead_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="CASCADE"), nullable=False
    )
    event_type: Mapped[str] = mapped_column(String(50), nullable=False)
    event_name: Mapped[str | None] = mapped_column(String(255))
    event_description: Mapped[str | None] = mapped_column(Text)
    event_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    event_source: Mapped[str | None] = mapped_column(String(100))
    event_timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(255))
    old_status: Mapped[str | None] = mapped_column(String(50))
    new_status: Mapped[str | None] = mapped_column(String(50))
    changed_fields: Mapped[list[str] | None] = mapped_column(JSONType)
    # An activity's result ("connected", "no_answer", "meeting_set"...).
    outcome: Mapped[str | None] = mapped_column(String(50))
    # On a status_changed event: how long the lead was in old_status.
    stage_seconds: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        Index("idx_event_lead_type", "lead_id", "event_type"),
        # Activity volume and the funnel over a time range, by kind.
        Index("idx_event_type_time", "event_type", "event_timestamp"),
        # Activity volume by outcome over a time range, one range a cell.
        Index(
            "idx_event_outcome_time",
            "outcome",
            "event_timestamp",
            "event_type",
            **where_set("outcome"),
        ),
        # The funnel's time in stage: status changes by the stage they left,
        # in stage_seconds order (a median is an offset into it), with the
        # lead id to keep the list's leads without reading the rows.
        Index(
            "idx_event_stage_seconds",
            "old_status",
            "stage_seconds",
            "lead_id",
            **where_set("stage_seconds"),
        ),
    )


@event.listens_for(SalesLead.enrichment_data, "set")
def _derive_enrichment_steps(lead: SalesLead, value: Any, *_: Any) -> None:
    """enrichment_steps follows enrichment_data however the ORM sets it (the
    write path, the enrichment path, a merge, an unmerge's restore)."""
    lead.enrichment_steps = enrichment_steps_key(value)
