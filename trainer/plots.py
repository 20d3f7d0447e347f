"""A PNG of a run's loss curves per dataset and its tanh gate values per layer.

Drawn from the records of run/metrics.jsonl (trainer/log.py writes one per log step:
``{"step", "loss": {dataset: mean}, "gates": {"attn": [tanh α per layer], "ff": [...]}}``).
Flamingo's gates start at 0 (paper §2.2): the gate panel shows when the LM starts to look.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLOT_NAME = "training.png"


@dataclass(frozen=True)
class PlotConfig:
    """Figure size."""

    width_px: int = 1000  # two panels side by side
    height_px: int = 400
    dpi: int = 100  # matplotlib's default


def loss_series(records: Sequence[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """{dataset: (steps, losses)} from training records (eval records have no "loss")."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in records:
        for name, value in (r.get("loss") or {}).items():
            if value is not None:
                steps, values = out.setdefault(name, ([], []))
                steps.append(int(r["step"]))
                values.append(float(value))
    return out


def gate_series(records: Sequence[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """{"attn 0": (steps, tanh α), "ff 0": …} per gate kind and layer."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in records:
        for kind, values in (r.get("gates") or {}).items():
            for layer, value in enumerate(values):
                steps, vals = out.setdefault(f"{kind} {layer}", ([], []))
                steps.append(int(r["step"]))
                vals.append(float(value))
    return out


def training_png(records: Sequence[dict[str, Any]], cfg: PlotConfig | None = None) -> bytes:
    """PNG bytes: loss per dataset (left), tanh gate per layer (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cfg = cfg or PlotConfig()
    fig = Figure(figsize=(cfg.width_px / cfg.dpi, cfg.height_px / cfg.dpi), dpi=cfg.dpi)
    FigureCanvasAgg(fig)
    loss_ax, gate_ax = fig.subplots(1, 2)
    for ax, series, title, ylabel in (
        (loss_ax, loss_series(records), "loss per dataset", "loss"),
        (gate_ax, gate_series(records), "gates per layer", "tanh(α)"),
    ):
        for label, (steps, values) in series.items():
            # attn gates solid, ff gates dashed: same layer, same colour family.
            style = "--" if label.startswith("ff ") else "-"
            ax.plot(steps, values, style, label=label, marker="." if len(steps) < 30 else None)
        if series:
            ax.legend(fontsize=7, ncol=2 if len(series) > 8 else 1)
        else:
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=cfg.dpi)  # no bbox "tight": keep the configured size
    return buf.getvalue()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl; a torn last line (a run killed mid-write) is skipped."""
    records = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            # Only a partial final write can do this; the plot is a view, not the record.
            continue
    return records


def write_training_plot(run_dir: str | Path, cfg: PlotConfig | None = None) -> Path | None:
    """Write run_dir/training.png from run_dir/metrics.jsonl; None when there is no log yet."""
    metrics = Path(run_dir) / "metrics.jsonl"
    if not metrics.exists():
        return None
    out = Path(run_dir) / PLOT_NAME
    tmp = out.with_suffix(".png.tmp")
    tmp.write_bytes(training_png(read_metrics(metrics), cfg))
    tmp.replace(out)  # a viewer refreshing the file never sees half a PNG
    return out
