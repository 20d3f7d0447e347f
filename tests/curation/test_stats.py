"""curate stats' pieces: counting rejections and languages, PNG charts, the report page."""

from __future__ import annotations

import io
from collections import Counter

import lxml.html
import pytest
from PIL import Image

from curation.stats import (
    SampleStats,
    StatsConfig,
    bars_png,
    histogram_png,
    languages_from_details,
    rejections_by_stage,
    rejections_from_summary,
    report_charts,
    report_html,
    sizes_png,
)
from tests.fixtures.curate_outputs import HOSTILE_TEXT

SMALL = StatsConfig(width_px=320, height_px=200, dpi=80)


def png_size(data: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()  # a truncated PNG fails here
    return img.size


def stats() -> SampleStats:
    return SampleStats(
        "m3w_sample",
        "tokens",
        lengths=[10, 200, 256, 256],
        images_per_sample=[0, 1, 5, 2],
        image_sizes=[(224, 224), (640, 480), (100, 300)],
    )


def test_rejections_are_counted_per_stage_and_reason():
    rows = [("a", "x"), ("a", "x"), ("a", "y"), ("b", "x")]
    assert rejections_by_stage(rows) == {"a": Counter(x=2, y=1), "b": Counter(x=1)}


def test_summary_rejections_skip_stages_without_drops():
    summary = {
        "stages": {
            "read": {"in": 3, "out": 3, "rejected": {}},
            "filter_text": {"in": 3, "out": 1, "rejected": {"too_short": 2}},
        }
    }
    assert rejections_from_summary(summary) == {"filter_text": Counter(too_short=2)}
    assert rejections_from_summary({}) == {}


def test_languages_come_from_rejection_details():
    details = ["language=de not in en", "language=zh-Hans p=0.2 < 0.65", "12 words", "", None]
    assert languages_from_details(details) == Counter({"de": 1, "zh-Hans": 1})


@pytest.mark.parametrize(
    "draw",
    [
        lambda c: histogram_png([1, 2, 2, 3], "t", "x", c),
        lambda c: histogram_png([0.5, 1000.25], "t", "x", c),
        lambda c: histogram_png([], "t", "x", c),
        lambda c: sizes_png([(10, 20), (30, 40)], "t", c),
        lambda c: sizes_png([], "t", c),
        lambda c: bars_png({"a/x": 3, "b/y": 1}, "t", c),
        lambda c: bars_png({}, "t", c),
    ],
)
def test_every_chart_is_a_png_of_the_configured_size(draw):
    assert png_size(draw(SMALL)) == (320, 200)


def test_long_tails_of_reasons_fold_into_other():
    counts = {f"r{i}": i + 1 for i in range(40)}
    cfg = StatsConfig(top_reasons=5, width_px=200, height_px=100)
    # Visible difference: the folded chart differs from one with all reasons.
    assert bars_png(counts, "t", cfg) != bars_png(
        counts, "t", StatsConfig(width_px=200, height_px=100)
    )


def test_report_charts_include_languages_only_when_known():
    rej = {"filter_text": Counter(language_not_kept=2)}
    without = report_charts(stats(), rej, Counter(), SMALL)
    assert set(without) == {
        "lengths.png",
        "images_per_sample.png",
        "image_sizes.png",
        "rejections.png",
    }
    with_lang = report_charts(stats(), rej, Counter(de=2), SMALL)
    assert "languages.png" in with_lang
    assert all(png_size(p) == (320, 200) for p in with_lang.values())


def test_report_page_shows_charts_facts_and_escapes_reasons():
    rej = {"filter_text": Counter({HOSTILE_TEXT: 3})}
    charts = {"lengths.png": "lengths.png", "rejections.png": "rejections.png"}
    page = report_html("t", stats(), rej, "summary.json", Counter(de=1), charts)
    doc = lxml.html.fromstring(page)
    assert doc.findall(".//script") == []
    assert [i.get("src") for i in doc.findall(".//img")] == ["lengths.png", "rejections.png"]
    cells = [td.text_content() for td in doc.findall(".//td")]
    assert cells == ["filter_text", HOSTILE_TEXT, "3"]
    text = doc.text_content()
    assert "4 samples" in text and "min 10, median 256, max 256" in text
    assert "'de': 1" in text


def test_report_page_says_when_languages_are_absent():
    page = report_html("t", stats(), {}, "rejections-*.parquet", Counter(), {})
    text = lxml.html.fromstring(page).text_content()
    assert "Languages: not recorded" in text and "No rejections recorded" in text
