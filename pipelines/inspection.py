"""`curate show` and `curate stats`: look at a curation output instead of reading Parquet.

Plain Python over local files, not Beam jobs: `show` reads the first N rows, `stats`
streams the columns it charts batch by batch (never the image bytes of a whole run).
The sample kind (M3W, pairs, video) comes from the schema name in the Parquet metadata.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from curation.show import ShowConfig, data_uri, image_mime, render_page
from curation.stats import (
    SampleStats,
    StatsConfig,
    languages_from_details,
    rejections_by_stage,
    rejections_from_summary,
    report_charts,
    report_html,
)
from pipelines.jobs import CliError
from schemas import (
    M3W_SCHEMA,
    PAIR_SCHEMA,
    REJECTION_SCHEMA,
    VIDEO_SCHEMA,
    SchemaVersionError,
    check_schema,
    row_to_m3w_sample,
    row_to_pair_sample,
    row_to_video_sample,
)
from schemas.base import schema_identity

# Sample kinds `show`/`stats` understand: schema name → (schema, row → record).
KINDS: dict[str, tuple[pa.Schema, Callable[[dict[str, Any]], Any]]] = {
    "m3w_sample": (M3W_SCHEMA, row_to_m3w_sample),
    "pair_sample": (PAIR_SCHEMA, row_to_pair_sample),
    "video_sample": (VIDEO_SCHEMA, row_to_video_sample),
}
# Rows per Arrow batch: an M3W row carries up to 5 images, a video row its frames.
BATCH_ROWS = 64
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
}

SHOW_EXAMPLES = """examples:
  curate show out/                      # out/show.html, first 20 samples, images inline
  curate show out/ --n 50 --output look.html --image-files
  curate show pairs-out/                # pairs: image + caption; video: frame strip + caption
