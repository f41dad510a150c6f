"""sales_leads and the tables that hang off a lead: sources and events."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadbase.models.base import (
    AuditColumns,
    Base,
    BigIntPK,
    JSONType,
    SoftDeleteColumns,
    UTCDateTime,
    new_id,
    utcnow,
)

if TYPE_CHECKING:
    from leadbase.models.company import Company

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


class SalesLead(AuditColumns, SoftDeleteColumns, Base):
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
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    phone: Mapped[str | None] = mapped_column(String(50), index=True)
    phone_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    additional_emails: Mapped[list[str] | None] = mapped_column(JSONType)
    additional_phones: Mapped[list[str] | None] = mapped_column(JSONType)
    linkedin_url: Mapped[str | None] = mapped_column(String(500), index=True)
    company_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("companies.id", ondelete="SET NULL")
    )
    company_name: Mapped[str | None] = mapped_column(String(255))
    company_domain: Mapped[str | None] = mapped_column(String(255), index=True)
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
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(100), index=True)
    run_id: Mapped[str | None] = mapped_column(String(100), index=True)
    dataset_id: Mapped[str | None] = mapped_column(String(100))
    # enrichment (seed 001)
    is_manual: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    enrichment_status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    enrichment_task_id: Mapped[str | None] = mapped_column(String(64))
    enrichment_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # lead management
    lead_score: Mapped[int | None] = mapped_column(Integer)
    score_explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    lead_status: Mapped[str] = mapped_column(String(20), nullable=False, default="new")
    notes: Mapped[str | None] = mapped_column(Text)
    raw_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    merged_into_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="SET NULL"), index=True
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

    company: Mapped[Company | None] = relationship(back_populates="leads", lazy="raise")

    __table_args__ = (
        Index("idx_provider_external", "provider_name", "external_id"),
        Index("idx_lead_company", "company_id", "lead_status"),
        # Keyset sorts of GET /leads: (sort value, id) pages walk these.
        Index("idx_lead_created_at", "created_at", "id"),
        Index("idx_lead_updated_at", "updated_at", "id"),
        Index("idx_lead_score", "lead_score", "id"),
        Index("idx_lead_sort_name", "sort_name", "id"),
        # Filtered lists, newest first: `country = ? ORDER BY created_at DESC`
        # walks one of these in order and stops after a page.
        *(Index(f"idx_lead_{field}_created", field, "created_at", "id") for field in FILTERED),
        *(Index(f"idx_lead_{column}", column) for column in INDEXED_MATCH_KEYS),
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


class LeadSource(AuditColumns, SoftDeleteColumns, Base):
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
        Index("idx_source_provider", "provider_name", "external_id"),
        Index("idx_source_actor_run", "actor_id", "run_id"),
        Index("idx_source_batch", "import_batch_id"),
    )


class LeadEvent(Base):
    """The timeline of a lead: created, updated, deleted, restored, enriched..."""

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    __table_args__ = (Index("idx_event_lead_type", "lead_id", "event_type"),)
