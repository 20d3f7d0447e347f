"""FLOP estimate: close to torch's own count of the matmuls in one train step."""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.flop_counter import FlopCounterMode

from tests.fixtures.trainer_data import TINY_FLAMINGO
from trainer.config import ModelConfig
from trainer.flops import batch_flops, model_shapes, peak_flops
from trainer.loss import lm_loss
from trainer.model import build_flamingo


def test_matmul_flops_match_torch_flop_counter(lm_dirs):
    torch.manual_seed(0)
    model, _, _ = build_flamingo(ModelConfig(lm_path=str(lm_dirs["llama"]), **TINY_FLAMINGO))
    batch, seq = 2, 40
    ids = torch.randint(0, 300, (batch, seq))
    ids[:, 3] = model.ids.image
    ids[0, 20] = model.ids.image
    with FlopCounterMode(display=False) as counter:
        logits = model(ids, None, torch.randn(3, 1, 3, 32, 32), torch.tensor([2, 1])).logits
        lm_loss(logits, ids).backward()
    counts = counter.get_flop_counts()
    # The counter sees no SDPA kernels on CPU and no fused MultiheadAttention projections of
    # the ViT, so compare matmuls outside the vision tower and without attention squares.
    measured = counter.get_total_flops() - sum(counts["Flamingo.vision"].values())
    shapes = model_shapes(model)
    no_attention = dataclasses.replace(
        shapes, lm_layers=0, resampler_depth=0, xattn_blocks=0, vision_matmul=0, vision_patch=0,
        vision_layers=0,
    )  # fmt: skip
    estimate = batch_flops(no_attention, batch, seq, 3, 1, 2).total
    assert abs(estimate - measured) / measured < 0.1
    full = batch_flops(shapes, batch, seq, 3, 1, 2)
    assert full.total > estimate and full.frozen_backward < full.frozen_forward
    assert peak_flops(torch.device("cpu")) is None and peak_flops(torch.device("cpu"), 1e12) == 1e12
