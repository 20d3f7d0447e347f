"""--init-from: start from an OpenFlamingo checkpoint whose module shapes match ours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from trainer.checkpoint import load_named
from trainer.errors import CheckpointError
from trainer.parallel import clean_name

# OpenFlamingo names -> ours, for the resampler (its layers are ModuleList([attn, ff])).
_RESAMPLER_RULES = [
    (re.compile(r"^perceiver\.latents$"), "resampler.latents"),
    (re.compile(r"^perceiver\.frame_embs$"), "resampler.time_embeddings"),
    (re.compile(r"^perceiver\.layers\.(\d+)\.0\.(.+)$"), r"resampler.layers.\1.attn.\2"),
    (re.compile(r"^perceiver\.layers\.(\d+)\.1\.(.+)$"), r"resampler.layers.\1.ff.\2"),
    (re.compile(r"^perceiver\.norm\.(.+)$"), r"resampler.norm.\1"),
]
_XATTN = re.compile(r"^lang_encoder\.gated_cross_attn_layers\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class InitReport:
    loaded: tuple[str, ...]  # our parameter names taken from the checkpoint
    kept: tuple[str, ...]  # our trainable parameters the checkpoint had nothing for
    ignored: tuple[str, ...]  # checkpoint entries with no place in our model


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """An OpenFlamingo checkpoint.pt (plain or {"model_state_dict": ...}, DDP prefixes ok)."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as e:
        raise CheckpointError("unreadable_init_checkpoint", f"{path}: {e}") from e
    state = raw.get("model_state_dict", raw) if isinstance(raw, dict) else raw
    if not isinstance(state, dict):
        raise CheckpointError("unreadable_init_checkpoint", f"{path}: not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items() if torch.is_tensor(v)}


def _module_path(root: nn.Module, target: nn.Module) -> str:
    for name, module in root.named_modules():
        if module is target:
            return name
    raise CheckpointError("module_not_found", type(target).__name__)


def map_state(state: dict[str, torch.Tensor], model: nn.Module) -> tuple[dict, list[str]]:
    """OpenFlamingo keys -> our trainable names; returns (mapped, ignored keys)."""
    layers = _module_path(model, model.decoder_layers)
    emb_path = _module_path(model.lm, model.lm.get_input_embeddings())
    emb_key = f"lang_encoder.{emb_path}.weight"
    mapped: dict[str, torch.Tensor] = {}
    ignored = []
    for key, value in state.items():
        name = _map_key(key, layers)
        if name is not None:
            mapped[name] = value
        elif key == emb_key:
            rows = model.lm.get_input_embeddings().new_ids.tolist()
            if max(rows) >= value.shape[0]:
                raise CheckpointError(
                    "embedding_too_small", f"{key}: {value.shape[0]} rows, need id {max(rows)}"
                )
            mapped[f"lm.{emb_path}.new_weight"] = value[rows]
        elif not key.startswith("vision_encoder."):
            ignored.append(key)
    return mapped, ignored


def _map_key(key: str, layers: str) -> str | None:
    for pattern, target in _RESAMPLER_RULES:
        if pattern.match(key):
            return pattern.sub(target, key)
    m = _XATTN.match(key)
    if m:
        return f"{layers}.{m.group(1)}.xattn.{m.group(2)}"
    return None


def init_from_openflamingo(model: nn.Module, path: str | Path) -> InitReport:
    """Copy matching tensors into an unwrapped Flamingo; other trainable weights keep init."""
    mapped, ignored = map_state(read_state(path), model)
    ours = {clean_name(n): p for n, p in model.named_parameters() if p.requires_grad}
    unknown = sorted(set(mapped) - set(ours))
    if unknown:
        raise CheckpointError(
            "layout_mismatch", f"{path}: {unknown[0]} has no counterpart (cross_attn_every?)"
        )
    full = {n: p.detach() for n, p in ours.items()}
    full.update(mapped)
    load_named(model, full, str(path))
    kept = tuple(sorted(set(ours) - set(mapped)))
    return InitReport(tuple(sorted(mapped)), kept, tuple(sorted(ignored)))
