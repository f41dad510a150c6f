"""Charts for the console, drawn on the server as SVG (the /analytics page).

No script and no inline style: the console's CSP allows neither, so every
colour comes from a class (analytics.css, from the design tokens) and the
geometry from attributes. A chart is sized by its viewBox and scales with
its box. Each is an image a screen reader can name (role="img", a <title>
and a <desc>), and nothing is told by colour alone: series differ by dash
pattern and marker shape too and are named in a legend, bars carry their
value as text. The numbers themselves stand in a table under each chart.

Every function returns Markup; all text in it is escaped here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
# Series are told apart by colour (the class), dash pattern and marker shape.
PALETTE_SIZE = 8
DASHES = ("", "6 3", "2 3", "10 3 2 3", "12 4", "4 2 1 2", "1 2", "8 2 2 2 2 2")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "circle", "square", "triangle")
MARKER_LIMIT = 60  # points in a series beyond which markers would smudge the line
LABEL_CHARS = 24  # a bar's label longer than this is cut (whole in its <title>)
NO_DATA = "No data for these filters"


@dataclass(frozen=True)
class Series:
    """One line: its name (the legend's) and a value per label (None: no value)."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value, and a note shown after the value ("62%")."""

    label: str
    value: float
    note: str = ""


@dataclass(frozen=True)
class Stage:
    """One step of a funnel: how many reached it and what to say of it."""

    label: str
    count: int
    note: str = ""


# --- numbers ---------------------------------------------------------------------------


def nice_step(rough: float) -> float:
    """The 1, 2 or 5 times a power of ten nearest above ``rough``."""
    if rough <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(rough))
    for factor in (1, 2, 5, 10):
        if rough <= factor * power * (1 + 1e-9):
            return float(factor * power)
    return 10.0 * power  # pragma: no cover - the loop always returns


def ticks(maximum: float, count: int = 5, *, integer: bool = True) -> list[float]:
    """Axis ticks from 0 to a round number at or above ``maximum``."""
    if not maximum > 0:
        return [0.0, 1.0]
    step = nice_step(maximum / count)
    if integer:
        step = max(step, 1.0)
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(i * step, 10) for i in range(round(top / step) + 1)]


def compact(value: float) -> str:
    """A number short enough for an axis: 950, 1.5k, 12k, 3.4M, 0.25."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            text = f"{scaled:.1f}" if scaled < 10 else f"{scaled:.0f}"
            return sign + text.removesuffix(".0") + suffix
    if value == int(value):
        return sign + f"{int(value)}"
    return sign + f"{value:.2f}".rstrip("0").rstrip(".")


def full(value: float) -> str:
    """A number in full, grouped: 1,234,567 or 12.5."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _n(value: float) -> str:
    """A coordinate, short: 12.5, not 12.500000001."""
    return f"{value:.1f}".removesuffix(".0")


# --- the frame ---------------------------------------------------------------------------


def _open(chart_id: str, kind: str, title: str, description: str, height: float) -> str:
    ident = re.sub(r"[^a-z0-9-]+", "-", chart_id.lower()).strip("-") or "chart"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" width="{WIDTH}" height="{_n(height)}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" data-chart="{ident}">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(description)}</desc>'
    )


def _empty(chart_id: str, kind: str, title: str, description: str) -> Markup:
    height = 80
    return Markup(
        _open(chart_id, kind, title, description, height)
        + f'<text class="chart-empty" x="{WIDTH // 2}" y="{height // 2}" '
        f'text-anchor="middle" dominant-baseline="middle">{NO_DATA}</text></svg>'
    )


# --- line chart --------------------------------------------------------------------------

LINE_HEIGHT = 240
LINE_MARGIN = (16, 40, 40, 56)  # top, right, bottom, left (room for the last label)
LEGEND_ROW = 22


def _marker(shape: str, x: float, y: float, index: int) -> str:
    size = 3.5
    css = f'class="marker series-{index % PALETTE_SIZE}"'
    if shape == "square":
        return f'<rect {css} x="{_n(x - size)}" y="{_n(y - size)}" width="7" height="7"/>'
    if shape in ("triangle", "diamond"):
        if shape == "triangle":
            points = [(x, y - size - 1), (x + size + 1, y + size), (x - size - 1, y + size)]
        else:
            points = [(x, y - size - 1), (x + size + 1, y), (x, y + size + 1), (x - size - 1, y)]
        text = " ".join(f"{_n(px)},{_n(py)}" for px, py in points)
        return f'<polygon {css} points="{text}"/>'
    if shape == "cross":
        return (
            f'<path {css} d="M{_n(x - size)},{_n(y - size)}L{_n(x + size)},{_n(y + size)}'
            f'M{_n(x - size)},{_n(y + size)}L{_n(x + size)},{_n(y - size)}"/>'
        )
    return f'<circle {css} cx="{_n(x)}" cy="{_n(y)}" r="{size}"/>'


