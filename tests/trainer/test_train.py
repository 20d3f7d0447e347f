"""Training loop: overfitting, exact resume, loss weights, the CLI on the tiny-cpu config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.fixtures.trainer_data import TINY_FLAMINGO, make_lm, write_m3w, write_pairs
from trainer.checkpoint import latest_checkpoint
from trainer.config import config_from_dict
from trainer.errors import ConfigError
from trainer.loss import lm_loss
from trainer.optim import build_optimizer, lr_lambda
from trainer.train import main, train

REPO = Path(__file__).resolve().parents[2]


def tiny_config(lm_dir, output, datasets, steps, workers=0, **run):
    return config_from_dict(
        {
            "model": {**TINY_FLAMINGO, "lm_path": str(lm_dir)},
            "data": {"num_workers": workers, "seed": 3, "datasets": datasets},
            "optim": {"lr": 1e-2, "warmup_steps": 5},
            "run": {
                "output": str(output),
                "steps": steps,
                "log_every": 2,
                "progress": False,
                **run,
            },
        }
    )


@pytest.fixture(scope="module")
def sharp_lm(tmp_path_factory):
    # Random LMs with the usual 0.02 init emit near-uniform logits whatever their inputs;
    # a wider init lets a tiny model show that the trainable parts can drive the loss down.
    return make_lm(tmp_path_factory.mktemp("sharp") / "lm", "gpt2", initializer_range=0.5)


def test_tiny_model_overfits_a_handful_of_m3w_samples(tmp_path, sharp_lm):
    write_m3w(tmp_path / "m3w" / "a.parquet", n=4, seed=3)
    data = {"m3w": {"path": str(tmp_path / "m3w"), "batch_size": 4, "max_tokens": 96}}
    history = train(tiny_config(sharp_lm, tmp_path / "run", data, steps=60, save_every=1000))
    losses = [h["loss"]["m3w"] for h in history]
    assert len(losses) == 60
    assert losses[-1] < losses[0] / 10
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    last = lines[-1]
    assert last["step"] == 60 and last["tokens_per_s"] > 0 and last["samples_per_s"] > 0
    assert len(last["gates"]["attn"]) == 2 and any(g != 0 for g in last["gates"]["ff"])
    assert latest_checkpoint(tmp_path / "run").name == "step_00000060"


def mixture(shards):
    return {
        "m3w": {"path": str(shards["m3w"]), "batch_size": 3, "max_tokens": 64},
        "pairs": {"path": str(shards["pairs"]), "batch_size": 2},
    }


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, lm_dirs, shards):
    cfg = tiny_config(lm_dirs["gpt2"], tmp_path / "a", mixture(shards), 6, workers=2, save_every=3)
    full = train(cfg)
    cfg_b = tiny_config(
        lm_dirs["gpt2"], tmp_path / "b", mixture(shards), 6, workers=2, save_every=3
    )
    first = train(cfg_b, stop_after=3)
    assert [h["step"] for h in first] == [1, 2, 3]
    rest = train(cfg_b)  # finds step_00000003 and continues
    assert [h["step"] for h in rest] == [4, 5, 6]
    assert first + rest == full
    saved = latest_checkpoint(tmp_path / "b")
    assert (saved / "trainable.safetensors").is_file() and (saved / "data_rank0.json").is_file()


def test_zero_loss_weight_leaves_the_trajectory_unchanged(tmp_path, lm_dirs, shards):
    both = mixture(shards)
    both["pairs"]["loss_weight"] = 0.0
    with_zero = train(tiny_config(lm_dirs["gpt2"], tmp_path / "a", both, 3, save_every=100))
    alone = train(
        tiny_config(lm_dirs["gpt2"], tmp_path / "b", {"m3w": both["m3w"]}, 3, save_every=100)
    )
    assert [h["loss"]["m3w"] for h in with_zero] == [h["loss"]["m3w"] for h in alone]
    assert all("pairs" in h["loss"] for h in with_zero)


def test_weight_decay_skips_resampler_gates_norms_and_token_rows(lm_dirs):
    from trainer.config import ModelConfig
    from trainer.model import build_flamingo

    model, _, _ = build_flamingo(ModelConfig(lm_path=str(lm_dirs["gpt2"]), **TINY_FLAMINGO))
    cfg = tiny_config(lm_dirs["gpt2"], "x", {}, 1).optim
    decay, no_decay = build_optimizer(model, cfg).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert decayed and all(".xattn." in n and n.endswith("weight") for n in decayed)
    assert not any("norm" in n or "gate" in n for n in decayed)
    assert len(decay["params"]) + len(no_decay["params"]) == sum(
        p.requires_grad for p in model.parameters()
    )


def test_schedule_warms_up_then_holds_or_decays():
    cfg = tiny_config("x", "x", {}, 1).optim
    warm = lr_lambda(cfg, 100)
    assert [warm(i) for i in range(5)] == [0.2, 0.4, 0.6, 0.8, 1.0] and warm(99) == 1.0
    from dataclasses import replace

    cos = lr_lambda(replace(cfg, schedule="cosine", min_lr_ratio=0.1), 105)
    assert cos(5) == pytest.approx(1.0) and cos(105) == pytest.approx(0.1)
    assert cos(55) == pytest.approx(0.55)


def test_loss_ignores_unlabelled_positions_and_handles_none():
    logits = torch.zeros(1, 3, 4, requires_grad=True)
    labels = torch.tensor([[-100, 2, -100]])
    assert lm_loss(logits, labels).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())
    none = lm_loss(logits, torch.full((1, 3), -100))
    assert none.item() == 0 and none.requires_grad


def test_cli_trains_the_tiny_cpu_config(tmp_path, shards):
    out = tmp_path / "run"
    main(
        [
            "--config",
            str(REPO / "trainer/configs/tiny-cpu.yaml"),
            "--data",
            f"m3w={shards['m3w']}",
            "--data",
            f"video={shards['video']}",
            "--output",
            str(out),
            "--set",
            "run.steps=2",
            "--set",
            "data.num_workers=0",
            "--set",
            "run.progress=false",
        ]
    )
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 2 and set(lines[-1]["loss"]) == {"m3w", "video"}
    assert (out / "config.yaml").is_file() and latest_checkpoint(out).name == "step_00000002"


def test_cli_errors_are_reported_with_their_reason(tmp_path):
    with pytest.raises(SystemExit, match="unknown_key"):
        main(["--config", str(REPO / "trainer/configs/tiny-cpu.yaml"), "--set", "run.stepz=1"])
    with pytest.raises(ConfigError):
        config_from_dict({"model": {"lm_path": "x"}, "optim": {"lr": "fast"}})


def test_trained_model_looks_at_the_image(tmp_path, sharp_lm):
    # Captions that only the picture can tell apart: after training, each caption must be
    # much likelier under its own image than under another sample's (a model that ignores
    # images, or whose resampler hides them, scores both alike).
    import pyarrow.parquet as pq

    from trainer.generate import load_for_inference
    from trainer.samples import collate, pair_example

    path = write_pairs(tmp_path / "pairs" / "a.parquet", n=4, seed=5)
    data = {"pairs": {"kind": "pairs", "path": str(tmp_path / "pairs"), "batch_size": 4}}
    train(tiny_config(sharp_lm, tmp_path / "run", data, steps=80, save_every=80))
    model, tokenizer, preprocess, _ = load_for_inference(tmp_path / "run")
    rows = pq.read_table(path).to_pylist()

    def loss(captions_of: list[int]) -> float:
        examples = [
            pair_example(
                {**row, "caption": rows[c]["caption"]}, tokenizer, model.ids, preprocess, 64
            )
            for row, c in zip(rows, captions_of, strict=True)
        ]
        batch = collate(examples, model.ids)
        with torch.no_grad():
            out = model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                pixels=batch.pixels,
                num_media=batch.num_media,
                labels=batch.labels,
            )
        return float(out.loss)

    matched, swapped = loss([0, 1, 2, 3]), loss([1, 0, 3, 2])
    assert matched < swapped / 3, (matched, swapped)
