"""The console's SVG charts (web/charts.py): well-formed, named for screen
readers, scaled to their data, safe with any label, and sane with no data,
one point or very large numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from leadbase.web import charts
from leadbase.web.charts import Bar, Series, Stage

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))  # raises on anything not well-formed
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def y_ticks(root: ET.Element) -> list[str]:
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "axis axis-y")
    return [node.text or "" for node in axis.iter(f"{SVG}text")]


def test_ticks_are_round_and_cover_the_maximum() -> None:
    assert charts.ticks(7) == [0, 2, 4, 6, 8]
    assert charts.ticks(10) == [0, 2, 4, 6, 8, 10]
    assert charts.ticks(1) == [0, 1]  # counts: no half steps
    assert charts.ticks(0.9, integer=False) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert charts.ticks(0) == [0, 1]
    assert charts.ticks(1_234_567) == [0, 500_000, 1_000_000, 1_500_000]
    for maximum in (3, 13, 99, 101, 4_999, 123_456_789):
        scale = charts.ticks(maximum)
        assert scale[0] == 0 and scale[-1] >= maximum and len(scale) <= 7


def test_numbers_are_short_on_axes_and_whole_in_labels() -> None:
    assert [charts.compact(v) for v in (0, 950, 1_500, 12_000, 3_400_000, 2e9, 0.25)] == [
        "0",
        "950",
        "1.5k",
        "12k",
        "3.4M",
        "2B",
        "0.25",
    ]
    assert charts.full(1_234_567) == "1,234,567"
    assert charts.full(12.5) == "12.5"


def test_a_chart_is_an_image_with_a_title_and_a_description() -> None:
    root = parse(
        charts.bar_chart("by-source", "Leads by source", "Apify leads most", [Bar("Apify", 3)])
    )
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "by-source-title by-source-desc"
    assert root.find(f"{SVG}title").text == "Leads by source"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Apify leads most"  # type: ignore[union-attr]
    assert root.get("viewBox", "").startswith("0 0 640 ")
    # The CSP forbids inline style.
    assert "style" not in str(charts.bar_chart("x", "t", "d", [Bar("a", 1)]))


def test_line_chart_scales_each_series_and_tells_them_apart() -> None:
    markup = charts.line_chart(
        "trend",
        "Leads created",
        "per week",
        ["2026-11-02", "2026-11-09", "2026-11-16"],
        [Series("new", [0, 5, 10]), Series("lost", [2, None, 1])],
    )
    root = parse(markup)
    assert y_ticks(root) == ["0", "2", "4", "6", "8", "10"]
    lines = list(root.iter(f"{SVG}polyline"))
    assert len(lines) == 2
    # The top value sits on the top tick, zero on the axis.
    first = [tuple(map(float, p.split(","))) for p in lines[0].get("points", "").split()]
    assert first[0][1] == charts.LINE_HEIGHT - charts.LINE_MARGIN[2]
    assert first[2][1] == charts.LINE_MARGIN[0]
    # A missing value is skipped, not drawn as zero.
    assert len(lines[1].get("points", "").split()) == 2
    # Not by colour alone: dashes and marker shapes differ, and a legend names them.
    assert lines[0].get("stroke-dasharray") != lines[1].get("stroke-dasharray")
    assert root.find(f".//{SVG}circle") is not None and root.find(f".//{SVG}rect") is not None
    assert {"new", "lost"} <= set(texts(root))
    assert "2026-11-02" in texts(root)


def test_a_line_of_one_point_is_a_marker_in_the_middle() -> None:
    root = parse(charts.line_chart("one", "t", "d", ["2026-12-01"], [Series("all", [4])]))
    assert root.find(f".//{SVG}polyline") is None
    group = next(g for g in root.iter(f"{SVG}g") if g.get("data-series") == "all")
    marker = group.find(f"{SVG}circle")
    assert marker is not None
    assert float(marker.get("cx", 0)) == pytest.approx(
        (charts.LINE_MARGIN[3] + charts.WIDTH - charts.LINE_MARGIN[1]) / 2
    )


def test_crowded_labels_are_thinned_and_long_series_lose_their_markers() -> None:
    labels = [f"2026-{m:02}-{d:02}" for m in range(1, 4) for d in range(1, 29)]
    root = parse(
        charts.line_chart("days", "t", "d", labels, [Series("all", list(range(len(labels))))])
    )
    shown = [text for text in texts(root) if text.startswith("2026-")]
    assert 2 <= len(shown) < len(labels) // 4
    group = next(g for g in root.iter(f"{SVG}g") if g.get("data-series") == "all")
    assert group.find(f"{SVG}circle") is None


@pytest.mark.parametrize(
    "draw",
    [
        lambda: charts.line_chart("e", "Trend", "nothing", [], []),
        lambda: charts.line_chart("e", "Trend", "nothing", ["a"], [Series("s", [None])]),
        lambda: charts.bar_chart("e", "Bars", "nothing", []),
        lambda: charts.column_chart("e", "Columns", "nothing", []),
        lambda: charts.histogram("e", "Histogram", "nothing", []),
        lambda: charts.funnel_chart("e", "Funnel", "nothing", []),
    ],
)
def test_no_data_says_so(draw: object) -> None:
    root = parse(draw())  # type: ignore[operator]
    assert texts(root) == [charts.NO_DATA]
    assert root.get("role") == "img"


def test_all_zero_values_draw_on_a_unit_scale() -> None:
    root = parse(charts.column_chart("z", "t", "d", [Bar("a", 0), Bar("b", 0)]))
    assert y_ticks(root) == ["0", "1"]
    assert all(float(rect.get("height", 1)) == 0 for rect in root.iter(f"{SVG}rect"))
    root = parse(charts.bar_chart("z", "t", "d", [Bar("a", 0)]))
    assert "0" in texts(root)


def test_bars_are_as_long_as_their_values_with_the_number_written() -> None:
    bars = [Bar("France", 2_000_000, "40%"), Bar("Germany", 1_000_000), Bar("Spain", 0)]
    root = parse(charts.bar_chart("country", "By country", "d", bars))
    widths = [float(rect.get("width", 0)) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0
    assert widths[0] <= charts.WIDTH - charts.BAR_LABEL_WIDTH
    assert "2,000,000 (40%)" in texts(root) and "1,000,000" in texts(root)


def test_columns_and_histogram_with_large_numbers() -> None:
    buckets = [Bar(f"{low}-{low + 9}", value) for low, value in ((0, 250_000), (10, 1_000_000))]
    root = parse(charts.histogram("scores", "Scores", "d", buckets))
    assert y_ticks(root)[-1] == "1M"
    heights = [float(rect.get("height", 0)) for rect in root.iter(f"{SVG}rect")]
    assert heights[1] == pytest.approx(4 * heights[0])
    assert "0-9" in texts(root) and "1M" in texts(root)
    assert root.get("class") == "chart chart-histogram"


def test_funnel_narrows_with_the_counts() -> None:
    stages = [Stage("new", 100), Stage("contacted", 50, "50% of new"), Stage("converted", 0)]
    root = parse(charts.funnel_chart("funnel", "Funnel", "d", stages))
    widths = [float(rect.get("width", 0)) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert widths[2] > 0  # a stage nobody reached still shows where it is
    assert "50% of new" in texts(root)
    assert any("contacted" in text and "50" in text for text in texts(root))


def test_labels_are_escaped_and_ids_sanitised() -> None:
    evil = '<script>alert("x")</script> & Co'
    for markup in (
        charts.bar_chart('a"><b', evil, evil, [Bar(evil, 1, evil)]),
        charts.line_chart("a", evil, evil, [evil], [Series(evil, [1])]),
        charts.column_chart("a", evil, evil, [Bar(evil, 1)]),
        charts.funnel_chart("a", evil, evil, [Stage(evil, 1, evil)]),
    ):
        assert "<script>" not in markup
        root = parse(markup)
        assert root.find(f"{SVG}title").text == evil  # type: ignore[union-attr]
    root = parse(charts.bar_chart('a"><b', "t", "d", [Bar("x", 1)]))
    assert root.get("data-chart") == "a-b"
