"""Metrics log: JSONL lines on the main rank only, TensorBoard when asked (and installed)."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from trainer.errors import ConfigError
from trainer.log import Meter, MetricsLog, _flatten


def test_jsonl_written_only_when_enabled(tmp_path):
    MetricsLog(tmp_path / "off", enabled=False).write({"step": 1})
    assert not (tmp_path / "off").exists()
    log = MetricsLog(tmp_path / "on", enabled=True)
    log.write({"step": 1, "loss": {"m3w": 2.0}})
    log.write({"step": 2, "loss": {"m3w": 1.0}})
    lines = (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"]["m3w"] for x in lines] == [2.0, 1.0]


def test_meter_means_and_flatten():
    m = Meter()
    m.add({"a": 1.0})
    m.add({"a": 3.0})
    assert m.means() == {"a": 2.0}
    flat = _flatten({"step": 3, "loss": {"m3w": 1.5}, "gates": {"attn": [0.1, 0.2]}, "mfu": None})
    assert flat == {"loss/m3w": 1.5, "gates/attn/0": 0.1, "gates/attn/1": 0.2}


def record(step: int, loss: float) -> dict:
    """A log line shaped like trainer.train.log_record's."""
    return {
        "step": step,
        "lr": 1e-4 * step,
        "loss": {"m3w": loss, "pairs": loss / 2},
        "mfu": None,
        "gates": {"attn": [0.01 * step, -0.02], "ff": [0.0, 0.03]},
        "skipped": {"m3w": {"image_decode_error": step}, "pairs": {}},
    }


def scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag under `logdir` as (step, value) pairs, read back as TensorBoard does."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    return {t: [(e.step, pytest.approx(e.value)) for e in acc.Scalars(t)] for t in tags}


def test_tensorboard_scalars_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    log = MetricsLog(tmp_path, enabled=True, tensorboard=True)
    log.write(record(1, 2.0))
    log.write(record(2, 1.0))
    log.close()
    got = scalars(tmp_path / "tensorboard")
    assert set(got) == {
        "lr",
        "loss/m3w",
        "loss/pairs",
        "gates/attn/0",
        "gates/attn/1",
        "gates/ff/0",
        "gates/ff/1",
        "skipped/m3w/image_decode_error",
    }
    assert got["loss/m3w"] == [(1, 2.0), (2, 1.0)]
    assert got["loss/pairs"] == [(1, 1.0), (2, 0.5)]
    assert got["lr"] == [(1, 1e-4), (2, 2e-4)]
    assert got["gates/attn/0"] == [(1, 0.01), (2, 0.02)]
    # The JSONL log is written alongside, unchanged.
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_tensorboard_is_off_by_default_and_on_other_ranks(tmp_path):
    MetricsLog(tmp_path / "default", enabled=True).write(record(1, 1.0))
    MetricsLog(tmp_path / "rank1", enabled=False, tensorboard=True).write(record(1, 1.0))
    assert (tmp_path / "default" / "metrics.jsonl").exists()
    assert not (tmp_path / "default" / "tensorboard").exists()
    assert not (tmp_path / "rank1").exists()


def test_resumed_run_replaces_the_steps_logged_after_its_checkpoint(tmp_path):
    pytest.importorskip("tensorboard")
    first = MetricsLog(tmp_path, enabled=True, tensorboard=True)
    for step in (1, 2, 3, 4):  # checkpoint at 2, then the run dies after logging 3 and 4
        first.write(record(step, 10.0 + step))
    first.close()
    resumed = MetricsLog(tmp_path, enabled=True, tensorboard=True, resume_step=2)
    for step in (3, 4, 5):
        resumed.write(record(step, 20.0 + step))
    resumed.close()
    assert scalars(tmp_path / "tensorboard")["loss/m3w"] == [
        (1, 11.0),
        (2, 12.0),
        (3, 23.0),
        (4, 24.0),
        (5, 25.0),
    ]


def test_missing_tensorboard_package_is_a_config_error(tmp_path, monkeypatch):
    # As without the package: torch.utils.tensorboard is re-imported and its
    # `import tensorboard` fails (a None entry in sys.modules makes import raise).
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    for name in [m for m in sys.modules if m.startswith("torch.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ConfigError) as err:
        MetricsLog(tmp_path, enabled=True, tensorboard=True)
    assert err.value.reason == "tensorboard_missing"
    assert "pip install tensorboard" in err.value.detail
    assert "run.tensorboard" in err.value.detail
    # Other ranks (enabled=False) and runs without the option never need the package.
    MetricsLog(tmp_path, enabled=False, tensorboard=True)
    MetricsLog(tmp_path, enabled=True).write(record(1, 1.0))
    assert not (tmp_path / "tensorboard").exists()


def test_train_refuses_tensorboard_without_the_package_before_loading_anything(
    tmp_path, monkeypatch
):
    from trainer import train as train_module
    from trainer.config import TrainConfig

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    for name in [m for m in sys.modules if m.startswith("torch.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)

    def setup_must_not_run(cfg):
        raise AssertionError("setup ran before the tensorboard check")

    monkeypatch.setattr(train_module, "setup", setup_must_not_run)
    cfg = TrainConfig()
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, tensorboard=True))
    with pytest.raises(ConfigError) as err:
        train_module.train(cfg)
    assert err.value.reason == "tensorboard_missing"
