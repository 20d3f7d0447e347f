"""The frozen Hugging Face causal LM: loading, finding its decoder layers, KV-cache plumbing."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.errors import ModelError


def load_language_model(
    path: str | None, config: dict | None, attn_implementation: str = "sdpa"
) -> nn.Module:
    """A causal LM from a local directory, or with random weights from a config dict."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    transformers.utils.logging.disable_progress_bar()
    if path is not None:
        if not Path(path).is_dir():
            raise ModelError("lm_not_found", f"{path}: not a directory")
        try:
            return AutoModelForCausalLM.from_pretrained(
                path,
                local_files_only=True,
                dtype=torch.float32,  # master dtype; parallel.py casts frozen weights for GPUs
                attn_implementation=attn_implementation,
            )
        except (OSError, ValueError) as e:
            raise ModelError("lm_unloadable", f"{path}: {e}") from e
    if not config or "model_type" not in config:
        raise ModelError("lm_config_without_type", f"model.lm_config needs model_type: {config}")
    cfg = dict(config)
    hf_config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    hf_config._attn_implementation = attn_implementation
    return AutoModelForCausalLM.from_config(hf_config, dtype=torch.float32)


# Causal LMs whose logits are exactly `lm_head(base_model(...).last_hidden_state)`, read in
# their transformers 5.x modeling code; e.g. Granite (logits_scaling), Cohere (logit_scale)
# and Gemma 2/3 (final soft-capping) post-process logits and are not listed.
PLAIN_HEAD_MODEL_TYPES = frozenset(
    {
        "gpt2",
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "opt",
        "gpt_neox",
        "phi",
        "phi3",
        "gptj",
        "stablelm",
        "olmo",
        "olmo2",
        "mpt",
        "falcon",
        "gemma",
        "smollm3",
    }
)


def logits_are_plain_head(lm: nn.Module) -> bool:
    """True when the LM's logits are its output layer applied to its body's last hidden state."""
    base = getattr(lm, "base_model", lm)
    model_type = getattr(lm.config, "model_type", None)
    return base is not lm and model_type in PLAIN_HEAD_MODEL_TYPES


def text_config(lm: nn.Module) -> Any:
    """The text sub-config (multimodal configs nest it)."""
    cfg = lm.config
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


def hidden_size(lm: nn.Module) -> int:
    """Width of the LM's residual stream."""
    return int(lm.get_input_embeddings().weight.shape[1])


def find_decoder_layers(lm: nn.Module) -> nn.ModuleList:
    """The ModuleList of decoder blocks (GPT-2 `transformer.h`, Llama `model.layers`, OPT ...).

    Found generically as the outermost ModuleList holding num_hidden_layers modules of one
    class, so a new architecture needs no code here.
    """
    n = int(text_config(lm).num_hidden_layers)
    for _, module in lm.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n and n > 0:
            kinds = {type(m) for m in module}
            if len(kinds) == 1:
                return module
    raise ModelError(
        "decoder_layers_not_found", f"{type(lm).__name__}: no ModuleList of {n} decoder blocks"
    )


def cache_argument(lm: nn.Module) -> str:
    """Name of the KV-cache argument: `cache` (transformers ≥ 5.2x) or `past_key_values`."""
    params = inspect.signature(lm.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(output: Any) -> Any:
    """The KV cache of a model output, under either name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def max_positions(lm: nn.Module) -> int | None:
    """Longest sequence the LM's position embeddings allow, when it has a hard limit."""
    cfg = text_config(lm)
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(cfg, key, None)
        if isinstance(value, int):
            return value
    return None
