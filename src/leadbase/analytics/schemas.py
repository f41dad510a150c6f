"""What the analytics API answers: the filters it takes and each figure's shape.

Periods are UTC; a week starts on Monday; a period is labelled by its first
day, ``YYYY-MM-DD`` (a month by its 1st). The same on every database.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from leadbase.leads.schemas import EnrichmentStatus

Interval = Literal["day", "week", "month"]
LeadDimension = Literal["status", "source", "country", "industry"]
ActivityDimension = Literal["type", "outcome"]

# The funnel's stages in order; "lost" leaves it from any of them.
FUNNEL_STAGES = ("new", "contacted", "qualified", "converted")
# Score histogram: ten buckets of ten points, the last one 90-100.
SCORE_BUCKETS = 10


class LeadFilters(BaseModel):
    """The filters of GET /leads (and the console's list), as typed: text
    values ignore case, a country may be a code or a name. None: not
    filtered. ``since``/``until`` (UTC dates, both inclusive) bound the
    figure's own time: when a lead was created, or an activity happened."""

    model_config = ConfigDict(frozen=True)

    is_manual: bool | None = None
    enrichment_status: EnrichmentStatus | None = None
    lead_status: str | None = None
    source: str | None = None
    country: str | None = None
    industry: str | None = None
    tag: str | None = None
    company_id: str | None = None
    q: str | None = None
    include_deleted: bool = False
    since: date | None = None
    until: date | None = None

    def column_filters(self) -> dict[str, object]:
        """The equality filters set (leads.listing.resolve's ``filters``)."""
        fields = (
            "is_manual",
            "enrichment_status",
            "lead_status",
            "source",
            "country",
            "industry",
            "company_id",
        )
        return {name: value for name in fields if (value := getattr(self, name)) is not None}


class PeriodCount(BaseModel):
    """How many in one period; ``value`` is the breakdown's value (None:
    no breakdown asked, or the lead has none)."""

    period: str
    value: str | None = None
    count: int


class LeadCounts(BaseModel):
    """GET /analytics/leads: leads created per period (and value)."""

    interval: Interval
    by: LeadDimension | None = None
    total: int
    rows: list[PeriodCount]


class FunnelStage(BaseModel):
    stage: str
    # Leads whose status is at or past this stage now, or was once (a lost
    # lead counts for the stages it went through).
    reached: int
    # reached of the next stage / reached of this one (None: last stage, or none reached).
    conversion: float | None = None
    # Median days spent in this stage by the leads that left it (None: none left it).
    median_days: float | None = None
    # How many left this stage (status_changed events from it): median_days' sample.
    left: int = 0


class Funnel(BaseModel):
    """GET /analytics/funnel, over the leads created in the range."""

    leads: int
    stages: list[FunnelStage]
    lost: int


class ActivityVolume(BaseModel):
    """GET /analytics/activities: activities per period and type (or outcome)."""

    interval: Interval
    by: ActivityDimension
    total: int
    rows: list[PeriodCount]


class ValueCount(BaseModel):
    value: str | None
    count: int


class ProviderSuccess(BaseModel):
    """How one enrichment provider's steps ended, over the enriched leads'
    last run (enrichment_data.steps)."""

    provider: str
    runs: int
    ok: int
    no_data: int
    # error, timeout or junk
    failed: int
    # Not run: the circuit breaker was open, or the step was skipped.
    skipped: int = 0
    # ok / runs (found something; runs leaves out the skipped); None: never ran.
    success_rate: float | None = None


class Enrichment(BaseModel):
    """GET /analytics/enrichment."""

    leads: int
    by_status: list[ValueCount]
    # completed / (completed + failed); None: none finished.
    coverage: float | None = None
    providers: list[ProviderSuccess]


class ClusterCount(BaseModel):
    status: str
    action: str
    count: int


class Duplicates(BaseModel):
    """GET /analytics/duplicates: clusters found, by status and action;
    merges made and undone (leads only)."""

    clusters: list[ClusterCount]
    clusters_total: int
    merges: int
    leads_merged: int
    unmerges: int


class RunCount(BaseModel):
    """Runs of one kind and status, and the rows they moved."""

    kind: str
    status: str
    runs: int
    rows: dict[str, int] = Field(default_factory=dict)


class Imports(BaseModel):
    """GET /analytics/imports: file imports, Apify syncs, Airtable runs
    started in the range."""

    imports: list[RunCount]
    apify: list[RunCount]
    airtable: list[RunCount]


class ScoreBucket(BaseModel):
    """Leads scored ``low`` to ``high`` (both inclusive)."""

    low: int
    high: int
    count: int


class Scores(BaseModel):
    """GET /analytics/scores: the lead_score histogram."""

    leads: int
    scored: int
    unscored: int
    buckets: list[ScoreBucket]
    mean: float | None = None
    median: float | None = None
