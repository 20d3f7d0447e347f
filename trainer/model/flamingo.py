"""Flamingo: frozen vision encoder -> Perceiver Resampler -> gated xattn in a frozen LM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainer.config import ModelConfig
from trainer.errors import ModelError
from trainer.loss import (
    linear_cross_entropy,
    loss_positions,
    mean_cross_entropy,
    next_token_targets,
)
from trainer.model.lm import (
    cache_argument,
    find_decoder_layers,
    hidden_size,
    load_language_model,
    logits_are_plain_head,
    output_cache,
)
from trainer.model.resampler import PerceiverResampler
from trainer.model.vision import VisionEncoder, build_vision_encoder
from trainer.model.vocab import ExtendedLMHead, extend_vocabulary
from trainer.model.xattn import GatedCrossAttentionBlock
from trainer.tokenizer import SpecialIds, base_vocab_size, load_tokenizer, special_ids


class MediaContext:
    """Media of the current forward pass, read by every FlamingoDecoderLayer.

    HF decoders call their layers with their own arguments; this side channel carries the
    image latents and per-token image index to the layers without touching the LM's code.
    """

    def __init__(self) -> None:
        self.media: torch.Tensor | None = None  # [B, T, L, Dv]
        self.media_index: torch.Tensor | None = None  # [B, S], 0 = no image yet

    def clear(self) -> None:
        self.media = None
        self.media_index = None


class FlamingoDecoderLayer(nn.Module):
    """A frozen decoder block with an optional GATED XATTN-DENSE block run before it."""

    def __init__(
        self, decoder_layer: nn.Module, xattn: GatedCrossAttentionBlock | None, ctx: MediaContext
    ) -> None:
        super().__init__()
        self.decoder_layer = decoder_layer
        self.xattn = xattn
        self._ctx = ctx

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        ctx = self._ctx
        if self.xattn is not None and ctx.media is not None:
            # Explicit arguments (not the context) so activation checkpointing replays them.
            hidden_states = self.xattn(hidden_states, ctx.media, ctx.media_index)
        return self.decoder_layer(hidden_states, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Forward attribute reads (e.g. `attention_type`) to the wrapped HF block."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            # Via __dict__ so a half-built object (copy, unpickle) cannot recurse here.
            inner = self.__dict__.get("_modules", {}).get("decoder_layer")
            if inner is None:
                raise
            return getattr(inner, name)


@dataclass
class FlamingoOutput:
    logits: torch.Tensor | None  # [B, S, V + new tokens]; None when the loss was asked for
    cache: Any = None  # the LM's KV cache when use_cache=True
    loss: torch.Tensor | None = None  # mean next-token loss when labels were given


class Flamingo(nn.Module):
    """The full model; only the resampler, the xattn blocks and the marker rows are trained."""

    def __init__(
        self, vision: VisionEncoder, lm: nn.Module, ids: SpecialIds, cfg: ModelConfig
    ) -> None:
        super().__init__()
        self.ids = ids
        self.vision = vision
        lm.requires_grad_(False)
        lm.eval()
        self.lm = lm
        self.resampler = PerceiverResampler(
            vision.dim,
            depth=cfg.resampler_depth,
            heads=cfg.resampler_heads,
            dim_head=cfg.resampler_dim_head,
            num_latents=cfg.num_latents,
            max_frames=cfg.max_frames,
            ff_mult=cfg.ff_mult,
        )
        self.context = MediaContext()
        self._cache_arg = cache_argument(lm)
        layers = find_decoder_layers(lm)
        every = cfg.cross_attn_every
        if every > len(layers):
            raise ModelError(
                "cross_attn_every_too_large", f"every {every} > {len(layers)} decoder layers"
            )
        # OpenFlamingo's placement: before layers every-1, 2*every-1, ... (all when every=1).
        self.xattn_layer_ids = [i for i in range(len(layers)) if (i + 1) % every == 0]
        dim = hidden_size(lm)
        for i in range(len(layers)):
            block = None
            if i in self.xattn_layer_ids:
                block = GatedCrossAttentionBlock(
                    dim, vision.dim, cfg.xattn_heads, cfg.xattn_dim_head, cfg.ff_mult
                )
            layers[i] = FlamingoDecoderLayer(layers[i], block, self.context)
        self.decoder_layers = layers
        extend_vocabulary(lm, sorted({ids.end_of_chunk, ids.image}))
        # The fused head loss needs logits = head(last hidden state) exactly; other LMs (logit
        # scaling, soft-capping, unknown ones) take the plain logits path. Tests toggle this.
        self.fused_loss = logits_are_plain_head(lm) and isinstance(
            lm.get_output_embeddings(), ExtendedLMHead
        )

    def train(self, mode: bool = True) -> Flamingo:
        """Frozen parts stay in eval mode: no dropout in the LM, same activations every step."""
        super().train(mode)
        self.lm.eval()
        self.vision.eval()
        return self

    def xattn_blocks(self) -> list[GatedCrossAttentionBlock]:
        """The inserted blocks, in layer order."""
        return [layer.xattn for layer in self.decoder_layers if layer.xattn is not None]

    def encode_media(self, pixels: torch.Tensor | None, num_media: torch.Tensor) -> torch.Tensor:
        """pixels [N, F, 3, H, W] of the real images only, num_media [B] -> [B, T, L, Dv].

        Padding slots are zeros that no token points at, so they are never encoded.
        """
        b = int(num_media.shape[0])
        device = self.resampler.latents.device
        if pixels is None or pixels.shape[0] == 0:
            # An empty resampler call keeps its parameters in the autograd graph (DDP needs that).
            feats = torch.zeros(0, 1, 1, self.vision.dim, device=device)
        else:
            n, f = pixels.shape[:2]
            feats = self.vision(pixels.flatten(0, 1).to(device))
            feats = feats.reshape(n, f, *feats.shape[1:]).float()
        latents = self.resampler(feats)  # [N, L, Dv]
        slots = max(1, int(num_media.max())) if b else 1
        counts = num_media.cpu().tolist()
        flat = [i * slots + t for i, c in enumerate(counts) for t in range(c)]
        if len(flat) != latents.shape[0]:
            raise ModelError(
                "media_count_mismatch", f"{latents.shape[0]} images for counts {counts}"
            )
        media = latents.new_zeros(b * slots, *latents.shape[1:])
        media = media.index_copy(0, torch.tensor(flat, dtype=torch.long, device=device), latents)
        return media.view(b, slots, *latents.shape[1:])

    def media_index(self, input_ids: torch.Tensor, offset: torch.Tensor | None) -> torch.Tensor:
        """[B, S]: the 1-based index of the last `<image>` at or before each token (0 = none)."""
        index = (input_ids == self.ids.image).cumsum(dim=1)
        return index if offset is None else index + offset.to(index.device)[:, None]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixels: torch.Tensor | None = None,
        num_media: torch.Tensor | None = None,
        media: torch.Tensor | None = None,
        media_offset: torch.Tensor | None = None,
        cache: Any = None,
        use_cache: bool = False,
        logits_to_keep: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> FlamingoOutput:
        """Logits for input_ids given images (pixels + counts) or precomputed `media` latents.

        `logits_to_keep` (1-D positions) computes logits only there: in training most of the
        cost of a small model is the frozen LM head over the vocabulary. With `labels` [B, S]
        (-100: no loss) it returns the mean next-token loss and no logits; computed here, not
        by the caller, so DDP and FSDP see the head's trainable rows inside their forward.
        """
        if media is None:
            if num_media is None:
                num_media = torch.zeros(input_ids.shape[0], dtype=torch.long)
            media = self.encode_media(pixels, num_media)
        self.context.media = media
        self.context.media_index = self.media_index(input_ids, media_offset)
        try:
            if labels is not None:
                return FlamingoOutput(
                    None, loss=self.next_token_loss(input_ids, attention_mask, labels)
                )
            keep = {} if logits_to_keep is None else {"logits_to_keep": logits_to_keep}
            out = self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                use_cache=use_cache,
                **{self._cache_arg: cache},
                **keep,
            )
        finally:
            self.context.clear()
        return FlamingoOutput(out.logits, output_cache(out) if use_cache else None)

    def next_token_loss(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, labels: torch.Tensor
    ) -> torch.Tensor:
        """Mean next-token cross-entropy (media already in the context); see `forward`."""
        targets = next_token_targets(labels)
        if not self.fused_loss:
            keep = loss_positions(labels)
            out = self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                use_cache=False,
                logits_to_keep=keep,
            )
            return mean_cross_entropy(out.logits, targets[:, keep])
        body = self.lm.base_model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        )
        head = self.lm.get_output_embeddings()
        # The head's frozen rows get no gradient; its marker rows (own or tied) do.
        return linear_cross_entropy(
            body.last_hidden_state,
            targets,
            head.base.weight,
            head.base.bias,
            head.new_weight,
            None if head.append else head.new_ids,
        )


def build_flamingo(cfg: ModelConfig) -> tuple[Flamingo, Any, Callable]:
    """Tokenizer, vision encoder, LM and Flamingo modules from a ModelConfig."""
    source = cfg.tokenizer or cfg.lm_path
    if source is None:
        raise ModelError("no_tokenizer", "model.lm_config needs model.tokenizer (a dir or 'byte')")
    tokenizer = load_tokenizer(source)
    ids = special_ids(tokenizer)
    needed = base_vocab_size(tokenizer, ids)
    lm_config = cfg.lm_config
    if lm_config is not None:
        # A config-built LM speaks the tokenizer's vocabulary and special ids unless told otherwise.
        defaults = {
            "vocab_size": needed,
            "eos_token_id": ids.eos,
            "bos_token_id": ids.bos or ids.eos,
        }
        lm_config = {**defaults, **lm_config}
    lm = load_language_model(cfg.lm_path, lm_config, cfg.attn_implementation)
    vision, preprocess = build_vision_encoder(
        cfg.vision_model, cfg.vision_checkpoint, cfg.vision_cfg
    )
    rows = lm.get_input_embeddings().weight.shape[0]
    if needed > rows:
        # Larger ids would be clamped onto the last row: silently wrong text, not a crash.
        raise ModelError(
            "tokenizer_lm_mismatch",
            f"tokenizer {source} needs {needed} embedding rows, the LM has {rows}",
        )
    return Flamingo(vision, lm, ids, cfg), tokenizer, preprocess


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Name -> parameter for everything that trains, in a fixed order."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}
