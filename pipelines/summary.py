"""summary.json and the end-of-run table: counts per stage and per drop reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from pipelines.counting import NAMESPACE_PREFIX, REJECTED_PREFIX

# Stages whose in/out are documents: docs in = docs kept + docs rejected across them.
DOCUMENT_STAGES = ("extract", "filter_text", "dedup_documents", "dedup_paragraphs", "chunk")


def collect_counters(result: PipelineResult) -> dict[str, dict[str, int]]:
    """{stage: {counter name: value}} for every interleaf counter of a finished run."""
    counters: dict[str, dict[str, int]] = {}
    for m in result.metrics().query(MetricsFilter())["counters"]:
        ns = m.key.metric.namespace
        if not ns.startswith(NAMESPACE_PREFIX):
            continue
        value = m.committed if m.committed is not None else m.attempted
        stage = counters.setdefault(ns[len(NAMESPACE_PREFIX) :], {})
        stage[m.key.metric.name] = stage.get(m.key.metric.name, 0) + int(value or 0)
    return counters


def stage_summary(values: dict[str, int]) -> dict[str, Any]:
    rejected = {
        k[len(REJECTED_PREFIX) :]: v
        for k, v in sorted(values.items())
        if k.startswith(REJECTED_PREFIX)
    }
    extra = {
        k: v
        for k, v in sorted(values.items())
        if k not in ("in", "out") and k not in {REJECTED_PREFIX + r for r in rejected}
    }
    n_in, n_out = values.get("in", 0), values.get("out", 0)
    return {
        "in": n_in,
        "out": n_out,
        "rejected": rejected,
        "rejected_total": sum(rejected.values()),
        "balanced": n_in == n_out + sum(rejected.values()),
        **({"counts": extra} if extra else {}),
    }


@dataclass(frozen=True)
class Balance:
    """How a job's unit of work (documents, clips, pairs) adds up: in = kept + rejected."""

    unit: str
    inputs: tuple[tuple[str, str], ...]  # (stage, counter) pairs summed into "in"
    kept: tuple[str, str]  # (stage, counter) of what reached the output
    reject_stages: tuple[str, ...]  # stages whose rejections are units dropped


M3W_BALANCE = Balance(
    "documents", (("read", "pages"), ("read", "documents")), ("chunk", "out"), DOCUMENT_STAGES
)


def build_summary(
    counters: dict[str, dict[str, int]],
    stage_order: tuple[str, ...],
    outputs: dict[str, Any],
    balance: Balance = M3W_BALANCE,
) -> dict[str, Any]:
    """The summary.json document: stages in order, the unit balance, the output files."""
    stages = {s: stage_summary(counters.get(s, {})) for s in stage_order}
    for s in sorted(set(counters) - set(stage_order)):
        stages[s] = stage_summary(counters[s])
    n_in = sum(counters.get(stage, {}).get(name, 0) for stage, name in balance.inputs)
    rejected = sum(stages[s]["rejected_total"] for s in balance.reject_stages if s in stages)
    kept = counters.get(balance.kept[0], {}).get(balance.kept[1], 0)
    return {
        "stages": stages,
        "balance": balance.unit,
        balance.unit: {
            "in": n_in,
            "kept": kept,
            "rejected": rejected,
            "balanced": n_in == kept + rejected,
        },
        "outputs": outputs,
    }


def describe_outputs(output_dir: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Files and row counts of each ``<name>-*.parquet`` output."""
    described: dict[str, Any] = {}
    for name in names:
        pattern = FileSystems.join(output_dir, f"{name}-*.parquet")
        paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        rows = 0
        for path in paths:
            with FileSystems.open(path) as f:
                rows += pq.ParquetFile(f).metadata.num_rows
        described[name] = {"files": paths, "rows": rows}
    return described


def write_summary(summary: dict[str, Any], output_dir: str) -> str:
    path = FileSystems.join(output_dir, "summary.json")
    with FileSystems.create(path) as f:
        f.write(json.dumps(summary, indent=2, sort_keys=False).encode())
    return path


def format_table(summary: dict[str, Any]) -> str:
    """A plain-text table: one row per stage, one indented row per drop reason."""
    lines = [f"{'stage':<28}{'in':>10}{'out':>10}{'rejected':>10}", "-" * 58]
    for stage, s in summary["stages"].items():
        flag = "" if s["balanced"] else "  (!) in != out + rejected"
        lines.append(f"{stage:<28}{s['in']:>10}{s['out']:>10}{s['rejected_total']:>10}{flag}")
        for reason, n in sorted(s["rejected"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {reason:<46}{n:>10}")
    unit = summary["balance"]
    d = summary[unit]
    lines += [
        "-" * 58,
        f"{unit}: {d['in']} in = {d['kept']} kept + {d['rejected']} rejected"
        + ("" if d["balanced"] else "  (!) does not add up"),
    ]
    for name, o in summary["outputs"].items():
        lines.append(f"{name}: {o['rows']} rows in {len(o['files'])} file(s)")
    return "\n".join(lines)
