"""GATED XATTN-DENSE (Flamingo §2.2, Figure 4): text attends to the latents of its last image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.model.resampler import feed_forward, merge_heads, split_heads


def media_attention_mask(media_index: torch.Tensor, num_images: int, latents: int) -> torch.Tensor:
    """[B, S] image index per token (0 = none yet) -> allowed [B, 1, S, T*L] for SDPA.

    Token s may see the L latents of image media_index[b, s] only (paper: "the image that
    appeared just before it"). Rows with no image would be fully masked, which makes softmax
    NaN; they are opened to every key instead and their output is discarded by the caller.
    """
    key_image = torch.arange(1, num_images + 1, device=media_index.device)
    key_image = key_image.repeat_interleave(latents)  # [T*L]
    allowed = media_index[:, :, None] == key_image
    allowed = allowed | (media_index == 0)[:, :, None]
    return allowed[:, None]


class MaskedCrossAttention(nn.Module):
    """Pre-norm multi-head attention from text tokens to image latents."""

    def __init__(self, dim: int, dim_visual: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim_visual, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(
        self, x: torch.Tensor, media: torch.Tensor, media_index: torch.Tensor
    ) -> torch.Tensor:
        """x [B, S, D], media [B, T, L, Dv], media_index [B, S] -> [B, S, D]."""
        b, t, n_latents, dv = media.shape
        q = split_heads(self.to_q(self.norm(x)), self.heads)
        k, v = self.to_kv(media.reshape(b, t * n_latents, dv)).chunk(2, dim=-1)
        mask = media_attention_mask(media_index, t, n_latents)
        out = F.scaled_dot_product_attention(
            q, split_heads(k, self.heads), split_heads(v, self.heads), attn_mask=mask
        )
        return self.to_out(merge_heads(out))


class GatedCrossAttentionBlock(nn.Module):
    """Cross-attention and MLP, each added through tanh(α) with α = 0 at init (paper §2.2)."""

    def __init__(
        self, dim: int, dim_visual: int, heads: int = 8, dim_head: int = 64, ff_mult: int = 4
    ) -> None:
        super().__init__()
        self.attn = MaskedCrossAttention(dim, dim_visual, heads, dim_head)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff = feed_forward(dim, ff_mult)
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(
        self, x: torch.Tensor, media: torch.Tensor, media_index: torch.Tensor
    ) -> torch.Tensor:
        """x [B, S, D] -> [B, S, D]; tokens before the first image come back bit-identical.

        The MLP is also skipped for them (OpenFlamingo applies it everywhere), so text with
        no image in front of it is exactly the frozen LM's computation whatever the gates are.
        """
        has_media = (media_index > 0)[:, :, None]
        attn = self.attn(x, media, media_index) * self.attn_gate.tanh()
        x = x + torch.where(has_media, attn.to(x.dtype), 0.0)
        ff = self.ff(x) * self.ff_gate.tanh()
        return x + torch.where(has_media, ff.to(x.dtype), 0.0)
