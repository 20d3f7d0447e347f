"""The trainer's loss/gate PNG: series from metrics records, the PNG, and a real run."""

from __future__ import annotations

import io
import json

from PIL import Image

from tests.fixtures.trainer_data import TINY_FLAMINGO
from trainer.config import config_from_dict
from trainer.plots import (
    PLOT_NAME,
    PlotConfig,
    gate_series,
    loss_series,
    read_metrics,
    training_png,
    write_training_plot,
)
from trainer.train import train

RECORDS = [
    {
        "step": 2,
        "loss": {"m3w": 5.0, "pairs": 6.0},
        "gates": {"attn": [0.0, 0.1], "ff": [0.0, 0.2]},
    },
    {"step": 2, "eval": {"coco": 1.0}},  # eval lines carry no loss or gates
    {"step": 4, "loss": {"m3w": 4.0}, "gates": {"attn": [0.05, 0.15], "ff": [0.01, 0.25]}},
]


def png_size(data: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()
    return img.size


def test_loss_series_per_dataset():
    assert loss_series(RECORDS) == {"m3w": ([2, 4], [5.0, 4.0]), "pairs": ([2], [6.0])}


def test_gate_series_per_kind_and_layer():
    series = gate_series(RECORDS)
    assert set(series) == {"attn 0", "attn 1", "ff 0", "ff 1"}
    assert series["ff 1"] == ([2, 4], [0.2, 0.25])


def test_png_has_the_configured_size_with_and_without_data():
    cfg = PlotConfig(width_px=500, height_px=250, dpi=50)
    assert png_size(training_png(RECORDS, cfg)) == (500, 250)
    assert png_size(training_png([], cfg)) == (500, 250)
    assert training_png(RECORDS, cfg) != training_png([], cfg)


def test_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n\n" + '{"step": 4, "lo')
    assert read_metrics(path) == [RECORDS[0]]


def test_write_training_plot_needs_a_log(tmp_path):
    assert write_training_plot(tmp_path) is None
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS))
    out = write_training_plot(tmp_path)
    assert out == tmp_path / PLOT_NAME
    assert png_size(out.read_bytes()) == (PlotConfig.width_px, PlotConfig.height_px)
    assert not list(tmp_path.glob("*.tmp"))


def test_training_writes_the_plot_on_save_and_at_the_end(tmp_path, lm_dirs, shards):
    out = tmp_path / "run"
    cfg = config_from_dict(
        {
            "model": {**TINY_FLAMINGO, "lm_path": str(lm_dirs["gpt2"])},
            "data": {
                "num_workers": 0,
                "seed": 3,
                "datasets": {
                    "m3w": {"path": str(shards["m3w"]), "batch_size": 2, "max_tokens": 64},
                    "pairs": {"path": str(shards["pairs"]), "batch_size": 2, "loss_weight": 0.2},
                },
            },
            "run": {
                "output": str(out),
                "steps": 4,
                "log_every": 1,
                "save_every": 2,
                "progress": False,
            },
        }
    )
    train(cfg, stop_after=3)  # stops between saves: the end-of-run plot must still cover step 3
    assert png_size((out / PLOT_NAME).read_bytes()) == (PlotConfig.width_px, PlotConfig.height_px)
    records = read_metrics(out / "metrics.jsonl")
    assert set(loss_series(records)) == {"m3w", "pairs"}
    assert len(gate_series(records)) >= 2
    # The PNG is the one drawn from the full log (3 steps), not the step-2 save's.
    assert (out / PLOT_NAME).read_bytes() == training_png(records)
