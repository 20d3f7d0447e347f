"""Two processes on CPU (gloo) via torchrun: DDP keeps replicas equal on disjoint data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.fixtures.trainer_data import TINY_FLAMINGO
from trainer.parallel import clean_name

REPO = Path(__file__).resolve().parents[2]


def torchrun(tmp_path: Path, cfg: dict, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(REPO / "tests/trainer/ddp_driver.py"),
        str(tmp_path / "cfg.yaml"),
        str(tmp_path),
        *extra,
    ]
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


def run_config(lm_dir, shards, output, parallel: str) -> dict:
    return {
        "model": {**TINY_FLAMINGO, "lm_path": str(lm_dir)},
        "data": {
            "num_workers": 1,
            "datasets": {
                "m3w": {"path": str(shards["m3w"]), "batch_size": 2, "max_tokens": 64},
                "pairs": {"path": str(shards["pairs"]), "batch_size": 1},
            },
        },
        "optim": {"lr": 1e-2, "warmup_steps": 0},
        "run": {
            "output": str(output),
            "steps": 3,
            "log_every": 1,
            "save_every": 3,
            "progress": False,
            "parallel": parallel,
        },
    }


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, lm_dirs, shards) -> Path:
    tmp = tmp_path_factory.mktemp("ddp")
    proc = torchrun(tmp, run_config(lm_dirs["gpt2"], shards, tmp / "run", "ddp"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


def test_two_process_ddp_keeps_replicas_identical_on_disjoint_data(ddp_run):
    tmp_path, out = ddp_run, ddp_run / "run"
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    weights = [load_file(tmp_path / f"weights_rank{r}.safetensors") for r in (0, 1)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # Each rank trained on its own samples (all within one epoch): no sample seen by both.
    first, second = ({tuple(x) for x in r["seen"]} for r in ranks)
    assert len(first) >= 6 and not first & second
    assert ranks[0]["history"] != ranks[1]["history"]
    # Rank 0 alone writes the log and the shared files; every rank saves its data position.
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    ckpt = out / "checkpoints" / "step_00000003"
    assert json.loads((ckpt / "meta.json").read_text())["world"] == 2
    assert (ckpt / "data_rank0.json").is_file() and (ckpt / "data_rank1.json").is_file()
    saved = load_file(ckpt / "trainable.safetensors")
    assert {clean_name(k) for k in saved} == set(weights[0])
    assert all(torch.equal(saved[k], weights[0][k]) for k in saved)


def test_fsdp_resumed_from_sharded_checkpoint_matches_ddp(tmp_path, lm_dirs, shards, ddp_run):
    out = tmp_path / "run"
    cfg = run_config(lm_dirs["gpt2"], shards, out, "fsdp")
    cfg["run"]["save_every"] = 2
    proc = torchrun(tmp_path, cfg, "2")  # stops after step 2, rebuilds from disk, runs step 3
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "checkpoints" / "step_00000002" / "optimizer").is_dir()  # DCP shards
    for rank in (0, 1):
        resumed = json.loads((tmp_path / f"rank{rank}.json").read_text())["history"]
        reference = json.loads((ddp_run / f"rank{rank}.json").read_text())["history"]
        assert [h["step"] for h in resumed] == [3]
        for name, loss in resumed[0]["loss"].items():
            assert loss == pytest.approx(reference[2]["loss"][name], rel=1e-5)


def loss_and_grads(model, tok):
    from trainer.loss import lm_loss

    enc = tok(
        ["text <image>a photo of a red square.<|endofchunk|><image>a blue"], return_tensors="pt"
    )
    torch.manual_seed(3)
    pixels = torch.randn(2, 1, 3, 32, 32)
    with torch.no_grad():
        for block in model.xattn_blocks():
            block.attn_gate.fill_(0.5)
            block.ff_gate.fill_(0.5)
    model.zero_grad()
    loss = lm_loss(
        model(enc.input_ids, enc.attention_mask, pixels, torch.tensor([2])).logits, enc.input_ids
    )
    loss.backward()
    return loss.detach(), {
        n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad
    }


@pytest.mark.parametrize("transform", ["checkpointing", "compile"])
def test_checkpointing_and_compile_keep_loss_and_gradients(lm_dirs, transform):
    from trainer.config import ModelConfig
    from trainer.model import build_flamingo
    from trainer.parallel import apply_activation_checkpointing, apply_compile

    cfg = ModelConfig(lm_path=str(lm_dirs["llama"]), **TINY_FLAMINGO)
    torch.manual_seed(0)
    plain, tok, _ = build_flamingo(cfg)
    torch.manual_seed(0)
    changed, _, _ = build_flamingo(cfg)
    if transform == "checkpointing":
        apply_activation_checkpointing(changed)
    else:
        apply_compile(changed, backend="eager")  # graph capture without a C++ toolchain
    want_loss, want = loss_and_grads(plain, tok)
    got_loss, got = loss_and_grads(changed, tok)
    assert {clean_name(n) for n in got} == set(want)
    assert torch.allclose(got_loss, want_loss, atol=1e-6)
    for name, grad in got.items():
        assert torch.allclose(grad, want[clean_name(name)], atol=1e-6), name
