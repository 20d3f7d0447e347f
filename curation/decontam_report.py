"""The decontamination report: which eval sets a run hit, how often, and what the matches
look like (crawl image beside eval image), as one HTML page with a PNG chart.

Inputs are a finished run's outputs: ``rejections-*.parquet`` (the counts: every dropped
image is a ``decontam/eval_duplicate`` rejection whose detail names ``dataset/image_id``)
and ``decontam-hits-*.parquet`` (one row per drop with a thumbnail of the crawl image).
The eval side's thumbnails come from the index (``<index>/thumbnails/<dataset>.parquet``).
"""

from __future__ import annotations

import glob
import html
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow.parquet as pq

from curation.eval_index import read_thumbnails
from schemas import (
    DECONTAM_HIT_SCHEMA,
    REJECTION_SCHEMA,
    DecontamHit,
    check_schema,
    row_to_hit,
)

STAGE = "decontam"
REASON = "eval_duplicate"
HITS_NAME = "decontam-hits"
REPORT_DIR = "decontam-report"
_DETAIL = re.compile(r"^(?P<dataset>[^/\s]+)/(?P<image_id>.*) distance=(?P<distance>\d+)")


@dataclass(frozen=True)
class ReportConfig:
    """What the report shows."""

    examples_per_dataset: int = 12  # side-by-side pairs per eval set
    chart_width_in: float = 7.0  # matplotlib inches (at 100 dpi)


@dataclass(frozen=True)
class ReportPaths:
    html: str
    chart: str
    thumbnails: tuple[str, ...]


# ---------------------------------------------------------------- reading a run


def parse_detail(detail: str) -> tuple[str, str, int] | None:
    """(dataset, image_id, distance) from a rejection detail, None if it is not one of ours."""
    m = _DETAIL.match(detail or "")
    return (m["dataset"], m["image_id"], int(m["distance"])) if m else None


def count_hits(run_dir: str) -> Counter[str]:
    """Dropped crawl images per eval set, from the run's rejection records."""
    counts: Counter[str] = Counter()
    for path in sorted(glob.glob(os.path.join(run_dir, "rejections-*.parquet"))):
        table = pq.read_table(path)
        check_schema(table.schema, REJECTION_SCHEMA, path)
        for row in table.to_pylist():
            if row["stage"] == STAGE and row["reason"] == REASON:
                parsed = parse_detail(row["detail"])
                counts[parsed[0] if parsed else "?"] += 1
    return counts


def read_hits(run_dir: str) -> list[DecontamHit]:
    """Every hit row of the run (with the crawl thumbnails)."""
    hits = []
    for path in sorted(glob.glob(os.path.join(run_dir, f"{HITS_NAME}-*.parquet"))):
        table = pq.read_table(path)
        check_schema(table.schema, DECONTAM_HIT_SCHEMA, path)
        hits += [row_to_hit(r) for r in table.to_pylist()]
    return hits


