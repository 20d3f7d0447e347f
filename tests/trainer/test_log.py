"""Metrics log: JSONL lines on the main rank only, TensorBoard when asked (and installed)."""

from __future__ import annotations

import importlib.util
import json

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


def test_tensorboard_is_written_or_reported_missing(tmp_path):
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ConfigError) as err:
            MetricsLog(tmp_path, enabled=True, tensorboard=True)
        assert err.value.reason == "tensorboard_missing"
        return
    log = MetricsLog(tmp_path, enabled=True, tensorboard=True)
    log.write({"step": 1, "loss": {"m3w": 1.0}})
    log.close()
    assert list((tmp_path / "tensorboard").glob("events.*"))
