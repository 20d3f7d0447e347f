"""Model FLOPs per step, counted by role: frozen forward, frozen backward, trainable."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# Dense bf16 peak per device (vendor datasheets, no sparsity).
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


@dataclass(frozen=True)
class Shapes:
    """The sizes FLOPs depend on, read once from a built model."""

    lm_matmul: int  # weights of the LM's decoder blocks and output head
    lm_layers: int
    lm_dim: int
    xattn_params: int  # all inserted blocks together
    xattn_inner: int  # heads × dim_head of one block
    xattn_blocks: int
    vision_matmul: int
    vision_patch: int  # patch-embedding conv weights (a matmul per patch)
    vision_layers: int
    vision_dim: int
    patches: int
    resampler_kv: int  # to_kv weights (applied to media tokens)
    resampler_other: int  # everything else (applied to latents only)
    resampler_inner: int
    resampler_depth: int
    latents: int


def _matmul_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.ndim >= 2)


def model_shapes(model: nn.Module) -> Shapes:
    """Read the sizes from a (not yet wrapped) Flamingo."""
    lm, res = model.lm, model.resampler
    blocks = model.xattn_blocks()
    kv = sum(layer.attn.to_kv.weight.numel() for layer in res.layers)
    first = res.layers[0].attn if len(res.layers) else None
    return Shapes(
        lm_matmul=sum(_matmul_params(layer.decoder_layer) for layer in model.decoder_layers)
        + int(lm.get_output_embeddings().weight.numel()),
        lm_layers=len(model.decoder_layers),
        lm_dim=int(lm.get_input_embeddings().weight.shape[1]),
        xattn_params=sum(_matmul_params(b) for b in blocks),
        xattn_inner=int(blocks[0].attn.to_q.weight.shape[0]) if blocks else 0,
        xattn_blocks=len(blocks),
        vision_matmul=_matmul_params(model.vision.visual.transformer),
        vision_patch=int(model.vision.visual.conv1.weight.numel()),
        vision_layers=len(model.vision.visual.transformer.resblocks),
        vision_dim=model.vision.dim,
        patches=model.vision.num_patches + 1,
        resampler_kv=kv,
        # latents and time embeddings are 2-D parameters but no matmul weights
        resampler_other=_matmul_params(res)
        - kv
        - res.latents.numel()
        - res.time_embeddings.numel(),
        resampler_inner=int(first.to_q.weight.shape[0]) if first else 0,
        resampler_depth=len(res.layers),
        latents=int(res.latents.shape[0]),
    )


@dataclass(frozen=True)
class StepFlops:
    frozen_forward: float
    frozen_backward: float  # activation gradients only (no weight gradients)
    trainable: float  # forward + both backward halves

    @property
    def total(self) -> float:
        return self.frozen_forward + self.frozen_backward + self.trainable


def batch_flops(s: Shapes, batch: int, seq: int, images: int, frames: int, slots: int) -> StepFlops:
    """FLOPs of one forward+backward on a batch (2 per multiply-add, full attention squares).

    The LM backward runs through every block because the marker embeddings at the input
    train; the vision encoder only runs forward.
    """
    tokens = batch * seq
    lm_fwd = 2 * s.lm_matmul * tokens + 4 * s.lm_layers * batch * seq * seq * s.lm_dim
    frames_total = images * frames
    vis_fwd = frames_total * (
        2 * s.vision_matmul * s.patches
        + 2 * s.vision_patch * (s.patches - 1)
        + 4 * s.vision_layers * s.patches**2 * s.vision_dim
    )
    media_tokens = frames * (s.patches - 1) + s.latents
    res_fwd = images * (
        2 * s.resampler_kv * media_tokens
        + 2 * s.resampler_other * s.latents
        + 4 * s.resampler_depth * s.latents * media_tokens * s.resampler_inner
    )
    xattn_fwd = 2 * s.xattn_params * tokens + 4 * s.xattn_blocks * tokens * slots * s.latents * (
        s.xattn_inner
    )
    return StepFlops(
        frozen_forward=float(lm_fwd + vis_fwd),
        frozen_backward=float(lm_fwd),
        trainable=float(3 * (res_fwd + xattn_fwd)),
    )


def peak_flops(device: torch.device, override: float | None = None) -> float | None:
    """Peak bf16 FLOP/s of one device: the config value, a known GPU, or None (CPU)."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_FLOPS.items():
        if key in name:
            return value
    return None
