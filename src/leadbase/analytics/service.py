"""The analytics figures: each one function of (session, filters, ...) ->
its schema. Read only; the endpoints and the console page call these.

``filters`` are GET /leads's filters as typed (schemas.LeadFilters), with
``since``/``until`` bounding the figure's time (lead creation; for
activities, when they happened; for runs, when they started).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy.orm import Session

from leadbase.analytics import repository, rollups
from leadbase.analytics.schemas import (
    FUNNEL_STAGES,
    SCORE_BUCKETS,
    ActivityDimension,
    ActivityVolume,
    ClusterCount,
    Duplicates,
    Enrichment,
    Funnel,
    FunnelStage,
    Imports,
    Interval,
    LeadCounts,
    LeadDimension,
    LeadFilters,
    PeriodCount,
    ProviderSuccess,
    RunCount,
    ScoreBucket,
    Scores,
    ValueCount,
)
from leadbase.leads import listing as leads_listing
from leadbase.leads.listing import Listing
from leadbase.models import SalesLead

BY_COLUMNS = {
    "status": SalesLead.lead_status,
    "source": SalesLead.source,
    "country": SalesLead.country,
    "industry": SalesLead.industry,
}
SECONDS_A_DAY = 86400


def _listing(session: Session, filters: LeadFilters) -> Listing:
    """The filters as the list resolves them (stored spellings)."""
    return leads_listing.resolve(
        session,
        filters.column_filters(),
        q=filters.q,
        tag=filters.tag,
        include_deleted=filters.include_deleted,
    )


def _span(filters: LeadFilters) -> dict[str, Any]:
    return {"since": filters.since, "until": filters.until}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _period_rows(counts: Counter[tuple[Any, ...]], by: bool) -> list[PeriodCount]:
    rows = [
        PeriodCount(period=str(key[0]), value=_text(key[1]) if by else None, count=n)
        for key, n in counts.items()
    ]
    rows.sort(key=lambda row: (row.period, row.value is None, row.value or ""))
    return rows


def lead_counts(
    session: Session,
    filters: LeadFilters,
    *,
    interval: Interval = "week",
    by: LeadDimension | None = None,
) -> LeadCounts:
    """Leads created per period (and per value of ``by``), oldest period first."""
    wanted = _listing(session, filters)
    column = BY_COLUMNS[by] if by is not None else None
    only = rollups.one_filter(wanted)
    if rollups.answer(wanted) or only is not None:
        counts = rollups.leads_by_period(session, interval, column, only=only, **_span(filters))
    else:
        counts = repository.leads_by_period(session, wanted, interval, column, **_span(filters))
    rows = _period_rows(counts, by is not None)
    return LeadCounts(interval=interval, by=by, total=sum(counts.values()), rows=rows)


def funnel(session: Session, filters: LeadFilters) -> Funnel:
    """new -> contacted -> qualified -> converted over the leads created in
    the range: reached per stage, conversion to the next, median days in
    each stage, and how many are lost.

    A lead reached a stage when its status is at or past it now, or a
    status change took it to (or from) that stage or a later one: a lost
    lead counts for the stages it went through, every lead for "new"."""
    wanted = _listing(session, filters)
    span = _span(filters)
    whole = rollups.answer(wanted)
    if whole:
        by_status, past = rollups.status_and_stage(session, **span)
    else:
        by_status = repository.lead_counts(session, wanted, [SalesLead.lead_status], **span)
        past = repository.reached_past_status(session, wanted, **span)
    ranks = repository.RANKS
    # rank -> leads whose furthest stage is that one
    furthest: Counter[int] = Counter()
    for (status,), n in by_status.items():
        furthest[ranks.get(status, 0)] += n
    # Leads past their status now (lost ones, ones moved back) count at the
    # furthest stage they reached (stage_reached, kept by the write path).
    for (status, best), n in past.items():
        furthest[ranks.get(status, 0)] -= n
        furthest[int(best)] += n
    reached = [sum(n for rank, n in furthest.items() if rank >= r) for r in range(len(ranks))]
    times: dict[str, list[int]] | None = None
    if repository.narrowed(wanted) or filters.since or filters.until:
        times = repository.stage_times(session, wanted, **span)
        left = Counter({stage: len(values) for stage, values in times.items()})
    elif whole:
        left = rollups.left_stage(session)
    else:
        left = repository.left_stage(session, wanted, **span)
    stages = []
    for rank, stage in enumerate(FUNNEL_STAGES):
        following = reached[rank + 1] if rank + 1 < len(reached) else None
        stages.append(
            FunnelStage(
                stage=stage,
                reached=reached[rank],
                conversion=(
                    round(following / reached[rank], 4)
                    if following is not None and reached[rank]
                    else None
                ),
                median_days=(
                    _median_of(times.get(stage, []))
                    if times is not None
                    else _median_days(session, wanted, stage, left[stage], whole)
                ),
                left=left[stage],
            )
        )
    return Funnel(leads=sum(by_status.values()), stages=stages, lost=by_status[("lost",)])


def _median_days(
    session: Session, wanted: Listing, stage: str, count: int, whole: bool
) -> float | None:
    """The median of ``count`` stage_seconds leaving ``stage``, in days
    (of every lead: ``whole``, from the rollups)."""
    if not count:
        return None
    offset, limit = (count - 1) // 2, 2 - count % 2
    if whole:
        middle = rollups.stage_seconds(session, stage, offset=offset, limit=limit)
    else:
        middle = repository.stage_seconds(
            session, wanted, stage, offset=offset, limit=limit, since=None, until=None
        )
    return round(sum(middle) / len(middle) / SECONDS_A_DAY, 2)


def _median_of(seconds: list[int]) -> float | None:
    """The median of sorted ``seconds``, in days."""
    if not seconds:
        return None
    middle = seconds[(len(seconds) - 1) // 2 : len(seconds) // 2 + 1]
    return round(sum(middle) / len(middle) / SECONDS_A_DAY, 2)


def activity_volume(
    session: Session,
    filters: LeadFilters,
    *,
    interval: Interval = "week",
    by: ActivityDimension = "type",
) -> ActivityVolume:
    """Activities (not the internal change events) per period and type or
    outcome, of the filtered leads; ``since``/``until`` bound when they happened."""
    wanted = _listing(session, filters)
    span = _span(filters)
    if rollups.answer(wanted):
        counts = rollups.activity_counts(session, interval, by, **span)
    else:
        counts = repository.activity_counts(session, wanted, interval, by, **span)
    rows = _period_rows(counts, True)
    return ActivityVolume(interval=interval, by=by, total=sum(counts.values()), rows=rows)


FAILED_STEPS = ("error", "timeout", "junk")
SKIPPED_STEPS = ("skipped", "circuit_open")


def enrichment(session: Session, filters: LeadFilters) -> Enrichment:
    """Leads by enrichment_status, the share of finished enrichments that
    completed, and each provider's steps in the leads' last enrichment."""
    wanted = _listing(session, filters)
    span = _span(filters)
    keyed = None
    if rollups.answer(wanted):
        by_status, keyed = rollups.enrichment_values(session, **span)
    else:
        by_status = repository.lead_counts(session, wanted, [SalesLead.enrichment_status], **span)
    statuses = sorted(
        (ValueCount(value=_text(status), count=n) for (status,), n in by_status.items()),
        key=lambda row: (-row.count, row.value or ""),
    )
    finished = by_status[("completed",)] + by_status[("failed",)]
    steps = repository.provider_steps(session, wanted, keyed=keyed, **span)
    per_provider: dict[str, Counter[str]] = defaultdict(Counter)
    for (provider, status), n in steps.items():
        per_provider[provider][status] += n
    return Enrichment(
        leads=sum(by_status.values()),
        by_status=statuses,
        coverage=round(by_status[("completed",)] / finished, 4) if finished else None,
        providers=[_provider(name, per_provider[name]) for name in sorted(per_provider)],
    )


def _provider(name: str, steps: Counter[str]) -> ProviderSuccess:
    skipped = sum(steps[status] for status in SKIPPED_STEPS)
    runs = sum(steps.values()) - skipped
    return ProviderSuccess(
        provider=name,
        runs=runs,
        ok=steps["ok"],
        no_data=steps["no_data"],
        failed=sum(steps[status] for status in FAILED_STEPS),
        skipped=skipped,
        success_rate=round(steps["ok"] / runs, 4) if runs else None,
    )


def duplicates(session: Session, filters: LeadFilters) -> Duplicates:
    """Lead duplicate clusters found in the range by status and action,
    merges made and undone in it. Filters narrow to clusters holding one of
    the filtered leads and merges into one of them."""
    wanted = _listing(session, filters)
    span = _span(filters)
    clusters = repository.cluster_counts(session, wanted, **span)
    merges, merged, unmerges = repository.merge_counts(session, wanted, **span)
    return Duplicates(
        clusters=[
            ClusterCount(status=status, action=action, count=n)
            for (status, action), n in sorted(clusters.items())
        ],
        clusters_total=sum(clusters.values()),
        merges=merges,
        leads_merged=merged,
        unmerges=unmerges,
    )


def _summed(rows: list[tuple[str, str, dict[str, int]]]) -> list[RunCount]:
    """Runs of each (kind, status) and their row counts added up."""
    runs: Counter[tuple[str, str]] = Counter()
    totals: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for kind, status, counts in rows:
        runs[(kind, status)] += 1
        totals[(kind, status)].update(
            {name: int(value) for name, value in counts.items() if isinstance(value, int)}
        )
    return [
        RunCount(
            kind=kind, status=status, runs=n, rows=dict(sorted(totals[(kind, status)].items()))
        )
        for (kind, status), n in sorted(runs.items())
    ]


def imports(session: Session, filters: LeadFilters) -> Imports:
    """File imports, Apify syncs and Airtable runs started in the range: how
    many of each status and the rows they moved. Runs are not leads: the
    lead filters do not narrow them, only ``since``/``until``."""
    span = _span(filters)
    files = [
        ("file", status, {"rows_done": done, **counts})
        for status, done, counts in repository.import_runs(session, **span)
    ]
    apify = [
        RunCount(kind="apify", status=status, runs=n, rows=rows)
        for status, n, rows in sorted(repository.apify_runs(session, **span))
    ]
    return Imports(
        imports=_summed(files),
        apify=apify,
        airtable=_summed(repository.airtable_runs(session, **span)),
    )


def scores(session: Session, filters: LeadFilters) -> Scores:
    """The lead_score histogram (10 buckets: 0-9 ... 90-100), how many are
    unscored, the mean and median score of the scored ones."""
    wanted = _listing(session, filters)
    span = _span(filters)
    # Scored leads by score, from the partial (lead_score, id) index; the
    # unscored are the rest.
    if rollups.answer(wanted):
        per_score, leads = rollups.score_values(session, **span)
    else:
        per_score = repository.lead_counts(
            session,
            wanted,
            [SalesLead.lead_score],
            where=[SalesLead.lead_score.is_not(None)],
            **span,
        )
        leads = sum(repository.lead_counts(session, wanted, [], **span).values())
    values = sorted((int(score), n) for (score,), n in per_score.items())
    scored = sum(n for _, n in values)
    buckets = [0] * SCORE_BUCKETS
    for score, n in values:
        buckets[min(max(score, 0) // 10, SCORE_BUCKETS - 1)] += n
    width = 100 // SCORE_BUCKETS
    return Scores(
        leads=leads,
        scored=scored,
        unscored=leads - scored,
        buckets=[
            ScoreBucket(
                low=i * width,
                high=100 if i == SCORE_BUCKETS - 1 else i * width + width - 1,
                count=n,
            )
            for i, n in enumerate(buckets)
        ],
        mean=round(sum(s * n for s, n in values) / scored, 2) if scored else None,
        median=_median(values, scored),
    )


def _median(values: list[tuple[int, int]], total: int) -> float | None:
    """The median of ``total`` values given as sorted (value, how many)."""
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # the middle one, or two
    found: list[int] = []
    seen = 0
    for value, n in values:
        while wanted and wanted[0] < seen + n:
            found.append(value)
            wanted.pop(0)
        seen += n
    return sum(found) / 2
