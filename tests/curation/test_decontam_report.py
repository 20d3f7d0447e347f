"""The decontamination report: counts per eval set, a chart, and thumbnails that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from curation.decontam_report import (
    ReportConfig,
    build_report,
    parse_detail,
    worst_matches,
)
from curation.eval_index import make_thumbnail
from curation.eval_sources import build_eval_dataset, image_file_tasks
from schemas import (
    DECONTAM_HIT_SCHEMA,
    REJECTION_SCHEMA,
    DecontamHit,
    Rejection,
    hit_to_row,
    rejection_to_row,
)
from tests.fixtures.eval_sets import photo, write_folder

EVIL_URL = 'https://x.example/<script>alert("x")</script>.jpg'


def _hit(key: str, dataset: str, image_id: str, distance: int, index: str) -> DecontamHit:
    return DecontamHit(
        key, dataset, "val", image_id, distance, None, make_thumbnail(photo(key)), index
    )


def _run_dir(tmp_path: Path, hits: list[DecontamHit], other: list[Rejection]) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    rejections = [
        Rejection(
            "decontam", "eval_duplicate", h.key, f"{h.dataset}/{h.image_id} distance={h.distance}"
        )
        for h in hits
    ] + other
    pq.write_table(
        pa.Table.from_pylist([rejection_to_row(r) for r in rejections], schema=REJECTION_SCHEMA),
        run / "rejections-00000-of-00001.parquet",
    )
    pq.write_table(
        pa.Table.from_pylist([hit_to_row(h) for h in hits], schema=DECONTAM_HIT_SCHEMA),
        run / "decontam-hits-00000-of-00001.parquet",
    )
    (run / "summary.json").write_text(json.dumps({"stages": {"decontam": {"in": 40, "out": 37}}}))
    return run


def _srcs(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def three_hits(root: Path) -> list:
    """Hits on two eval sets: coco (indexed under root/ix, 2 hits) and vizwiz (index gone)."""
    write_folder(root / "coco", ["c1", "c2"])
    index = root / "ix"
    build_eval_dataset(
        str(index), "coco-val2014", "val", image_file_tasks(str(root / "coco")), progress=False
    )
    return [
        _hit("https://a.example/1.jpg", "coco-val2014", "c1", 0, str(index)),
        _hit(EVIL_URL, "coco-val2014", "c2", 6, str(index)),
        _hit("https://b.example/3.jpg", "vizwiz-val", "v9", 3, str(root / "gone")),
    ]


def test_report_counts_hits_per_set_and_shows_both_thumbnails(tmp_path):
    hits = three_hits(tmp_path)
    other = [Rejection("images", "too_small", "https://c.example/s.png", "10x10")]
    run = _run_dir(tmp_path, hits, other)
    paths = build_report(str(run))
    page = Path(paths.html).read_text()
    assert "3 crawl image(s) dropped" in page and "out of 40 images checked" in page
    assert "coco-val2014: 2 hit(s)" in page and "vizwiz-val: 1 hit(s)" in page
    assert "too_small" not in page  # other stages' rejections are not hits
    for src in _srcs(page):
        assert (Path(paths.html).parent / src).is_file(), src
    thumbs = [s for s in _srcs(page) if s.startswith("thumbs/")]
    # Two coco pairs with both sides; vizwiz's index is gone: only the crawl side.
    assert len(thumbs) == 5 and "eval thumbnail not available" in page
    # Weakest match first: distance 6 comes before the exact copy.
    assert page.index("distance 6") < page.index("distance 0")
    assert "<script>" not in page and "&lt;script&gt;" in page
    with Image.open(paths.chart) as chart:
        assert chart.format == "PNG" and chart.width > 100


def test_report_without_hits_still_writes_a_page_and_chart(tmp_path):
    run = _run_dir(tmp_path, [], [])
    paths = build_report(str(run))
    page = Path(paths.html).read_text()
    assert "0 crawl image(s) dropped" in page and paths.thumbnails == ()
    assert Path(paths.chart).is_file()


def test_worst_matches_caps_and_orders_per_dataset():
    hits = [_hit(f"u{i}", "d", str(i), i % 5, "ix") for i in range(10)]
    chosen = worst_matches(hits, 3)["d"]
    assert [h.distance for h in chosen] == [4, 4, 3]
    assert ReportConfig().examples_per_dataset >= 1


def test_parse_detail_reads_what_the_transform_writes():
    assert parse_detail("coco-val2014/COCO_val/42 distance=7 cosine=0.931") == (
        "coco-val2014",
        "COCO_val/42",
        7,
    )
    assert parse_detail("10x10 < 150 px") is None
