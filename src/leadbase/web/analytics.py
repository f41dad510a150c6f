"""Console: /analytics, the leads and the funnel at a glance.

Each figure of the analytics API (analytics.service) as a chart drawn on the
server (web/charts.py: SVG, no script, under the CSP), its numbers in a
table below it, and that table as a CSV (``/analytics/{figure}.csv`` with the
page's query). The lead list's filters apply, read as /leads reads them
(leads_list.parse_view), plus a date range, the industry, and what the
trends are broken down by; like /leads, the whole state is the URL.

A figure that cannot be read shows its own error and the others still show;
a bad filter shows what was wrong, as /leads does (422).
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from leadbase.analytics import service
from leadbase.analytics.schemas import (
    FUNNEL_STAGES,
    ActivityDimension,
    Enrichment,
    Interval,
    LeadCounts,
    LeadDimension,
    LeadFilters,
    PeriodCount,
)
from leadbase.errors import LeadbaseError, NotFoundError
from leadbase.http.support import database
from leadbase.leads import export
from leadbase.models.lead import LEAD_STATUSES
from leadbase.web import charts, leads_list, pages, rendering
from leadbase.web.charts import Bar, Series, Stage
from leadbase.web.leads_list import FORM_OPTIONS, MANUAL_CHOICES, ListView
from leadbase.web.session import SignedIn

router = APIRouter(include_in_schema=False)

INTERVALS = {"day": "Day", "week": "Week", "month": "Month"}
DIMENSIONS = {"status": "Status", "source": "Source", "country": "Country", "industry": "Industry"}
ACTIVITY_DIMENSIONS = {"type": "Type", "outcome": "Outcome"}
# The page's own parameters, besides the lead list's filters (leads_list.FORM_FIELDS).
OWN_FIELDS = ("industry", "since", "until", "interval", "by", "activity_by")
DEFAULTS = {"interval": "week", "by": "status", "activity_by": "type"}
TOP_SERIES = 6  # lines of a trend; the other values are summed as "Other"
TOP_BARS = 15  # bars of a breakdown; the table and its CSV hold them all
MAX_PERIODS = 1_000  # gaps filled with zeros up to this many periods
NONE_LABEL = "(none)"
OTHER_LABEL = "Other"


# --- what the URL asks for ----------------------------------------------------------------


@dataclass
class Query:
    """The page's query: the list's filters (``view``) and its own choices."""

    view: ListView
    own: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    filters: LeadFilters = field(default_factory=LeadFilters)

    @property
    def form(self) -> dict[str, str]:
        """The values the form shows: a choice not made shows its default."""
        chosen = {name: value or DEFAULTS.get(name, "") for name, value in self.own.items()}
        return {**self.view.form, **chosen}

    # Read once a request: two figures show parts of each.
    lead_counts: LeadCounts | None = None
    enrichment: Enrichment | None = None

    @property
    def interval(self) -> Interval:
        return cast(Interval, self.own["interval"] or DEFAULTS["interval"])

    @property
    def by(self) -> LeadDimension:
        return cast(LeadDimension, self.own["by"] or DEFAULTS["by"])

    @property
    def activity_by(self) -> ActivityDimension:
        return cast(ActivityDimension, self.own["activity_by"] or DEFAULTS["activity_by"])

    def params(self) -> list[tuple[str, str]]:
        """The query as URL parameters: what a CSV link carries."""
        query = [(name, value) for name, value in self.view.query() if name != "sort"]
        query += [(name, value) for name in OWN_FIELDS if (value := self.own[name])]
        return query

    @property
    def query_string(self) -> str:
        return urlencode(self.params())

    @property
    def leads_url(self) -> str:
        """The leads these figures count, on /leads (its filters only)."""
        query = [(name, value) for name, value in self.view.query() if name != "sort"]
        return "/leads" + ("?" + urlencode(query) if query else "")

    @property
    def narrowed(self) -> bool:
        return self.view.narrowed or any(self.own[name] for name in ("industry", "since", "until"))

    @property
    def more_filters_set(self) -> int:
        return self.view.more_filters_set + bool(self.own["industry"])


def _date(query: Query, name: str, label: str) -> date | None:
    text = query.own[name]
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        query.errors[name] = f"{label}: “{text[:40]}” is not a date (YYYY-MM-DD)."
        return None


def _choice(query: Query, name: str, allowed: Mapping[str, str], label: str) -> None:
    value = query.own[name]
    if value and value not in allowed:
        query.errors[name] = f"{label}: “{value[:40]}” is not one of {', '.join(allowed)}."


def parse_query(params: Mapping[str, str]) -> Query:
    """Read the page's query. Bad values become messages, never a 500."""
    view = leads_list.parse_view(params)
    for meaningless_here in ("cursor", "sort"):  # page links and the list's order
        view.errors.pop(meaningless_here, None)
    own = {name: params.get(name, "").strip() for name in OWN_FIELDS}
    query = Query(view=view, own=own, errors=dict(view.errors))
    if len(own["industry"]) > 100:
        query.errors["industry"] = "Industry: at most 100 characters."
    since = _date(query, "since", "From")
    until = _date(query, "until", "To")
    if since and until and since > until:
        query.errors["until"] = "To: the range ends before it starts."
    _choice(query, "interval", INTERVALS, "Per")
    _choice(query, "by", DIMENSIONS, "Lines by")
    _choice(query, "activity_by", ACTIVITY_DIMENSIONS, "Activities by")
    if not query.errors:
        query.filters = LeadFilters(
            **view.filters,
            industry=own["industry"] or None,
            tag=view.tag,
            q=view.q,
            include_deleted=view.include_deleted,
            since=since,
            until=until,
        )
    return query


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A table column; ``kind`` says how its cells show: text, count, percent, days."""

    label: str
    kind: str = "count"


@dataclass
class Figure:
    """One chart with its table (the CSV's rows), facts shown as tiles, and
    its empty or error state."""

    slug: str
    title: str
    chart: Markup = field(default_factory=Markup)
    columns: list[Column] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    tiles: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    empty: str = ""  # why there is nothing to show (no data)
    error: str = ""
    seconds: float = 0.0  # what reading it cost (the page's Server-Timing)

    def csv_url(self, query: Query) -> str:
        return f"/analytics/{self.slug}.csv" + (
            "?" + query.query_string if query.query_string else ""
        )


def cell_text(value: Any, kind: str) -> str:
    """A cell as the table shows it (the CSV has the same, ungrouped)."""
    if value is None:
        return ""
    if kind == "count":
        return f"{value:,}"
    if kind == "percent":
        return f"{value * 100:.1f}"
    if kind == "days":
        return f"{value:.1f}"
    return str(value)


def csv_cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "count":
        return str(value)
    if kind in ("percent", "days"):
        return cell_text(value, kind)
    return export.neutralise(str(value))


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


def _shown(value: str | None) -> str:
    return NONE_LABEL if value is None or value == "" else str(value)


def _next_period(period: date, interval: str) -> date:
    if interval == "day":
        return period + timedelta(days=1)
    if interval == "week":
        return period + timedelta(days=7)
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def periods_between(first: str, last: str, interval: str) -> list[str]:
    """Every period from ``first`` to ``last``: a chart's gaps are zeros, not
    a line skipping a quiet week."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    periods: list[str] = []
    while start <= end and len(periods) < MAX_PERIODS:
        periods.append(start.isoformat())
        start = _next_period(start, interval)
    return periods


def trend(
    rows: Sequence[PeriodCount], interval: str, *, order: Sequence[str] = ()
) -> tuple[list[str], list[Series]]:
    """Per-period counts as lines: the TOP_SERIES most common values
    (``order`` first, when given: statuses in their funnel order), the rest
    summed as "Other"; every period between the first and the last."""
    if not rows:
        return [], []
    found = sorted({row.period for row in rows})
    periods = periods_between(found[0], found[-1], interval)
    if len(periods) >= MAX_PERIODS:
        periods = found
    totals: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        name = _shown(row.value)
        totals[name] += row.count
        counts[(row.period, name)] += row.count
    names = sorted(totals, key=lambda name: -totals[name])
    if order:
        names = [_shown(value) for value in order if _shown(value) in totals] + [
            name for name in names if name not in {_shown(value) for value in order}
        ]
    kept, rest = names[:TOP_SERIES], names[TOP_SERIES:]
    if len(rest) == 1:
        kept, rest = names, []
    series = [Series(name, [counts.get((p, name), 0) for p in periods]) for name in kept]
    if rest:
        series.append(
            Series(OTHER_LABEL, [sum(counts.get((p, name), 0) for name in rest) for p in periods])
        )
    return periods, series


def _trend_table(figure: Figure, periods: list[str], series: list[Series]) -> None:
    figure.columns = [
        Column("Period", "text"),
        *(Column(one.name) for one in series),
        Column("Total"),
    ]
    for index, period in enumerate(periods):
        values = [int(one.values[index] or 0) for one in series]
        figure.rows.append([period, *values, sum(values)])


def _lead_counts(session: Session, query: Query) -> LeadCounts:
    if query.lead_counts is None:
        query.lead_counts = service.lead_counts(
            session, query.filters, interval=query.interval, by=query.by
        )
    return query.lead_counts


def leads_figure(session: Session, query: Query) -> Figure:
    counts = _lead_counts(session, query)
    return _trend_figure(
        Figure("leads", f"Leads created per {query.interval}, by {query.by}"),
        counts.rows,
        counts.total,
        query.interval,
        query.by,
        ("Leads created", "leads"),
        "No leads were created in this range with these filters.",
        order=LEAD_STATUSES if query.by == "status" else (),
    )


def _trend_figure(
    figure: Figure,
    rows: Sequence[PeriodCount],
    total: int,
    interval: str,
    by: str,
    names: tuple[str, str],
    empty: str,
    order: Sequence[str] = (),
) -> Figure:
    """A count per period and value as lines, one for each value, with the
    table beneath; ``names``: the tile's label and the noun counted."""
    periods, series = trend(rows, interval, order=order)
    _trend_table(figure, periods, series)
    if not periods:
        figure.empty = empty
        return figure
    figure.tiles = [(names[0], f"{total:,}")]
    figure.chart = charts.line_chart(
        f"chart-{figure.slug}",
        figure.title,
        f"{total:,} {names[1]} from {periods[0]} to {periods[-1]}; "
        f"one line for each {by} ({', '.join(one.name for one in series)}).",
        periods,
        series,
    )
    return figure


def breakdown_figure(session: Session, query: Query) -> Figure:
    by = query.by
    counts = _lead_counts(session, query)  # the trend's counts, summed over its periods
    figure = Figure("breakdown", f"Leads by {by}")
    figure.columns = [
        Column(DIMENSIONS[by], "text"),
        Column("Leads"),
        Column("Share (%)", "percent"),
    ]
    totals: dict[str, int] = defaultdict(int)
    for row in counts.rows:
        totals[_shown(row.value)] += row.count
    if not totals:
        figure.empty = "No leads match these filters."
        return figure
    if by == "status":
        names = [_shown(s) for s in LEAD_STATUSES if _shown(s) in totals]
        names += [name for name in totals if name not in names]
    else:
        names = sorted(totals, key=lambda name: (-totals[name], name))
    whole = sum(totals.values())
    bars = [Bar(name, totals[name], _percent(totals[name] / whole)) for name in names]
    figure.chart = charts.bar_chart(
        "chart-breakdown",
        figure.title,
        f"{whole:,} leads; the most: {names[0]} ({totals[names[0]]:,})"
        + (f"; the {TOP_BARS} largest shown, all in the table" if len(bars) > TOP_BARS else ""),
        bars[:TOP_BARS],
    )
    figure.rows = [[name, totals[name], totals[name] / whole] for name in names]
    return figure


def funnel_figure(session: Session, query: Query) -> Figure:
    result = service.funnel(session, query.filters)
    figure = Figure("funnel", "Funnel")
    figure.columns = [
        Column("Stage", "text"),
        Column("Reached"),
        Column("On to next (%)", "percent"),
        Column("Median days", "days"),
        Column("Left"),
    ]
    if not result.leads:
        figure.empty = "No leads match these filters."
        return figure
    stages = []
    for index, stage in enumerate(result.stages):
        note = ""
        before = result.stages[index - 1] if index else None
        if before is not None and before.conversion is not None:
            note = f"{_percent(before.conversion)} of {before.stage}"
        if stage.median_days is not None and stage.stage != FUNNEL_STAGES[-1]:
            note += ("; " if note else "") + f"{stage.median_days:.1f} days median"
        stages.append(Stage(stage.stage, stage.reached, note))
    stages.append(Stage("lost", result.lost, _percent(result.lost / result.leads) + " of all"))
    figure.chart = charts.funnel_chart(
        "chart-funnel",
        "Funnel: new, contacted, qualified, converted",
        "; ".join(f"{stage.label} {stage.count:,}" for stage in stages) + ".",
        stages,
    )
    figure.rows = [
        [stage.stage, stage.reached, stage.conversion, stage.median_days, stage.left]
        for stage in result.stages
    ]
    figure.rows.append(["lost", result.lost, None, None, None])
    figure.tiles = [("Leads", f"{result.leads:,}"), ("Lost", f"{result.lost:,}")]
    figure.note = (
        "A stage counts the leads at it or past it now, or once. On to next: the "
        "share that reached the next stage. Median days: spent in the stage by the "
        "leads that left it (Left), from their status changes."
    )
    return figure


def activities_figure(session: Session, query: Query) -> Figure:
    interval, by = query.interval, query.activity_by
    volume = service.activity_volume(session, query.filters, interval=interval, by=by)
    return _trend_figure(
        Figure("activities", f"Activities per {interval}, by {by}"),
        volume.rows,
        volume.total,
        interval,
        by,
        ("Activities", "activities"),
        "No activities were logged in this range for these leads.",
    )


def _enrichment(session: Session, query: Query) -> Enrichment:
    if query.enrichment is None:
        query.enrichment = service.enrichment(session, query.filters)
    return query.enrichment


def enrichment_figure(session: Session, query: Query) -> Figure:
    result = _enrichment(session, query)
    figure = Figure("enrichment", "Enrichment coverage")
    figure.columns = [Column("Status", "text"), Column("Leads"), Column("Share (%)", "percent")]
    if not result.leads:
        figure.empty = "No leads match these filters."
        return figure
    whole = sum(item.count for item in result.by_status) or 1
    bars = [
        Bar(_shown(item.value), item.count, _percent(item.count / whole))
        for item in result.by_status
    ]
    figure.chart = charts.bar_chart(
        "chart-enrichment",
        "Leads by enrichment status",
        f"{result.leads:,} leads; coverage {_percent(result.coverage) or 'not known yet'}.",
        bars,
    )
    figure.tiles = [("Coverage", _percent(result.coverage) or "—")]
    figure.note = "Coverage: the share of finished enrichments that completed."
    figure.rows = [[bar.label, int(bar.value), bar.value / whole] for bar in bars]
    return figure


def providers_figure(session: Session, query: Query) -> Figure:
    result = _enrichment(session, query)
    figure = Figure("providers", "Enrichment success per provider")
    figure.columns = [
        Column("Provider", "text"),
        Column("Runs"),
        Column("Found data"),
        Column("No data"),
        Column("Failed"),
        Column("Skipped"),
        Column("Success (%)", "percent"),
    ]
    if not result.providers:
        figure.empty = "No enrichment provider has run for these leads."
        return figure
    bars = [
        Bar(
            one.provider,
            round((one.success_rate or 0) * 100, 1),
            f"{one.ok:,} of {one.runs:,} runs",
        )
        for one in result.providers
    ]
    figure.chart = charts.bar_chart(
        "chart-providers",
        figure.title,
        "The share of each provider's runs that found something: "
        + "; ".join(f"{one.provider} {_percent(one.success_rate)}" for one in result.providers)
        + ".",
        bars,
        unit="%",
    )
    figure.rows = [
        [one.provider, one.runs, one.ok, one.no_data, one.failed, one.skipped, one.success_rate]
        for one in result.providers
    ]
    return figure


def duplicates_figure(session: Session, query: Query) -> Figure:
    result = service.duplicates(session, query.filters)
    figure = Figure("duplicates", "Duplicates found and merged")
    figure.columns = [Column("Status", "text"), Column("Action", "text"), Column("Clusters")]
    figure.tiles = [
        ("Clusters found", f"{result.clusters_total:,}"),
        ("Merges", f"{result.merges:,}"),
        ("Leads merged", f"{result.leads_merged:,}"),
        ("Merges undone", f"{result.unmerges:,}"),
    ]
    if not result.clusters:
        figure.empty = "No duplicate clusters found for these leads."
        return figure
    bars = [Bar(f"{_shown(c.status)}, {_shown(c.action)}", c.count) for c in result.clusters]
    figure.chart = charts.bar_chart(
        "chart-duplicates",
        "Duplicate clusters by status and action",
        f"{result.clusters_total:,} clusters; {result.merges:,} merges, "
        f"{result.unmerges:,} undone.",
        bars,
    )
    figure.rows = [[c.status, c.action, c.count] for c in result.clusters]
    return figure


RUN_SOURCES = {"imports": "File import", "apify": "Apify", "airtable": "Airtable"}


def _run_name(source: str, kind: str) -> str:
    """ "Airtable push"; a file import or an Apify run has one kind only."""
    return source if kind in ("file", "apify") else f"{source} {kind}"


def imports_figure(session: Session, query: Query) -> Figure:
    result = service.imports(session, query.filters)
    figure = Figure("imports", "Imports and syncs")
    figure.columns = [Column("Source", "text"), Column("Kind", "text"), Column("Status", "text")]
    figure.columns.append(Column("Runs"))
    runs = [(RUN_SOURCES[name], run) for name in RUN_SOURCES for run in getattr(result, name)]
    if not runs:
        figure.empty = "No imports or syncs ran in this range."
        return figure
    bars = [Bar(f"{_run_name(source, run.kind)}, {run.status}", run.runs) for source, run in runs]
    total = sum(run.runs for _, run in runs)
    figure.chart = charts.bar_chart(
        "chart-imports",
        "Runs by source, kind and status",
        f"{total:,} runs: " + "; ".join(f"{bar.label} {int(bar.value):,}" for bar in bars) + ".",
        bars,
    )
    keys = sorted({key for _, run in runs for key in run.rows})
    figure.columns += [Column(f"Rows {key.replace('_', ' ')}") for key in keys]
    figure.rows = [
        [source, run.kind, run.status, run.runs, *(run.rows.get(key, 0) for key in keys)]
        for source, run in runs
    ]
    return figure


def scores_figure(session: Session, query: Query) -> Figure:
    result = service.scores(session, query.filters)
    figure = Figure("scores", "Lead scores")
    figure.columns = [Column("Score", "text"), Column("Leads")]
    figure.tiles = [
        ("Scored", f"{result.scored:,}"),
        ("Unscored", f"{result.unscored:,}"),
        ("Mean", "—" if result.mean is None else f"{result.mean:.1f}"),
        ("Median", "—" if result.median is None else f"{result.median:.1f}"),
    ]
    if not result.scored:
        figure.empty = "No lead matching these filters has a score yet."
        return figure
    buckets = [Bar(f"{b.low}-{b.high}", b.count) for b in result.buckets]
    figure.chart = charts.histogram(
        "chart-scores",
        "Lead score distribution",
        f"{result.scored:,} scored leads in buckets of ten points"
        + ("" if result.median is None else f"; median {result.median:.1f}")
        + f"; {result.unscored:,} unscored.",
        buckets,
    )
    figure.rows = [[bar.label, int(bar.value)] for bar in buckets]
    figure.rows.append(["unscored", result.unscored])
    return figure


Builder = Callable[[Session, Query], Figure]
# In the page's order.
FIGURES: dict[str, Builder] = {
    "leads": leads_figure,
    "breakdown": breakdown_figure,
    "funnel": funnel_figure,
    "activities": activities_figure,
    "scores": scores_figure,
    "enrichment": enrichment_figure,
    "providers": providers_figure,
    "duplicates": duplicates_figure,
    "imports": imports_figure,
}


def build(session: Session, slug: str, query: Query) -> Figure:
    """One figure; an error reading it becomes its error state, not a 500."""
    started = time.perf_counter()
    try:
        figure = FIGURES[slug](session, query)
    except (SQLAlchemyError, LeadbaseError):
        session.rollback()  # a failed statement leaves PostgreSQL's transaction aborted
        figure = Figure(slug, slug.capitalize(), error="This figure could not be read just now.")
    figure.seconds = time.perf_counter() - started
    return figure


# --- the page and the downloads ------------------------------------------------------------

OPTIONS = {
    **FORM_OPTIONS,
    "is_manual": [("", "Any"), *MANUAL_CHOICES.items()],
    "interval": list(INTERVALS.items()),
    "by": list(DIMENSIONS.items()),
    "activity_by": list(ACTIVITY_DIMENSIONS.items()),
}


def _read_all(request: Request, query: Query) -> list[Figure]:
    with database(request).read_session() as session:
        return [build(session, slug, query) for slug in FIGURES]


@router.get("/analytics")
async def analytics_page(request: Request, user: SignedIn) -> Response:
    query = parse_query(request.query_params)
    figures = [] if query.errors else await run_in_threadpool(_read_all, request, query)
    context = {
        "user": user,
        "query": query,
        "form": query.form,
        "errors": query.errors,
        "options": OPTIONS,
        "figures": figures,
        "cell_text": cell_text,
    }
    status = 422 if query.errors else 200
    response = rendering.render(request, "analytics.html", context, status_code=status)
    # Each figure's cost, for a browser's network panel and the benches.
    timings = [f"{figure.slug};dur={figure.seconds * 1000:.1f}" for figure in figures]
    if timings:
        response.headers["Server-Timing"] = ", ".join(timings)
    return response


def _csv(figure: Figure) -> bytes:
    buffer = io.StringIO()
    buffer.write(export.BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([export.neutralise(column.label) for column in figure.columns])
    for row in figure.rows:
        cells = zip(row, figure.columns, strict=True)
        writer.writerow([csv_cell(value, column.kind) for value, column in cells])
    return buffer.getvalue().encode("utf-8")


@router.get("/analytics/{slug}.csv")
async def figure_csv(request: Request, _user: SignedIn, slug: str) -> Response:
    """A figure's table, as the page shows it, for the same query."""
    if slug not in FIGURES:
        raise NotFoundError(f"no figure {slug[:40]!r} on /analytics")
    query = parse_query(request.query_params)
    if query.errors:  # the error page, as /leads/export gives
        return pages.error_page(request, 422, " ".join(query.errors.values()))

    def read() -> Figure:
        with database(request).read_session() as session:
            return build(session, slug, query)

    figure = await run_in_threadpool(read)
    if figure.error:
        return pages.error_page(request, 503, figure.error)
    today = date.today().isoformat()
    return Response(
        _csv(figure),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="leadbase-{slug}-{today}.csv"',
            "Cache-Control": "no-store",
        },
    )
