"""Initial schema: leads, companies, sources, events, audit chain, sync outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 16:18:37.653475
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadbase.models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apify_sync_states",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=False),
        sa.Column("actor_name", sa.String(length=255), nullable=True),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("dataset_id", sa.String(length=100), nullable=True),
        sa.Column("sync_status", sa.String(length=20), nullable=False),
        sa.Column("last_sync_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("next_sync_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("run_status", sa.String(length=20), nullable=True),
        sa.Column("started_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("total_records", sa.Integer(), nullable=False),
        sa.Column("synced_records", sa.Integer(), nullable=False),
        sa.Column("failed_records", sa.Integer(), nullable=False),
        sa.Column("duplicate_records", sa.Integer(), nullable=False),
        sa.Column(
            "input_params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "error_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("compute_units", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("cost_usd", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apify_sync_states")),
        sa.UniqueConstraint("run_id", name=op.f("uq_apify_sync_states_run_id")),
    )
    with op.batch_alter_table("apify_sync_states", schema=None) as batch_op:
        batch_op.create_index("idx_sync_actor_status", ["actor_id", "sync_status"], unique=False)
        batch_op.create_index("idx_sync_status_time", ["sync_status", "last_sync_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_apify_sync_states_actor_id"), ["actor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_apify_sync_states_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_apify_sync_states_sync_status"),
            ["sync_status"],
            unique=False,
        )

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    # The chain starts empty: seq 0, the genesis hash.
    op.bulk_insert(
        sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entity_type", sa.String(length=50), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("idx_audit_created_at", ["created_at"], unique=False)
        batch_op.create_index("idx_audit_entity", ["entity_type", "entity_id"], unique=False)

    op.create_table(
        "companies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("company_type", sa.String(length=50), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("employee_count", sa.Integer(), nullable=True),
        sa.Column("employee_size_min", sa.Integer(), nullable=True),
        sa.Column("employee_size_max", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("website", sa.String(length=500), nullable=True),
        sa.Column("linkedin_url", sa.String(length=500), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["companies.id"],
            name=op.f("fk_companies_merged_into_id_companies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.create_index("idx_company_industry_country", ["industry", "country"], unique=False)
        batch_op.create_index("idx_company_location", ["country", "city"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_domain"), ["domain"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_industry"), ["industry"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_is_deleted"), ["is_deleted"], unique=False)

    op.create_table(
        "migration_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_file", sa.String(length=1000), nullable=False),
        sa.Column("leads_migrated", sa.Integer(), nullable=False),
        sa.Column("leads_failed", sa.Integer(), nullable=False),
        sa.Column("migration_date", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_details", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_log")),
    )
    op.create_table(
        "sales_leads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("phone_verified", sa.Boolean(), nullable=False),
        sa.Column(
            "additional_emails",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "additional_phones",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("linkedin_url", sa.String(length=500), nullable=True),
        sa.Column("company_id", sa.String(length=36), nullable=True),
        sa.Column("company_name", sa.String(length=255), nullable=True),
        sa.Column("company_domain", sa.String(length=255), nullable=True),
        sa.Column("street", sa.String(length=255), nullable=True),
        sa.Column("address_line2", sa.String(length=255), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=100), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("source", sa.String(length=50), nullable=True),
        sa.Column("provider_name", sa.String(length=100), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("actor_id", sa.String(length=100), nullable=True),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("dataset_id", sa.String(length=100), nullable=True),
        sa.Column("is_manual", sa.Boolean(), nullable=False),
        sa.Column("enrichment_status", sa.String(length=20), nullable=False),
        sa.Column("enrichment_task_id", sa.String(length=64), nullable=True),
        sa.Column(
            "enrichment_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("lead_score", sa.Integer(), nullable=True),
        sa.Column(
            "score_explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("lead_status", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "raw_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_sales_leads_company_id_companies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["sales_leads.id"],
            name=op.f("fk_sales_leads_merged_into_id_sales_leads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_leads")),
    )
    with op.batch_alter_table("sales_leads", schema=None) as batch_op:
        batch_op.create_index("idx_lead_company", ["company_id", "lead_status"], unique=False)
        batch_op.create_index("idx_lead_location", ["country", "city"], unique=False)
        batch_op.create_index("idx_lead_source_actor", ["source", "actor_id"], unique=False)
        batch_op.create_index("idx_lead_status", ["lead_status", "enrichment_status"], unique=False)
        batch_op.create_index(
            "idx_provider_external", ["provider_name", "external_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sales_leads_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sales_leads_company_domain"),
            ["company_domain"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_sales_leads_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_leads_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_leads_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sales_leads_external_id"), ["external_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sales_leads_is_deleted"), ["is_deleted"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_leads_is_manual"), ["is_manual"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sales_leads_linkedin_url"), ["linkedin_url"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sales_leads_merged_into_id"),
            ["merged_into_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_sales_leads_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_leads_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_leads_source"), ["source"], unique=False)

    op.create_table(
        "lead_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=True),
        sa.Column("event_description", sa.Text(), nullable=True),
        sa.Column(
            "event_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("event_source", sa.String(length=100), nullable=True),
        sa.Column("event_timestamp", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("old_status", sa.String(length=50), nullable=True),
        sa.Column("new_status", sa.String(length=50), nullable=True),
        sa.Column(
            "changed_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["sales_leads.id"],
            name=op.f("fk_lead_events_lead_id_sales_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_events")),
    )
    with op.batch_alter_table("lead_events", schema=None) as batch_op:
        batch_op.create_index("idx_event_lead_type", ["lead_id", "event_type"], unique=False)
        batch_op.create_index(
            "idx_event_type_time", ["event_type", "event_timestamp"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lead_events_event_timestamp"),
            ["event_timestamp"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_lead_events_event_type"), ["event_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_events_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "lead_sources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("source_type", sa.String(length=50), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=True),
        sa.Column("provider_name", sa.String(length=100), nullable=True),
        sa.Column("provider_id", sa.String(length=255), nullable=True),
        sa.Column("actor_id", sa.String(length=100), nullable=True),
        sa.Column("actor_name", sa.String(length=255), nullable=True),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("dataset_id", sa.String(length=100), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("external_url", sa.String(length=1000), nullable=True),
        sa.Column("scraped_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("import_batch_id", sa.String(length=64), nullable=True),
        sa.Column(
            "scrape_params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("data_quality_score", sa.Integer(), nullable=True),
        sa.Column("confidence_score", sa.Integer(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["sales_leads.id"],
            name=op.f("fk_lead_sources_lead_id_sales_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_sources")),
        sa.UniqueConstraint("lead_id", name=op.f("uq_lead_sources_lead_id")),
    )
    with op.batch_alter_table("lead_sources", schema=None) as batch_op:
        batch_op.create_index("idx_source_actor_run", ["actor_id", "run_id"], unique=False)
        batch_op.create_index("idx_source_batch", ["import_batch_id"], unique=False)
        batch_op.create_index("idx_source_provider", ["provider_name", "external_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_lead_sources_is_deleted"), ["is_deleted"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lead_sources_source_type"), ["source_type"], unique=False
        )

    op.create_table(
        "sync_status",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("target", sa.String(length=50), nullable=False),
        sa.Column("operation", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("last_attempt", leadbase.models.base.UTCDateTime(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", leadbase.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["sales_leads.id"],
            name=op.f("fk_sync_status_lead_id_sales_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_status")),
    )
    with op.batch_alter_table("sync_status", schema=None) as batch_op:
        batch_op.create_index("idx_sync_status_lead", ["lead_id", "target", "status"], unique=False)
        batch_op.create_index(
            "idx_sync_status_pending", ["target", "status", "created_at"], unique=False
        )


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop an index a
    # foreign key still needs, so drop whole tables, children first.
    op.drop_table("sync_status")
    op.drop_table("lead_sources")
    op.drop_table("lead_events")
    op.drop_table("sales_leads")
    op.drop_table("migration_log")
    op.drop_table("companies")
    op.drop_table("audit_log")
    op.drop_table("audit_chain_head")
    op.drop_table("apify_sync_states")
