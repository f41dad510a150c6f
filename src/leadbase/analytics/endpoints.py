"""/api/v1/analytics: the figures of the leads the list's filters select.

Every route takes GET /leads's filters (ignoring case as there) and
``since``/``until`` (UTC dates, both inclusive). Plain ``def`` routes, unlike
the list's: an aggregate reads a whole index (tens of milliseconds on a
large database), which must not stall the event loop.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from leadbase.analytics import service
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
from leadbase.auth.endpoints import get_principal
from leadbase.auth.service import Principal
from leadbase.errors import ValidationError
from leadbase.http.support import Envelope, database
from leadbase.leads.endpoints import IGNORING_CASE, LeadStatusFilter
from leadbase.leads.schemas import EnrichmentStatus

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Reader = Annotated[Principal, Depends(get_principal)]


def lead_filters(
    q: Annotated[str | None, Query(max_length=200, description="As GET /leads")] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    is_manual: bool | None = None,
    enrichment_status: EnrichmentStatus | None = None,
    lead_status: LeadStatusFilter = None,
    source: Annotated[str | None, Query(max_length=50, description=IGNORING_CASE)] = None,
    country: Annotated[
        str | None, Query(max_length=100, description="A country's name or ISO 3166 code")
    ] = None,
    industry: Annotated[str | None, Query(max_length=100, description=IGNORING_CASE)] = None,
    company_id: Annotated[str | None, Query(max_length=36)] = None,
    include_deleted: bool = False,
    since: Annotated[date | None, Query(description="From this day on (UTC), YYYY-MM-DD")] = None,
    until: Annotated[
        date | None, Query(description="Up to and including this day (UTC), YYYY-MM-DD")
    ] = None,
) -> LeadFilters:
    """GET /leads's filters plus the time range, checked."""
    if since is not None and until is not None and until < since:
        raise ValidationError("until", "must be on or after since")
    return LeadFilters(
        q=q,
        tag=tag,
        is_manual=is_manual,
        enrichment_status=enrichment_status,
        lead_status=lead_status,
        source=source,
        country=country,
        industry=industry,
        company_id=company_id,
        include_deleted=include_deleted,
        since=since,
        until=until,
    )


Filters = Annotated[LeadFilters, Depends(lead_filters)]


@router.get("/leads", response_model=Envelope[LeadCounts])
def leads(
    request: Request,
    _principal: Reader,
    filters: Filters,
    interval: Interval = "week",
    by: Annotated[LeadDimension | None, Query(description="A breakdown per value")] = None,
) -> Envelope[LeadCounts]:
    """Leads created per day, week (from Monday) or month, each period
    labelled by its first day (UTC); with ``by``, per value as well."""
    with database(request).read_session() as session:
        return Envelope(data=service.lead_counts(session, filters, interval=interval, by=by))


@router.get("/funnel", response_model=Envelope[Funnel])
def funnel(request: Request, _principal: Reader, filters: Filters) -> Envelope[Funnel]:
    """new -> contacted -> qualified -> converted over the leads created in
    the range: how many reached each stage (now or once: a lost lead counts
    for the stages it went through), the share that went on to the next,
    the median days spent in each, and how many are lost."""
    with database(request).read_session() as session:
        return Envelope(data=service.funnel(session, filters))


@router.get("/activities", response_model=Envelope[ActivityVolume])
def activities(
    request: Request,
    _principal: Reader,
    filters: Filters,
    interval: Interval = "week",
    by: ActivityDimension = "type",
) -> Envelope[ActivityVolume]:
    """Activities of the filtered leads per period and type (or outcome);
    ``since``/``until`` bound when they happened."""
    with database(request).read_session() as session:
        return Envelope(data=service.activity_volume(session, filters, interval=interval, by=by))


@router.get("/enrichment", response_model=Envelope[Enrichment])
def enrichment(request: Request, _principal: Reader, filters: Filters) -> Envelope[Enrichment]:
    """Leads by enrichment status, and each provider's steps in the leads'
    last enrichment."""
    with database(request).read_session() as session:
        return Envelope(data=service.enrichment(session, filters))


@router.get("/duplicates", response_model=Envelope[Duplicates])
def duplicates(request: Request, _principal: Reader, filters: Filters) -> Envelope[Duplicates]:
    """Duplicate clusters found by status and action; merges and unmerges."""
    with database(request).read_session() as session:
        return Envelope(data=service.duplicates(session, filters))


@router.get("/imports", response_model=Envelope[Imports])
def imports(request: Request, _principal: Reader, filters: Filters) -> Envelope[Imports]:
    """File imports, Apify syncs and Airtable runs started in the range:
    runs by status and the rows they moved (the lead filters do not apply)."""
    with database(request).read_session() as session:
        return Envelope(data=service.imports(session, filters))


@router.get("/scores", response_model=Envelope[Scores])
def scores(request: Request, _principal: Reader, filters: Filters) -> Envelope[Scores]:
    """lead_score in ten buckets (0-9 ... 90-100), unscored, mean and median."""
    with database(request).read_session() as session:
        return Envelope(data=service.scores(session, filters))
