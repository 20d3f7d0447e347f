"""DataComp-style CLIP-score filtering: cosine of open_clip image and caption embeddings.

A pair is kept when its score is at least a threshold (LAION-5B kept OpenAI ViT-B/32
cosine ≥ 0.28), or when it is in the top fraction of all scores (DataComp's "CLIP score"
baselines keep the top 30 % by ViT-L/14). Weights always come from a local file: a model
name alone would mean random weights, and a pretrained tag would mean a download.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

LOCAL_DIR = "local-dir:"


@dataclass(frozen=True)
class ClipFilterConfig:
    """Which model scores pairs and which pairs are kept."""

    # An open_clip config name ("ViT-B-32"), a .json config file (registered under its
    # stem, for custom architectures), or "local-dir:DIR" (open_clip_config.json + weights).
    model: str
    checkpoint: str | None = None  # local weights file; required unless model is local-dir:
    threshold: float | None = None  # keep score >= threshold (LAION-5B: 0.28 for ViT-B/32)
    top_fraction: float | None = None  # keep the top fraction (DataComp: 0.3)
    batch_size: int = 64  # ours: pairs scored per forward pass
    device: str = "cpu"
    precision: str = "fp32"  # open_clip precision name ("fp16", "bf16" on GPUs)
    num_quantiles: int = 1001  # ours: the top-fraction cut at 0.1 % resolution


class ClipError(Exception):
    """A CLIP model or score problem; `reason` is a counter name, `detail` the offending value."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_config(cfg: ClipFilterConfig) -> None:
    """Raise ClipError unless exactly one keep rule is set and the weights are local files."""
    if (cfg.threshold is None) == (cfg.top_fraction is None):
        raise ClipError("bad_clip_config", "set exactly one of threshold and top_fraction")
    if cfg.threshold is not None and not -1.0 <= cfg.threshold <= 1.0:
        raise ClipError("bad_clip_config", f"threshold {cfg.threshold} outside [-1, 1]")
    if cfg.top_fraction is not None and not 0.0 < cfg.top_fraction <= 1.0:
        raise ClipError("bad_clip_config", f"top_fraction {cfg.top_fraction} outside (0, 1]")
    if cfg.model.startswith("hf-hub:"):
        raise ClipError("clip_model_remote", f"{cfg.model}: download it and use local-dir:")
    if cfg.model.startswith(LOCAL_DIR):
        folder = cfg.model[len(LOCAL_DIR) :]
        if not os.path.isfile(os.path.join(folder, "open_clip_config.json")):
            raise ClipError("clip_model_unknown", f"{folder}: no open_clip_config.json")
        return
    if cfg.model.endswith(".json") and not os.path.isfile(cfg.model):
        raise ClipError("clip_model_unknown", f"{cfg.model}: no such config file")
    if not cfg.checkpoint or not os.path.isfile(cfg.checkpoint):
        raise ClipError("clip_checkpoint_missing", f"{cfg.checkpoint!r}: not a local file")


def model_name(model: str) -> str:
    """The open_clip name of `model`, registering a .json config file first."""
    import open_clip

    if model.startswith(LOCAL_DIR):
        return model
    if model.endswith(".json"):
        open_clip.add_model_config(os.path.abspath(model))
        model = os.path.splitext(os.path.basename(model))[0]
    if model not in open_clip.list_models():
        raise ClipError("clip_model_unknown", f"{model!r} is not an open_clip model config")
    return model


class ClipScorer:
    """An open_clip model, its preprocessing and tokenizer; build once per worker."""

    def __init__(self, cfg: ClipFilterConfig) -> None:
        import open_clip

        check_config(cfg)
        self.cfg = cfg
        name = model_name(cfg.model)
        # abspath: a relative path spelled like a pretrained tag must not trigger a download.
        weights = None if name.startswith(LOCAL_DIR) else os.path.abspath(cfg.checkpoint or "")
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                name, pretrained=weights, device=cfg.device, precision=cfg.precision
            )
        except RuntimeError as err:  # load_state_dict's shape/key mismatch
            raise ClipError("clip_checkpoint_mismatch", f"{cfg.checkpoint}: {err}") from err
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)

    def score(self, images: Sequence[bytes], captions: Sequence[str]) -> list[float | None]:
        """Cosine similarity of each (image, caption); None where the image cannot be read."""
        import torch

        pixels, index = [], []
        for i, data in enumerate(images):
            tensor = self._pixels(data)
            if tensor is not None:
                pixels.append(tensor)
                index.append(i)
        scores: list[float | None] = [None] * len(images)
        if not pixels:
            return scores
        device = torch.device(self.cfg.device)
        with torch.inference_mode():
            img = self.model.encode_image(torch.stack(pixels).to(device), normalize=True)
            tokens = self.tokenizer([captions[i] for i in index]).to(device)
            txt = self.model.encode_text(tokens, normalize=True)
            cos = (img.float() * txt.float()).sum(dim=-1).clamp(-1.0, 1.0).cpu().tolist()
        for i, value in zip(index, cos, strict=True):
            scores[i] = float(value)
        return scores

    def _pixels(self, data: bytes) -> Any:
        try:
            with Image.open(io.BytesIO(data)) as img:
                return self.preprocess(img.convert("RGB"))
        except (OSError, ValueError) as err:  # our stored JPEGs decode; anything else is a bug
            log.warning("CLIP preprocessing failed: %r", err)
            return None


def top_fraction_cutoff(quantiles: Sequence[float], fraction: float) -> float:
    """The score at or above which `fraction` of all pairs lie, from evenly spaced quantiles.

    `quantiles` are the min, …, max of the scores at even ranks (Beam's ApproximateQuantiles);
    +inf when there were no scores, so nothing is kept.
    """
    if not quantiles:
        return math.inf
    position = (1.0 - fraction) * (len(quantiles) - 1)
    return float(quantiles[min(len(quantiles) - 1, max(0, round(position)))])


def keep_score(score: float, cutoff: float) -> bool:
    """The keep rule of both modes: at least the threshold or top-fraction cutoff."""
    return score >= cutoff