The page is self-contained (images as data: URIs) unless --image-files writes them to a
folder beside it (smaller page, for many samples)."""

STATS_EXAMPLES = """examples:
  curate stats out/                     # out/stats/index.html + PNG charts
  curate stats out/ --output report/"""


def sample_files(out_dir: str) -> list[Path]:
    """The samples-*.parquet shards of an output folder, sorted; CliError when none."""
    root = Path(out_dir)
    if not root.is_dir():
        raise CliError(f"{out_dir}: not a directory (pass the --output folder of a curate job)")
    paths = sorted(root.glob("samples-*.parquet"))
    if not paths:
        raise CliError(f"{out_dir}: no samples-*.parquet files (is this a curate output folder?)")
    return paths


def sample_kind(paths: list[Path]) -> str:
    """The schema name every shard carries (m3w_sample, pair_sample or video_sample)."""
    kinds = {schema_identity(pq.read_schema(p))[0] for p in paths}
    if len(kinds) != 1 or not kinds <= set(KINDS):
        raise CliError(
            f"{paths[0].parent}: samples hold {sorted(map(str, kinds))}; "
            f"expected one of {sorted(KINDS)}"
        )
    kind = kinds.pop()
    try:
        for p in paths:
            check_schema(pq.read_schema(p), KINDS[kind][0], str(p))
    except SchemaVersionError as e:
        raise CliError(str(e)) from e
    return kind


def iter_batches(paths: list[Path], columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    for path in paths:
        yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)


def read_samples(out_dir: str, n: int) -> tuple[str, list[Any]]:
    """(kind, the first n samples as records) of an output folder."""
    paths = sample_files(out_dir)
    kind = sample_kind(paths)
    to_record = KINDS[kind][1]
    samples: list[Any] = []
    for batch in iter_batches(paths):
        for row in batch.to_pylist():
            if len(samples) == n:
                return kind, samples
            samples.append(to_record(row))
    return kind, samples


def stats_columns(path: Path, kind: str) -> list[str]:
    """Column paths with the sizes but not the bytes of images (nested column selection)."""
    if kind == "m3w_sample":
        item = pq.read_schema(path).field("images").type.value_field.name
        return ["num_tokens", f"images.list.{item}.width", f"images.list.{item}.height"]
    if kind == "pair_sample":
        return ["caption", "image.width", "image.height"]
    # One frame time per frame: counting them avoids reading the JPEG frames.
    return ["caption", "frame_times", "width", "height"]


def _stats_batches(path: Path, kind: str) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path)
    columns = stats_columns(path, kind)
    top = list(dict.fromkeys(c.split(".")[0] for c in columns))
    first = next(parquet.iter_batches(batch_size=1, columns=columns), None)
    if first is not None and first.schema.names != top:
        # A writer with other nested names: pyarrow drops unknown paths silently, so read whole.
        columns = top
    yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)


def _add_batch(stats: SampleStats, batch: pa.RecordBatch) -> None:
    if stats.kind == "m3w_sample":
        stats.lengths += batch.column("num_tokens").to_pylist()
        images = batch.column("images")
        stats.images_per_sample += images.value_lengths().to_pylist()
        flat = images.flatten()
        widths, heights = flat.field("width").to_pylist(), flat.field("height").to_pylist()
        stats.image_sizes += list(zip(widths, heights, strict=True))
        return
    stats.lengths += [len(c) for c in batch.column("caption").to_pylist()]
    if stats.kind == "pair_sample":
        image = batch.column("image")
        stats.images_per_sample += [1] * batch.num_rows
        widths, heights = image.field("width").to_pylist(), image.field("height").to_pylist()
        stats.image_sizes += list(zip(widths, heights, strict=True))
        return
    counts = batch.column("frame_times").value_lengths().to_pylist()
    stats.images_per_sample += counts
    widths, heights = batch.column("width").to_pylist(), batch.column("height").to_pylist()
    for count, size in zip(counts, zip(widths, heights, strict=True), strict=True):
        stats.image_sizes += [size] * count


def collect_stats(out_dir: str) -> SampleStats:
    """Lengths, images per sample and image sizes of every sample, without image bytes."""
    paths = sample_files(out_dir)
    kind = sample_kind(paths)
    stats = SampleStats(kind, "tokens" if kind == "m3w_sample" else "caption characters")
    for path in paths:
        for batch in _stats_batches(path, kind):
            _add_batch(stats, batch)
    return stats


def read_rejections(out_dir: str) -> list[tuple[str, str, str]]:
    """(stage, reason, detail) of every rejection record in the folder."""
    out: list[tuple[str, str, str]] = []
    for path in sorted(Path(out_dir).glob("rejections-*.parquet")):
        try:
            check_schema(pq.read_schema(path), REJECTION_SCHEMA, str(path))
        except SchemaVersionError as e:
            raise CliError(str(e)) from e
        table = pq.read_table(path, columns=["stage", "reason", "detail"])
        columns = (table.column(c).to_pylist() for c in ("stage", "reason", "detail"))
        out += zip(*columns, strict=True)
    return out


def read_summary(out_dir: str) -> dict[str, Any] | None:
    path = Path(out_dir) / "summary.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CliError(f"{path}: not valid JSON ({e})") from e


class ImageFiles:
    """Writes each distinct image once into a folder; returns its path relative to the page."""

    def __init__(self, folder: Path, page_dir: Path) -> None:
        self.folder, self.page_dir = folder, page_dir
        self.written: dict[str, str] = {}

    def __call__(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if digest not in self.written:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / (digest[:20] + _EXTENSIONS.get(image_mime(data), ".bin"))
            path.write_bytes(data)
            # A URL, not a path: "#", "?" or "%" in the page's name would break every image.
            self.written[digest] = quote(path.relative_to(self.page_dir).as_posix())
        return self.written[digest]


def _no_extra(rest: list[str]) -> None:
    if rest:
        raise CliError(f"unknown option(s): {' '.join(rest)}")


def run_show(args: argparse.Namespace, rest: list[str]) -> int:
    """Write the HTML page of the first --n samples."""
    _no_extra(rest)
    if args.n < 1:
        raise CliError(f"--n must be at least 1, got {args.n}")
    kind, samples = read_samples(args.out_dir, args.n)
    page = Path(args.output) if args.output else Path(args.out_dir) / "show.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    src: Callable[[bytes], str] = data_uri
    if args.image_files:
        src = ImageFiles(page.parent / f"{page.stem}_files", page.parent)
    title = f"{len(samples)} {kind} samples from {args.out_dir}"
    page.write_text(render_page(samples, title, src, ShowConfig()), encoding="utf-8")
    print(f"show: {page} ({len(samples)} {kind} samples)")
    return 0


def run_stats(args: argparse.Namespace, rest: list[str]) -> int:
    """Write the stats report (index.html + PNG charts) of an output folder."""
    _no_extra(rest)
    stats = collect_stats(args.out_dir)
    rejected = read_rejections(args.out_dir)
    summary = read_summary(args.out_dir)
    if summary is not None:
        by_stage, source = rejections_from_summary(summary), "summary.json counters"
    else:
        by_stage = rejections_by_stage((s, r) for s, r, _ in rejected)
        source = "rejections-*.parquet"
    languages = languages_from_details(d for _, _, d in rejected)
    charts = report_charts(stats, by_stage, languages, StatsConfig())
    out = Path(args.output) if args.output else Path(args.out_dir) / "stats"
    out.mkdir(parents=True, exist_ok=True)
    for name, png in charts.items():
        (out / name).write_bytes(png)
    title = f"curate stats: {args.out_dir}"
    page = report_html(title, stats, by_stage, source, languages, {n: n for n in charts})
    (out / "index.html").write_text(page, encoding="utf-8")
    print(f"stats: {out / 'index.html'} ({stats.count} samples, {len(charts)} charts)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `show` and `stats` on the `curate` subcommands."""
    p = sub.add_parser(
        "show",
        help="HTML page of samples as the model sees them",
        description="Render the first N samples of a curate output folder as one HTML page: "
        "text with images inline at their <image> markers, <|endofchunk|> badges, token counts.",
        epilog=SHOW_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder of curate m3w/pairs/video")
    p.add_argument("--n", type=int, default=20, help="samples to show (default %(default)s)")
    p.add_argument(
        "--output", metavar="FILE.html", help="page to write (default OUT_DIR/show.html)"
    )
    p.add_argument(
        "--image-files",
        action="store_true",
        help="write images to FILE_files/ beside the page instead of embedding them",
    )
    p.set_defaults(func=run_show)
    s = sub.add_parser(
        "stats",
        help="HTML report with charts of a curate output",
        description="Charts of tokens and images per sample, image sizes, languages and "
        "rejection reasons per stage, as OUTPUT/index.html and PNG files.",
        epilog=STATS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("out_dir", metavar="OUT_DIR", help="output folder of curate m3w/pairs/video")
    s.add_argument("--output", metavar="DIR", help="report folder (default OUT_DIR/stats)")
    s.set_defaults(func=run_stats)
