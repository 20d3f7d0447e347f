"""Config: YAML files, dotted overrides, --data flags, validation errors with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trainer.config import (
    active_datasets,
    config_from_dict,
    config_to_dict,
    infer_kind,
    load_config,
)
from trainer.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "trainer/configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(path, tmp_path):
    cfg = load_config(path, ["model.lm_path=/models/lm"], ["m3w=/data/m3w"])
    assert [d.name for d in active_datasets(cfg.data)] == ["m3w"]
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    assert load_config(again) == cfg


def test_overrides_are_typed_and_datasets_keep_yaml_order(tmp_path):
    cfg = load_config(
        CONFIGS[-1],  # tiny-cpu.yaml
        [
            "optim.lr=1e-3",
            "run.steps=7",
            "data.datasets.pairs.batch_size=3",
            "model.vision_cfg.layers=1",
        ],
        ["video=/v", "pairs=/p", "extra_vtp=/x"],
    )
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float) and cfg.run.steps == 7
    assert [d.name for d in cfg.data.datasets] == ["m3w", "pairs", "video", "extra_vtp"]
    pairs = cfg.data.datasets[1]
    assert (pairs.batch_size, pairs.path, pairs.loss_weight) == (3, "/p", 0.2)
    extra = cfg.data.datasets[-1]
    assert (extra.kind, extra.loss_weight, extra.max_tokens) == ("video", 0.03, 32)
    assert cfg.model.vision_cfg["layers"] == 1 and cfg.model.vision_cfg["width"] == 128


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"model": {"lm_path": "x", "nope": 1}}, "unknown_key"),
        ({"model": {"lm_path": "x"}, "optim": {"lr": "fast"}}, "bad_value"),
        ({"model": {"lm_path": "x"}, "run": {"steps": 1.5}}, "bad_value"),
        ({"model": {"lm_path": "x"}, "run": {"precision": "fp8"}}, "bad_value"),
        ({"model": {}}, "no_language_model"),
        (
            {"model": {"lm_path": "x"}, "data": {"datasets": {"a": {"kind": "audio"}}}},
            "unknown_dataset_kind",
        ),
        ({"model": {"lm_path": "x"}, "data": {"datasets": {"a": {"batch_size": 0}}}}, "bad_value"),
        ({"model": {"lm_path": "x"}, "trainer": {}}, "unknown_key"),
    ],
)
def test_invalid_configs_name_the_problem(raw, reason):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert err.value.reason == reason


def test_bad_flags_and_files(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["run.steps"])
    assert err.value.reason == "bad_override_flag"
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "missing.yaml")
    assert err.value.reason == "unreadable_config"


def test_kind_is_inferred_from_the_dataset_name():
    assert [infer_kind(n) for n in ("m3w", "M3W-en", "vtp", "my_video", "align", "ltip")] == [
        "m3w",
        "m3w",
        "video",
        "video",
        "pairs",
        "pairs",
    ]


def test_shipped_config_is_found_by_bare_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no trainer/configs/ here, as after a pip install
    by_name = load_config("tiny-cpu")
    assert by_name == load_config("tiny-cpu.yaml") == load_config(CONFIGS[-1])
    (tmp_path / "tiny-cpu.yaml").write_text("run: {steps: 3}\nmodel: {lm_path: /lm}\n")
    assert load_config("tiny-cpu.yaml").run.steps == 3  # a file that exists wins
    with pytest.raises(ConfigError) as err:
        load_config("no-such-config")
    assert err.value.reason == "unreadable_config" and "no-such-config" in err.value.detail
