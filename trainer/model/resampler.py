"""Perceiver Resampler (Flamingo paper §2.1): patch tokens -> a fixed set of latents."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    """Pre-norm MLP; the layout (norm, in, act, out) matches OpenFlamingo's for --init-from."""
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, dim * mult, bias=False),
        nn.GELU(),
        nn.Linear(dim * mult, dim, bias=False),
    )


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[N, T, h*d] -> [N, h, T, d]."""
    n, t, width = x.shape
    return x.view(n, t, heads, width // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[N, h, T, d] -> [N, T, h*d]."""
    n, h, t, d = x.shape
    return x.transpose(1, 2).reshape(n, t, h * d)


class PerceiverAttention(nn.Module):
    """Latents attend to [media; latents] (the paper concatenates both as keys/values)."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """media [N, M, D], latents [N, L, D] -> update for latents [N, L, D]."""
        media = self.norm_media(media)
        latents = self.norm_latents(latents)
        q = split_heads(self.to_q(latents), self.heads)
        k, v = self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1)
        out = F.scaled_dot_product_attention(
            q, split_heads(k, self.heads), split_heads(v, self.heads)
        )
        return self.to_out(merge_heads(out))


class PerceiverLayer(nn.Module):
    """One resampler layer: cross-attention then MLP, both residual."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: int) -> None:
        super().__init__()
        self.attn = PerceiverAttention(dim, heads, dim_head)
        self.ff = feed_forward(dim, ff_mult)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        latents = latents + self.attn(media, latents)
        return latents + self.ff(latents)


class PerceiverResampler(nn.Module):
    """Frames of patch tokens [N, F, P, D] -> latents [N, L, D] (one set per image or video)."""

    def __init__(
        self,
        dim: int,
        depth: int = 6,
        heads: int = 8,
        dim_head: int = 64,
        num_latents: int = 64,
        max_frames: int = 8,
        ff_mult: int = 4,
    ) -> None:
        super().__init__()
        # Small init keeps the first updates of the frozen LM's inputs small.
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.time_embeddings = nn.Parameter(torch.randn(max_frames, dim) * 0.02)
        self.layers = nn.ModuleList(
            PerceiverLayer(dim, heads, dim_head, ff_mult) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def frame_embeddings(self, frames: int) -> torch.Tensor:
        """[frames, D]; linearly interpolated when a video has more frames than were learned."""
        learned = self.time_embeddings
        if frames <= learned.shape[0]:
            return learned[:frames]
        grid = learned.t().unsqueeze(0)  # [1, D, max_frames]
        out = F.interpolate(grid, size=frames, mode="linear", align_corners=True)
        return out.squeeze(0).t()

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        """media [N, F, P, D] -> [N, L, D]; N may be 0 (keeps every parameter in the graph)."""
        n, frames, patches, dim = media.shape
        media = media + self.frame_embeddings(frames).to(media.dtype)[None, :, None, :]
        media = media.reshape(n, frames * patches, dim)
        latents = self.latents.to(media.dtype).expand(n, -1, -1)
        for layer in self.layers:
            latents = layer(media, latents)
        return self.norm(latents)