def images_checked(run_dir: str) -> int | None:
    """How many images the decontam stage looked at (summary.json), when known."""
    path = os.path.join(run_dir, "summary.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        stage = json.load(f).get("stages", {}).get(STAGE)
    return int(stage["in"]) if stage else None


# ---------------------------------------------------------------- choosing and drawing


def worst_matches(hits: Iterable[DecontamHit], per_dataset: int) -> dict[str, list[DecontamHit]]:
    """Per eval set, the weakest matches first: largest distance, then lowest cosine.

    A false positive would show there, at the edge of the radius; exact copies are
    convincing without looking.
    """
    by_dataset: dict[str, list[DecontamHit]] = {}
    for h in hits:
        by_dataset.setdefault(h.dataset, []).append(h)
    return {
        name: sorted(
            group,
            key=lambda h: (-h.distance, h.cosine if h.cosine is not None else 2.0, h.key),
        )[:per_dataset]
        for name, group in sorted(by_dataset.items())
    }


def draw_chart(counts: Counter[str], path: str, cfg: ReportConfig) -> str:
    """A horizontal bar chart of hits per eval set, as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers and CI
    import matplotlib.pyplot as plt

    names = sorted(counts, key=lambda n: (-counts[n], n))
    fig, ax = plt.subplots(figsize=(cfg.chart_width_in, 1.0 + 0.4 * max(1, len(names))))
    try:
        if names:
            bars = ax.barh(names[::-1], [counts[n] for n in names[::-1]], color="#c0392b")
            ax.bar_label(bars, padding=3)
        else:
            ax.text(0.5, 0.5, "no eval-set image found in the crawl", ha="center", va="center")
            ax.set_yticks([])
        ax.set_xlabel("crawl images dropped as eval duplicates")
        ax.set_title("Decontamination hits per eval set")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


def write_report(
    run_dir: str,
    counts: Counter[str],
    hits: list[DecontamHit],
    eval_thumbnails: Callable[[str, str, set[str]], dict[str, bytes]] | None = None,
    checked: int | None = None,
    cfg: ReportConfig | None = None,
) -> ReportPaths:
    """Write ``<run_dir>/decontam-report/{index.html, chart.png, thumbs/}``."""
    cfg = cfg or ReportConfig()
    eval_thumbnails = eval_thumbnails or (lambda index, dataset, ids: {})
    out = os.path.join(run_dir, REPORT_DIR)
    os.makedirs(os.path.join(out, "thumbs"), exist_ok=True)
    chart = draw_chart(counts, os.path.join(out, "chart.png"), cfg)
    examples = worst_matches(hits, cfg.examples_per_dataset)
    sections, written = [], []
    for dataset, group in examples.items():
        wanted: dict[str, set[str]] = {}
        for h in group:
            wanted.setdefault(h.eval_index, set()).add(h.image_id)
        theirs = {
            (index, i): t
            for index, ids in wanted.items()
            for i, t in eval_thumbnails(index, dataset, ids).items()
        }
        pairs = []
        for n, h in enumerate(group):
            crawl = _save(out, f"{dataset}-{n:03d}-crawl.jpg", h.thumbnail, written)
            eval_bytes = theirs.get((h.eval_index, h.image_id))
            ours = _save(out, f"{dataset}-{n:03d}-eval.jpg", eval_bytes, written)
            pairs.append(_pair_html(h, crawl, ours))
        sections.append(_section_html(dataset, counts.get(dataset, len(group)), pairs))
    page = _page_html(counts, checked, os.path.basename(chart), sections)
    html_path = os.path.join(out, "index.html")
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(page)
    return ReportPaths(html_path, chart, tuple(written))


def index_thumbnails(index: str, dataset: str, ids: set[str]) -> dict[str, bytes]:
    """Eval thumbnails from a local index directory ({} when it is not reachable)."""
    return read_thumbnails(index, dataset, ids) if os.path.isdir(index) else {}


def build_report(run_dir: str, eval_index: str | None = None, cfg: ReportConfig | None = None):
    """Read a run directory and write its report; `eval_index` overrides the hits' index."""
    hits = read_hits(run_dir)
    counts = count_hits(run_dir)

    def thumbs(index: str, dataset: str, ids: set[str]) -> dict[str, bytes]:
        return index_thumbnails(eval_index or index, dataset, ids)

    return write_report(run_dir, counts, hits, thumbs, images_checked(run_dir), cfg)


# ---------------------------------------------------------------- HTML


def _save(out: str, name: str, data: bytes | None, written: list[str]) -> str | None:
    if not data:
        return None
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    with open(os.path.join(out, "thumbs", safe), "wb") as f:
        f.write(data)
    written.append(os.path.join(out, "thumbs", safe))
    return f"thumbs/{safe}"


def _img(src: str | None, alt: str) -> str:
    if src is None:
        return '<div class="missing">eval thumbnail not available</div>'
    return f'<img src="{html.escape(src)}" alt="{html.escape(alt)}">'


def _pair_html(h: DecontamHit, crawl: str | None, theirs: str | None) -> str:
    cosine = "" if h.cosine is None else f", cosine {h.cosine:.3f}"
    return (
        '<figure class="pair">'
        f"<div>{_img(crawl, 'crawl image')}{_img(theirs, 'eval image')}</div>"
        f"<figcaption>distance {h.distance}{cosine}<br>"
        f"<b>{html.escape(h.dataset)}/{html.escape(h.image_id)}</b><br>"
        f'<span class="url">{html.escape(h.key)}</span></figcaption></figure>'
    )


def _section_html(dataset: str, count: int, pairs: list[str]) -> str:
    return (
        f"<h2>{html.escape(dataset)}: {count} hit(s)</h2>"
        "<p>Weakest matches first (crawl left, eval right).</p>"
        f'<div class="pairs">{"".join(pairs)}</div>'
    )


def _page_html(counts: Counter[str], checked: int | None, chart: str, sections: list[str]) -> str:
    total = sum(counts.values())
    scope = f" out of {checked} images checked" if checked is not None else ""
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{counts[n]}</td></tr>"
        for n in sorted(counts, key=lambda n: (-counts[n], n))
    )
    # The empty icon: served over HTTP, the browser's /favicon.ico 404 is a console error.
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Decontamination report</title>
<style>
body{{font-family:sans-serif;margin:2em;max-width:72em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .6em}}
.pairs{{display:flex;flex-wrap:wrap;gap:1em}}.pair{{margin:0;width:14em}}
.pair img,.missing{{width:6.8em;height:6.8em;object-fit:contain;background:#eee;
display:inline-block;font-size:.7em;vertical-align:top}}
.url{{font-size:.75em;word-break:break-all;color:#555}}
</style></head><body>
<h1>Decontamination report</h1>
<p>{total} crawl image(s) dropped as near-duplicates of evaluation images{scope}.</p>
<img src="{html.escape(chart)}" alt="hits per eval set">
<table><tr><th>eval set</th><th>hits</th></tr>{rows}</table>
{"".join(sections)}
</body></html>
"""
