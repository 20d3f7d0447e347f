"""Flamingo model: vision encoder, Perceiver Resampler, gated cross-attention, LM wrapper."""

from trainer.model.flamingo import (
    Flamingo,
    FlamingoDecoderLayer,
    FlamingoOutput,
    MediaContext,
    build_flamingo,
    trainable_parameters,
)
from trainer.model.resampler import PerceiverResampler
from trainer.model.vision import VisionEncoder, build_vision_encoder
from trainer.model.xattn import GatedCrossAttentionBlock, MaskedCrossAttention

__all__ = [
    "Flamingo",
    "FlamingoDecoderLayer",
    "FlamingoOutput",
    "GatedCrossAttentionBlock",
    "MaskedCrossAttention",
    "MediaContext",
    "PerceiverResampler",
    "VisionEncoder",
    "build_flamingo",
    "build_vision_encoder",
    "trainable_parameters",
]
