"""`curate stats`: what a curation output holds, as PNG charts and one HTML page.

Inputs are plain values read from a finished run (sample lengths, image sizes, rejection
counts per stage, summary.json); outputs are PNG bytes and an HTML string. Charts are
drawn with matplotlib's object API on the Agg canvas: no display, no pyplot global state.
"""

from __future__ import annotations

import html
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Rejection details that name a language: text_filters.check_language writes "language=xx".
_LANGUAGE = re.compile(r"\blanguage=([A-Za-z_-]+)")


@dataclass(frozen=True)
class StatsConfig:
    """Chart size and binning."""

    width_px: int = 640  # fits a laptop screen two-up
    height_px: int = 400
    dpi: int = 100  # matplotlib's default
    bins: int = 30
    top_reasons: int = 25  # bars per rejection chart before the tail is folded into "other"


@dataclass
class SampleStats:
    """Per-sample numbers of one output folder (any sample kind)."""

    kind: str  # "m3w_sample", "pair_sample", "video_sample"
    length_unit: str  # "tokens" (M3W) or "caption characters" (pairs, video)
    lengths: list[int] = field(default_factory=list)
    images_per_sample: list[int] = field(default_factory=list)  # frames for video
    image_sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height)

    @property
    def count(self) -> int:
        return len(self.lengths)


def rejections_by_stage(rows: Iterable[tuple[str, str]]) -> dict[str, Counter[str]]:
    """{stage: Counter(reason)} from (stage, reason) pairs of rejection records."""
    out: dict[str, Counter[str]] = {}
    for stage, reason in rows:
        out.setdefault(stage, Counter())[reason] += 1
    return out


def rejections_from_summary(summary: Mapping[str, Any]) -> dict[str, Counter[str]]:
    """{stage: Counter(reason)} from summary.json (counters: complete even when sharded)."""
    stages = summary.get("stages", {})
    return {s: Counter(v.get("rejected", {})) for s, v in stages.items() if v.get("rejected")}


def languages_from_details(details: Iterable[str]) -> Counter[str]:
    """Languages named in rejection details (the only place an output records one)."""
    found: Counter[str] = Counter()
    for detail in details:
        m = _LANGUAGE.search(detail or "")
        if m:
            found[m.group(1)] += 1
    return found


def _figure(cfg: StatsConfig) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(cfg.width_px / cfg.dpi, cfg.height_px / cfg.dpi), dpi=cfg.dpi)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any, cfg: StatsConfig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    # No bbox_inches="tight": the PNG keeps exactly width_px × height_px.
    fig.savefig(buf, format="png", dpi=cfg.dpi)
    return buf.getvalue()


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def histogram_png(values: Sequence[float], title: str, xlabel: str, cfg: StatsConfig) -> bytes:
    """A histogram of `values` (integer-aligned bins when the range is small)."""
    fig = _figure(cfg)
    ax = fig.add_subplot()
    if values:
        lo, hi = min(values), max(values)
        integral = all(float(v).is_integer() for v in values)
        bins: Any = (
            [b - 0.5 for b in range(int(lo), int(hi) + 2)]
            if integral and hi - lo < cfg.bins
            else cfg.bins
        )
        ax.hist(values, bins=bins, color="#3a7ebf")
        ax.set_ylabel("samples")
    else:
        _empty(ax, "data")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _png(fig, cfg)


def sizes_png(sizes: Sequence[tuple[int, int]], title: str, cfg: StatsConfig) -> bytes:
    """Width × height of every image, one dot each."""
    fig = _figure(cfg)
    ax = fig.add_subplot()
    if sizes:
        ax.scatter([w for w, _ in sizes], [h for _, h in sizes], s=8, alpha=0.5, color="#2a7")
        ax.set_xlabel("width (px)")
        ax.set_ylabel("height (px)")
    else:
        _empty(ax, "images")
    ax.set_title(title)
    return _png(fig, cfg)


