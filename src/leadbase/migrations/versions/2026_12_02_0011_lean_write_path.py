"""A leaner write path (issue 13): indexes no query uses go.

Each of these is either never read by a query or answered as well by
another index that starts with the same columns, while every write pays
for it (an index entry of each lead, each timeline event, each audit entry):

- sales_leads (lead_status, enrichment_status), (country, city) and
  (source, actor_id): the (filter, created_at, id) indexes of 0005 start
  with the same column; actor_id keeps its own index.
- sales_leads key_domain and key_company: match keys the matcher compares
  but never looks a lead up by (dedupe.matcher.LOOKUP_COLUMNS), nor does
  the scan.
- lead_events lead_id, event_type, event_timestamp and (event_type,
  event_timestamp): a lead's events are read by lead id, which
  (lead_id, event_type) answers (it also serves the foreign key on
  MariaDB); nothing reads events by type or time across leads.
- audit_log created_at: the chain is read by seq, a lead's entries by
  (entity_type, entity_id); nothing reads it by time.
- lead_sources source_type: nothing reads sources by type.

Downgrade creates them again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns) as the earlier revisions created them.
DROPPED = (
    ("idx_lead_status", "sales_leads", ["lead_status", "enrichment_status"]),
    ("idx_lead_location", "sales_leads", ["country", "city"]),
    ("idx_lead_source_actor", "sales_leads", ["source", "actor_id"]),
    ("idx_lead_key_domain", "sales_leads", ["key_domain"]),
    ("idx_lead_key_company", "sales_leads", ["key_company"]),
    ("ix_lead_events_lead_id", "lead_events", ["lead_id"]),
    ("ix_lead_events_event_type", "lead_events", ["event_type"]),
    ("ix_lead_events_event_timestamp", "lead_events", ["event_timestamp"]),
    ("idx_event_type_time", "lead_events", ["event_type", "event_timestamp"]),
    ("idx_audit_created_at", "audit_log", ["created_at"]),
    ("ix_lead_sources_source_type", "lead_sources", ["source_type"]),
)


def upgrade() -> None:
    for name, table, _columns in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
