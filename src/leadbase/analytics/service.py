"""The analytics figures: each one function of (session, filters, ...) ->
its schema. Read only; the endpoints and the console page call these.

``filters`` are GET /leads's filters as typed (schemas.LeadFilters), with
``since``/``until`` bounding the figure's time (lead creation; for
activities, when they happened; for runs, when they started).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadbase.analytics.schemas import (
    ActivityDimension,
    ActivityVolume,
    Duplicates,
    Enrichment,
    Funnel,
    Imports,
    Interval,
    LeadCounts,
    LeadDimension,
    LeadFilters,
    Scores,
)


def lead_counts(
    session: Session,
    filters: LeadFilters,
    *,
    interval: Interval = "week",
    by: LeadDimension | None = None,
) -> LeadCounts:
    """Leads created per period (and per value of ``by``), oldest period first."""
    raise NotImplementedError


def funnel(session: Session, filters: LeadFilters) -> Funnel:
    """new -> contacted -> qualified -> converted over the leads created in
    the range: reached per stage, conversion to the next, median days in
    each stage, and how many are lost."""
    raise NotImplementedError


def activity_volume(
    session: Session,
    filters: LeadFilters,
    *,
    interval: Interval = "week",
    by: ActivityDimension = "type",
) -> ActivityVolume:
    """Activities (not the internal change events) per period and type or outcome."""
    raise NotImplementedError


def enrichment(session: Session, filters: LeadFilters) -> Enrichment:
    """Leads by enrichment_status and each provider's success."""
    raise NotImplementedError


def duplicates(session: Session, filters: LeadFilters) -> Duplicates:
    """Duplicate clusters by status and action, merges and unmerges."""
    raise NotImplementedError


def imports(session: Session, filters: LeadFilters) -> Imports:
    """Import runs, Apify syncs and Airtable runs: counts and rows."""
    raise NotImplementedError


def scores(session: Session, filters: LeadFilters) -> Scores:
    """The lead_score histogram (10 buckets), unscored, mean and median."""
    raise NotImplementedError