def bars_png(counts: Mapping[str, int], title: str, cfg: StatsConfig) -> bytes:
    """Horizontal bars, largest first; the tail beyond cfg.top_reasons is one "other" bar."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(items) > cfg.top_reasons:
        head = items[: cfg.top_reasons - 1]
        items = [*head, ("other", sum(n for _, n in items[cfg.top_reasons - 1 :]))]
    fig = _figure(cfg)
    ax = fig.add_subplot()
    if items:
        labels = [k for k, _ in items][::-1]
        bars = ax.barh(labels, [n for _, n in items][::-1], color="#c55")
        ax.bar_label(bars, fontsize=7, padding=2)  # small counts stay readable beside big ones
        ax.set_xlabel("count")
        ax.tick_params(axis="y", labelsize=8)
    else:
        _empty(ax, "rejections")
    ax.set_title(title)
    return _png(fig, cfg)


def stage_label(stage: str, reason: str) -> str:
    return f"{stage}/{reason}"


def report_charts(
    stats: SampleStats,
    rejections: Mapping[str, Counter[str]],
    languages: Counter[str],
    cfg: StatsConfig | None = None,
) -> dict[str, bytes]:
    """{file name: PNG bytes} of every chart of the report."""
    cfg = cfg or StatsConfig()
    what = "frames" if stats.kind == "video_sample" else "images"
    charts = {
        "lengths.png": histogram_png(
            stats.lengths, f"{stats.length_unit} per sample", stats.length_unit, cfg
        ),
        "images_per_sample.png": histogram_png(
            stats.images_per_sample, f"{what} per sample", what, cfg
        ),
        "image_sizes.png": sizes_png(stats.image_sizes, f"{what} sizes", cfg),
        "rejections.png": bars_png(
            {stage_label(s, r): n for s, c in rejections.items() for r, n in c.items()},
            "rejections per stage/reason",
            cfg,
        ),
    }
    if languages:
        charts["languages.png"] = bars_png(languages, "languages of rejected documents", cfg)
    return charts


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _describe(values: Sequence[int]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    mean = sum(values) / len(values)
    return f"min {ordered[0]}, median {median}, max {ordered[-1]}, mean {mean:.1f}"


def _rejection_table(rejections: Mapping[str, Counter[str]]) -> str:
    rows = [
        f"<tr><td>{_e(stage)}</td><td>{_e(reason)}</td><td>{n}</td></tr>"
        for stage, c in rejections.items()
        for reason, n in sorted(c.items(), key=lambda kv: -kv[1])
    ]
    if not rows:
        return "<p>No rejections recorded.</p>"
    head = "<tr><th>stage</th><th>reason</th><th>count</th></tr>"
    return f'<table class="rejections">{head}{"".join(rows)}</table>'


def report_html(
    title: str,
    stats: SampleStats,
    rejections: Mapping[str, Counter[str]],
    rejection_source: str,
    languages: Counter[str],
    charts: Mapping[str, str],
) -> str:
    """The report page; `charts` maps chart file names to the src the page uses."""
    imgs = "".join(
        f'<figure><img src="{_e(src)}" alt="{_e(name)}"></figure>' for name, src in charts.items()
    )
    if languages:
        lang = f"<p>Languages of rejected documents: {_e(dict(languages.most_common()))}.</p>"
    else:
        lang = "<p>Languages: not recorded (samples carry no language; no rejection named one).</p>"
    what = "frames" if stats.kind == "video_sample" else "images"
    facts = (
        f"<ul><li>{stats.count} samples ({_e(stats.kind)})</li>"
        f"<li>{_e(stats.length_unit)} per sample: {_describe(stats.lengths)}</li>"
        f"<li>{what} per sample: {_describe(stats.images_per_sample)}</li>"
        f"<li>{what}: {len(stats.image_sizes)}</li></ul>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # An empty icon: served over HTTP, the browser's /favicon.ico 404 is a console error.
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>"
        "body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:70em}"
        "figure{display:inline-block;margin:.5em}td,th{padding:0 1em;text-align:left}"
        f"</style></head><body><h1>{_e(title)}</h1>{facts}{lang}{imgs}"
        f"<h2>Rejections (from {_e(rejection_source)})</h2>{_rejection_table(rejections)}"
        "</body></html>\n"
    )
