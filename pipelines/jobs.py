"""What every `curate` job command shares: user errors, output folders, common options,
and running a Beam job to its summary table."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.summary import collect_counters, format_table, write_summary

# Files a job writes into its output folder (besides summary.json).
OUTPUT_NAMES = ("samples", "rejections", "decontam-hits")


class CliError(Exception):
    """A user error at the command-line boundary: printed without a traceback, exit 2."""


def csv_list(value: str) -> tuple[str, ...]:
    """argparse type for "a,b,c" options."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def add_output_options(p: argparse._ActionsContainer) -> None:
    """--num-shards, --overwrite, --quiet: the same on every job."""
    p.add_argument("--num-shards", type=int, default=0, help="output shards (0: runner decides)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace samples/rejections/summary already in OUTPUT",
    )
    p.add_argument("--quiet", action="store_true", help="no progress logging")


def add_eval_options(p: argparse._ActionsContainer, what: str, default_radius: int) -> None:
    """--eval-index / --eval-radius; `what` says what a match drops (images, pairs, clips)."""
    p.add_argument(
        "--eval-index",
        metavar="DIR",
        help=f"eval-set index (curate evalset-index): drop {what} that are near-duplicates "
        "of evaluation images",
    )
    p.add_argument(
        "--eval-radius",
        type=int,
        default=default_radius,
        help="pHash Hamming radius for an eval match (default %(default)s; "
        "see bench/dedup_quality.py)",
    )


def add_network_option(p: argparse._ActionsContainer) -> None:
    """--allow-network: the only way past the fetcher's private-address guard."""
    p.add_argument(
        "--allow-network",
        type=csv_list,
        default=(),
        metavar="CIDR[,HOST…]",
        help="private/loopback networks or hosts the fetcher may contact",
    )


def prepare_output(output: str, overwrite: bool, names: Sequence[str] = OUTPUT_NAMES) -> None:
    """Create OUTPUT; refuse to mix with an earlier run's files unless --overwrite."""
    patterns = [FileSystems.join(output, f"{n}-*.parquet") for n in names]
    patterns.append(FileSystems.join(output, "summary.json"))
    old = [m.path for r in FileSystems.match(patterns) for m in r.metadata_list]
    if old and not overwrite:
        raise CliError(
            f"{output} already holds output of an earlier run ({len(old)} files); "
            "pass --overwrite to replace it or choose another --output"
        )
    if old:
        FileSystems.delete(old)
    if not FileSystems.exists(output):
        FileSystems.mkdirs(output)


def run_job(
    build: Callable[[beam.Pipeline], None],
    beam_args: list[str],
    summarize: Callable[[dict[str, dict[str, int]]], dict[str, Any]],
    output: str,
    inputs: Sequence[str],
) -> int:
    """Build and run a Beam job, then write summary.json and print its table."""
    started = time.monotonic()
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    summary = summarize(collect_counters(result))
    summary["elapsed_s"] = round(time.monotonic() - started, 2)
    summary["inputs"] = list(inputs)
    path = write_summary(summary, output)
    print(format_table(summary))
    print(f"summary: {path}  ({summary['elapsed_s']} s)")
    return 0
