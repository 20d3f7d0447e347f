"""Training logs: a JSONL file, optional TensorBoard, running means between log lines."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from torch import nn

from trainer.errors import ConfigError


def gate_values(model: nn.Module) -> dict[str, list[float]]:
    """tanh(α) of every xattn block, per layer: how much each block lets through."""
    blocks = model.xattn_blocks()
    return {
        "attn": [round(math.tanh(float(_full(b.attn_gate))), 6) for b in blocks],
        "ff": [round(math.tanh(float(_full(b.ff_gate))), 6) for b in blocks],
    }


def _full(p: Any) -> Any:
    """A DTensor's full value (FSDP2), or the tensor itself."""
    p = p.detach()
    return p.full_tensor() if hasattr(p, "full_tensor") else p


class Meter:
    """Sums over the steps since the last log line."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.steps = 0

    def add(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.sums[k] += v
        self.steps += 1

    def means(self) -> dict[str, float]:
        return {k: v / max(1, self.steps) for k, v in self.sums.items()}

    def reset(self) -> None:
        self.sums.clear()
        self.steps = 0


class MetricsLog:
    """Appends one JSON object per log step to metrics.jsonl (and TensorBoard when asked).

    TensorBoard gets every number of a record as a scalar named by its path (`loss/m3w`,
    `lr`, `gates/attn/0`, `skipped/m3w/image_decode_error`), in <output>/tensorboard/.
    """

    def __init__(
        self, output: str | Path, enabled: bool, tensorboard: bool = False, resume_step: int = 0
    ) -> None:
        self.enabled = enabled
        self.path = Path(output) / "metrics.jsonl"
        self.tb = None
        if enabled and tensorboard:
            writer = summary_writer_class()
            # A run resumed from the checkpoint at step s logged steps > s before it stopped;
            # purge_step makes TensorBoard drop those instead of drawing them twice.
            purge = resume_step + 1 if resume_step > 0 else None
            self.tb = writer(str(Path(output) / "tensorboard"), purge_step=purge)

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for key, value in _flatten(record).items():
                self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def summary_writer_class() -> type:
    """torch's SummaryWriter, or ConfigError when the tensorboard package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ConfigError(
            "tensorboard_missing",
            f"run.tensorboard=true needs the tensorboard package ({e}); "
            "pip install tensorboard, or set run.tensorboard=false",
        ) from e
    return SummaryWriter


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "/"))
        elif isinstance(value, list):
            out.update({f"{name}/{i}": float(v) for i, v in enumerate(value)})
        elif isinstance(value, (int, float)) and key != "step":
            out[name] = float(value)
    return out
