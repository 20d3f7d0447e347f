"""`curate export-webdataset`: M3W Parquet samples → OpenFlamingo MMC4 tar shards.

A plain Python loop, not a Beam job: it streams row groups of local Parquet files into
tar files one shard at a time, so memory stays at one row group plus one shard.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.export_mmc4 import (
    ExportRejected,
    Mmc4Config,
    Mmc4Sample,
    m3w_row_to_mmc4,
    shard_name,
    shard_pattern,
    write_shard,
)
from pipelines.jobs import CliError
from schemas import (
    M3W_SCHEMA,
    REJECTION_SCHEMA,
    Rejection,
    SchemaVersionError,
    check_schema,
    rejection_to_row,
)

log = logging.getLogger("curate.export")
STAGE = "export"
REJECTIONS_FILE = "rejections-export.parquet"
# open_flamingo/train/data.py skips images of 10 KB or less (MIN_KB); counted as a warning.
OPENFLAMINGO_MIN_BYTES = 11_000
# Rows per Arrow batch: each row carries up to 5 images, so keep batches small.
BATCH_ROWS = 64

EXAMPLES = """examples:
  curate export-webdataset out/ --output out/mmc4
  curate export-webdataset out/ --output out/mmc4 --shard-size 500 --overwrite

Writes OUTPUT/000000.tar, 000001.tar, … (one KEY.json per sample: text_list, image_info with
base64 images, similarity_matrix), OUTPUT/sizes.json (samples per shard, read by
OpenFlamingo's get_dataset_size) and OUTPUT/rejections-export.parquet. Pass the printed
shard pattern to OpenFlamingo's train.py as --mmc4_shards."""


@dataclass
class ExportSummary:
    """What an export did: counts for the table printed at the end."""

    rows: int = 0
    exported: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    small_images: int = 0
    shards: dict[str, int] = field(default_factory=dict)

    def lines(self, output: str) -> list[str]:
        """The summary as printable lines."""
        out = [
            f"rows read        {self.rows}",
            f"samples exported {self.exported}",
            f"rows rejected    {sum(self.rejected.values())}",
        ]
        out += [f"  {reason:<22} {n}" for reason, n in sorted(self.rejected.items())]
        if self.small_images:
            out.append(f"images ≤ 10 KB   {self.small_images} (OpenFlamingo skips these)")
        out.append(f"shards           {len(self.shards)} in {output}")
        if self.shards:
            out.append(f"--mmc4_shards    {os.path.join(output, shard_pattern(len(self.shards)))}")
        return out


def sample_files(input_dir: str) -> list[Path]:
    """The M3W sample shards of an output directory, sorted (the export order)."""
    return sorted(Path(input_dir).glob("samples-*.parquet"))


def iter_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Rows of every file, row group by row group, after the schema version check."""
    for path in paths:
        parquet = pq.ParquetFile(path)
        check_schema(parquet.schema_arrow, M3W_SCHEMA, str(path))
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield from batch.to_pylist()


def _reject_key(row: dict[str, Any]) -> str:
    return f"{row.get('doc_id')}#{row.get('chunk_index')}"


def iter_samples(
    rows: Iterator[dict[str, Any]],
    config: Mmc4Config,
    summary: ExportSummary,
    rejections: list[Rejection],
) -> Iterator[Mmc4Sample]:
    """Convert rows; each one that cannot convert becomes a rejection, counted by reason."""
    for row in rows:
        summary.rows += 1
        try:
            sample = m3w_row_to_mmc4(row, summary.exported, config)
        except ExportRejected as e:
            summary.rejected[e.reason] += 1
            rejections.append(Rejection(STAGE, e.reason, _reject_key(row), e.detail))
            continue
        summary.exported += 1
        summary.small_images += sum(
            len(i["image_base64"]) * 3 // 4 < OPENFLAMINGO_MIN_BYTES
            for i in sample.doc["image_info"]
        )
        if summary.rows % 10_000 == 0:
            log.info("export: %d rows read, %d exported", summary.rows, summary.exported)
        yield sample


def _take(samples: Iterator[Mmc4Sample], n: int) -> list[Mmc4Sample]:
    out: list[Mmc4Sample] = []
    for sample in samples:
        out.append(sample)
        if len(out) == n:
            break
    return out


def export_webdataset(input_dir: str, output_dir: str, config: Mmc4Config) -> ExportSummary:
    """Export every M3W sample under input_dir to tar shards in output_dir."""
    summary, rejections = ExportSummary(), []
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = iter_samples(iter_rows(sample_files(input_dir)), config, summary, rejections)
    while batch := _take(samples, config.shard_size):
        name = shard_name(len(summary.shards))
        tmp = out / f".{name}.tmp"  # renamed when complete: no half shard is ever listed
        with open(tmp, "wb") as f:
            summary.shards[name] = write_shard(f, batch, config)
        tmp.replace(out / name)
        log.info("export: wrote %s (%d samples)", name, summary.shards[name])
    (out / "sizes.json").write_text(json.dumps(summary.shards, indent=1, sort_keys=True) + "\n")
    table = pa.Table.from_pylist([rejection_to_row(r) for r in rejections], REJECTION_SCHEMA)
    pq.write_table(table, out / REJECTIONS_FILE)
    return summary


def _old_outputs(output: Path) -> list[Path]:
    if not output.is_dir():
        return []
    names = [*output.glob("*.tar"), output / "sizes.json", output / REJECTIONS_FILE]
    return [p for p in names if p.exists()]


def run_export_webdataset(args: argparse.Namespace, beam_args: list[str]) -> int:
    """The `export-webdataset` command."""

    if beam_args:
        raise CliError(f"export-webdataset: unknown options {' '.join(beam_args)}")
    if args.shard_size < 1:
        raise CliError(f"--shard-size must be ≥ 1, got {args.shard_size}")
    if not sample_files(args.input_dir):
        raise CliError(f"{args.input_dir} holds no samples-*.parquet (run `curate m3w` first)")
    old = _old_outputs(Path(args.output))
    if old and not args.overwrite:
        raise CliError(
            f"{args.output} already holds an export ({len(old)} files); "
            "pass --overwrite to replace it or choose another --output"
        )
    for path in old:
        path.unlink()
    config = Mmc4Config(shard_size=args.shard_size, keep_text_only=args.keep_text_only)
    try:
        summary = export_webdataset(args.input_dir, args.output, config)
    except (SchemaVersionError, pa.ArrowInvalid) as e:  # not M3W samples v1, or corrupt
        raise CliError(str(e)) from None
    print("\n".join(summary.lines(args.output)))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `export-webdataset` on the `curate` subcommands."""
    p = sub.add_parser(
        "export-webdataset",
        help="M3W samples → OpenFlamingo MMC4 webdataset tar shards",
        description="Export M3W samples (IN_DIR/samples-*.parquet) as tar shards in the "
        "MMC4 layout that OpenFlamingo's training loader reads.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input_dir", metavar="IN_DIR", help="output directory of `curate m3w`")
    p.add_argument("--output", required=True, help="directory for the tar shards (local)")
    p.add_argument(
        "--shard-size",
        type=int,
        default=Mmc4Config.shard_size,
        help="samples per tar shard (default %(default)s)",
    )
    p.add_argument(
        "--keep-text-only",
        action="store_true",
        help="export samples without images too (OpenFlamingo's MMC4 loader skips them)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export")
    p.set_defaults(func=run_export_webdataset)
