"""Analytics rollups: counts the database keeps current itself.

An unfiltered figure over a million leads and ten million activities would
read every one of them (a count of an index range still visits each entry).
These tables hold the counts instead, per UTC day, and triggers on
sales_leads and lead_events (migration 0017) keep them exact inside the
writing transaction, whoever writes: the write path, the bulk path, a
merge, a restore. Only leads that are not deleted (nor merged: a merged
lead is deleted) and their events count. A row may sit at zero.

They are derived: backups leave them out (the restored rows' triggers
count afresh), and nothing but the triggers writes them.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base

# lead_rollups.dimension -> what its value is ("" for none):
LEAD_DIMENSIONS = {
    "status": "lead_status",
    "source": "source",
    "country": "country",
    "industry": "industry",
    # lead_status|stage_reached: the funnel's furthest stage of each lead
    "stage": "lead_status '|' stage_reached",
    # enrichment_status|enrichment_steps: coverage and success per provider
    "enrichment": "enrichment_status '|' enrichment_steps",
    "score": "lead_score",
}
# Pairs of the four a list filters on and a figure groups by: "a+b", value
# "a's|b's" (one filter and a grouping read a rollup too).
GROUPS = ("country", "industry", "source", "status")
PAIRS = tuple(f"{a}+{b}" for i, a in enumerate(GROUPS) for b in GROUPS[i + 1 :])
# Dimensions of many values a day kept over all days too, as "name:all" on
# day ALL_DAYS: a figure with no date range reads a row a value.
TOTALLED = ("enrichment", "score")
ALL_DAYS = date(2000, 1, 1)
NONE = ""  # the value of a dimension a lead has no value for
SEPARATOR = "|"
STAGE_BUCKET_SECONDS = 3600  # stage_rollups count time in stage by the hour


class LeadRollup(Base):
    """Leads created on ``day`` with ``value`` in ``dimension``."""

    __tablename__ = "lead_rollups"
    __table_args__ = {"info": {"derived": True}}

    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(String(300), primary_key=True)
    leads: Mapped[int] = mapped_column(Integer, nullable=False)


class ActivityRollup(Base):
    """Activities (models.lead.NOT_ACTIVITIES excluded) that happened on
    ``day``, of a type and outcome ("" for none)."""

    __tablename__ = "activity_rollups"
    __table_args__ = {"info": {"derived": True}}

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(50), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(50), primary_key=True)
    activities: Mapped[int] = mapped_column(Integer, nullable=False)


class StageRollup(Base):
    """Status changes leaving ``old_status`` after a time in that stage in
    [hour, hour + 1) hours: the funnel's median finds its hour here, then
    reads that hour's few exact values from the events' index."""

    __tablename__ = "stage_rollups"
    __table_args__ = {"info": {"derived": True}}

    old_status: Mapped[str] = mapped_column(String(50), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    changes: Mapped[int] = mapped_column(Integer, nullable=False)