def _legend(names: Sequence[str], top: float) -> tuple[str, float]:
    """The series' names with each one's line sample and marker, in rows; the
    markup and the height it takes."""
    parts, x, y = ['<g class="legend">'], 0.0, top + LEGEND_ROW / 2
    for index, name in enumerate(names):
        label = _cut(name, 28)
        width = 34 + 7 * len(label) + 16
        if x and x + width > WIDTH:
            x, y = 0.0, y + LEGEND_ROW
        dash = DASHES[index % len(DASHES)]
        parts.append(
            f'<line class="line series-{index % PALETTE_SIZE}" x1="{_n(x)}" y1="{_n(y)}" '
            f'x2="{_n(x + 26)}" y2="{_n(y)}"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
        )
        parts.append(_marker(MARKERS[index % len(MARKERS)], x + 13, y, index))
        parts.append(
            f'<text x="{_n(x + 32)}" y="{_n(y)}" dominant-baseline="middle">{escape(label)}</text>'
        )
        x += width
    parts.append("</g>")
    return "".join(parts), y + LEGEND_ROW / 2 - top


def _y_axis(scale: list[float], top: float, bottom: float, left: float, right: float) -> str:
    parts = ['<g class="axis axis-y">']
    for value in scale:
        y = bottom - (bottom - top) * value / scale[-1]
        parts.append(
            f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}"/>'
            f'<text x="{_n(left - 6)}" y="{_n(y)}" text-anchor="end" '
            f'dominant-baseline="middle">{compact(value)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _x_labels(labels: Sequence[str], xs: Sequence[float], baseline: float, room: float) -> str:
    """Every label that fits: every k-th one when they would crowd."""
    widest = max(len(label) for label in labels) * 7 + 8
    step = max(1, math.ceil(len(labels) / max(1, int(room // widest))))
    parts = ['<g class="axis axis-x">']
    for index in range(0, len(labels), step):
        parts.append(
            f'<text x="{_n(xs[index])}" y="{_n(baseline + 18)}" '
            f'text-anchor="middle">{escape(labels[index])}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
) -> Markup:
    """Values over time: one line per series over the shared ``labels``."""
    values = [v for one in series for v in one.values if v is not None]
    if not labels or not series or not values:
        return _empty(chart_id, "line", title, description)
    top, right, bottom_margin, left = LINE_MARGIN
    bottom = LINE_HEIGHT - bottom_margin
    plot_right = WIDTH - right
    scale = ticks(max(values), integer=all(float(v).is_integer() for v in values))
    if len(labels) == 1:
        xs = [(left + plot_right) / 2]
    else:
        xs = [left + (plot_right - left) * i / (len(labels) - 1) for i in range(len(labels))]

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / scale[-1]

    legend, legend_height = _legend([one.name for one in series], LINE_HEIGHT)
    parts = [
        _open(chart_id, "line", title, description, LINE_HEIGHT + legend_height),
        _y_axis(scale, top, bottom, left, plot_right),
        f'<line class="axis-line" x1="{left}" y1="{_n(bottom)}" '
        f'x2="{plot_right}" y2="{_n(bottom)}"/>',
        _x_labels(labels, xs, bottom, plot_right - left),
    ]
    for index, one in enumerate(series):
        points = [(xs[i], y_of(v)) for i, v in enumerate(one.values[: len(xs)]) if v is not None]
        dash = DASHES[index % len(DASHES)]
        parts.append(f'<g class="series-group" data-series="{escape(one.name)}">')
        if len(points) > 1:
            text = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
            parts.append(
                f'<polyline class="line series-{index % PALETTE_SIZE}" points="{text}"'
                + (f' stroke-dasharray="{dash}"' if dash else "")
                + "/>"
            )
        if len(points) <= MARKER_LIMIT:
            shape = MARKERS[index % len(MARKERS)]
            parts.extend(_marker(shape, x, y, index) for x, y in points)
        parts.append("</g>")
    parts.append(legend)
    parts.append("</svg>")
    return Markup("".join(parts))


# --- horizontal bars ---------------------------------------------------------------------

BAR_ROW = 28
BAR_THICKNESS = 18
BAR_LABEL_WIDTH = 180
BAR_VALUE_ROOM = 120


def bar_chart(
    chart_id: str, title: str, description: str, bars: Sequence[Bar], *, unit: str = ""
) -> Markup:
    """A breakdown: one horizontal bar per value, its label left, its number
    (with ``unit``: "%") right."""
    if not bars:
        return _empty(chart_id, "bars", title, description)
    height = 8 + len(bars) * BAR_ROW + 8
    room = WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_ROOM
    largest = max(max(bar.value for bar in bars), 0) or 1
    parts = [_open(chart_id, "bars", title, description, height)]
    for index, bar in enumerate(bars):
        y = 8 + index * BAR_ROW
        middle = y + BAR_ROW / 2
        width = room * max(bar.value, 0) / largest
        value = full(bar.value) + unit + (f" ({bar.note})" if bar.note else "")
        parts.append(
            f'<g class="bar-row"><title>{escape(bar.label)}: {escape(value)}</title>'
            f'<text class="bar-label" x="{BAR_LABEL_WIDTH - 8}" y="{_n(middle)}" '
            f'text-anchor="end" dominant-baseline="middle">{escape(_cut(bar.label))}</text>'
            f'<rect class="bar" x="{BAR_LABEL_WIDTH}" y="{_n(middle - BAR_THICKNESS / 2)}" '
            f'width="{_n(width)}" height="{BAR_THICKNESS}"/>'
            f'<text class="bar-value" x="{_n(BAR_LABEL_WIDTH + width + 6)}" y="{_n(middle)}" '
            f'dominant-baseline="middle">{escape(value)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# --- columns and histograms --------------------------------------------------------------

COLUMN_HEIGHT = 220
COLUMN_MARGIN = (24, 8, 36, 56)  # top, right, bottom, left


def column_chart(
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    *,
    gap: float = 0.25,
    kind: str = "columns",
) -> Markup:
    """Vertical bars over categories, each with its value above it."""
    if not bars:
        return _empty(chart_id, kind, title, description)
    top, right, bottom_margin, left = COLUMN_MARGIN
    bottom = COLUMN_HEIGHT - bottom_margin
    plot_right = WIDTH - right
    values = [bar.value for bar in bars]
    scale = ticks(max(values), integer=all(float(v).is_integer() for v in values))
    band = (plot_right - left) / len(bars)
    thickness = band * (1 - gap)
    parts = [
        _open(chart_id, kind, title, description, COLUMN_HEIGHT),
        _y_axis(scale, top, bottom, left, plot_right),
    ]
    centres = [left + band * (i + 0.5) for i in range(len(bars))]
    for centre, bar in zip(centres, bars, strict=True):
        height = (bottom - top) * max(bar.value, 0) / scale[-1]
        value = full(bar.value) + (f" ({bar.note})" if bar.note else "")
        parts.append(
            f'<g class="column"><title>{escape(bar.label)}: {escape(value)}</title>'
            f'<rect class="bar" x="{_n(centre - thickness / 2)}" y="{_n(bottom - height)}" '
            f'width="{_n(thickness)}" height="{_n(height)}"/>'
        )
        if band >= 7 * len(compact(bar.value)) + 4:  # the value only where it fits
            parts.append(
                f'<text class="bar-value" x="{_n(centre)}" y="{_n(bottom - height - 5)}" '
                f'text-anchor="middle">{compact(bar.value)}</text>'
            )
        parts.append("</g>")
    parts.append(
        f'<line class="axis-line" x1="{left}" y1="{_n(bottom)}" '
        f'x2="{plot_right}" y2="{_n(bottom)}"/>'
    )
    parts.append(_x_labels([bar.label for bar in bars], centres, bottom, plot_right - left))
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(chart_id: str, title: str, description: str, buckets: Sequence[Bar]) -> Markup:
    """A distribution: adjacent columns, one a bucket."""
    return column_chart(chart_id, title, description, buckets, gap=0.06, kind="histogram")


# --- funnel ------------------------------------------------------------------------------

FUNNEL_ROW = 52
FUNNEL_LABEL_WIDTH = 230


def funnel_chart(chart_id: str, title: str, description: str, stages: Sequence[Stage]) -> Markup:
    """Stages narrowing from the first: each bar as wide as its count, centred,
    with its name, count and note (a conversion rate) written beside it."""
    if not stages:
        return _empty(chart_id, "funnel", title, description)
    height = 8 + len(stages) * FUNNEL_ROW
    room = WIDTH - FUNNEL_LABEL_WIDTH - 8
    centre = FUNNEL_LABEL_WIDTH + room / 2
    largest = max(stage.count for stage in stages) or 1
    parts = [_open(chart_id, "funnel", title, description, height)]
    for index, stage in enumerate(stages):
        y = 8 + index * FUNNEL_ROW
        width = max(room * max(stage.count, 0) / largest, 2)
        parts.append(
            f'<g class="stage stage-{index}"><title>{escape(stage.label)}: {full(stage.count)}'
            + (f", {escape(stage.note)}" if stage.note else "")
            + "</title>"
            f'<text class="stage-label" x="0" y="{_n(y + 18)}">{escape(_cut(stage.label))} '
            f'<tspan class="stage-count">{full(stage.count)}</tspan></text>'
        )
        if stage.note:
            parts.append(
                f'<text class="stage-note" x="0" y="{_n(y + 36)}">{escape(_cut(stage.note, 32))}'
                "</text>"
            )
        parts.append(
            f'<rect class="bar" x="{_n(centre - width / 2)}" y="{_n(y + 4)}" '
            f'width="{_n(width)}" height="{FUNNEL_ROW - 12}"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
