"""Frozen open_clip vision encoder that returns patch tokens, and its image preprocessing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from trainer.errors import ModelError

# The text tower is thrown away; building it this small keeps start-up cheap.
_TINY_TEXT_CFG = {"context_length": 2, "vocab_size": 2, "width": 8, "heads": 1, "layers": 1}


class VisionEncoder(nn.Module):
    """open_clip ViT trunk, frozen: pixels [N, 3, H, W] -> patch tokens [N, P, D]."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        if not hasattr(visual, "output_tokens") or not hasattr(visual, "transformer"):
            raise ModelError(
                "vision_without_tokens",
                f"{type(visual).__name__}: need an open_clip VisionTransformer (patch tokens)",
            )
        visual.output_tokens = True
        self.visual = visual
        self.dim = int(visual.transformer.width)
        grid = visual.grid_size
        self.num_patches = int(grid[0] * grid[1])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VisionEncoder:
        """Stay in eval mode: the encoder is frozen (paper §2.1), no dropout or BN updates."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Patch tokens (CLS dropped, after ln_post), in the encoder's weight dtype."""
        dtype = next(self.visual.parameters()).dtype
        _, tokens = self.visual(pixels.to(dtype))
        return tokens  # [N, P, D]


def build_vision_encoder(
    name: str, checkpoint: str | None = None, vision_cfg: dict | None = None
) -> tuple[VisionEncoder, Callable]:
    """Create an open_clip model by name (random weights), load `visual.*` from a local file."""
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    if name not in open_clip.list_models():
        raise ModelError("unknown_vision_model", f"{name!r} is not an open_clip model config")
    kwargs = {"text_cfg": _TINY_TEXT_CFG}
    if vision_cfg:
        base = open_clip.get_model_config(name)["vision_cfg"]
        kwargs["vision_cfg"] = {**base, **vision_cfg}
    # open_clip warns about random weights on every call; we load our own below.
    root = logging.getLogger()
    was_disabled, root.disabled = root.disabled, True
    try:
        clip = open_clip.create_model(name, pretrained=None, **kwargs)
    finally:
        root.disabled = was_disabled
    visual = clip.visual
    if checkpoint:
        load_visual_weights(visual, checkpoint)
    preprocess = image_transform_v2(PreprocessCfg(**visual.preprocess_cfg), is_train=False)
    return VisionEncoder(visual), preprocess


def load_visual_weights(visual: nn.Module, path: str) -> None:
    """Load the `visual.` entries of an open_clip checkpoint (.safetensors, .bin, .pt)."""
    if not Path(path).is_file():
        raise ModelError("vision_checkpoint_missing", f"{path}: not a file")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    prefix = "visual."
    own = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith(prefix):
            own[key[len(prefix) :]] = value
    if not own:
        raise ModelError("vision_checkpoint_empty", f"{path}: no 'visual.' weights")
    try:
        visual.load_state_dict(own, strict=True)
    except RuntimeError as e:
        raise ModelError("vision_checkpoint_mismatch", f"{path}: {e}") from e
