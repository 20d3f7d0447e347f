"""Optional second stage of decontamination: an open_clip image encoder confirms or rejects
phash candidates by cosine similarity, and finds near-duplicates the phash misses (crops,
letterboxing) by a nearest-neighbour search over the index's embeddings.

Off by default: it needs an index built with the same encoder (`--embed-model`) and a
local checkpoint; nothing is ever downloaded. open_clip is imported lazily (the `train`
extra), so the rest of curation does not need torch.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curation.eval_index import EvalIndex, EvalMatch
from curation.hamming_index import popcount64
from schemas import ImageRecord

log = logging.getLogger(__name__)

# The text tower is never used; building it this small keeps start-up cheap.
_TINY_TEXT_CFG = {"context_length": 2, "vocab_size": 2, "width": 8, "heads": 1, "layers": 1}
# Eval embeddings compared per matrix product in the nearest-neighbour search (~128 MiB at D=512).
NN_BLOCK = 65536


class EmbeddingError(Exception):
    """The encoder or the index cannot be used; `reason` is a counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class EmbeddingConfig:
    """Which encoder verifies phash candidates, and how strictly.

    The thresholds are starting points for a CLIP ViT-B/32-class encoder, where near-
    duplicates sit well above unrelated photos; measure yours with
    ``bench/dedup_quality.py --embed-model … --embed-checkpoint …`` before trusting them.
    """

    model: str  # open_clip config name, e.g. "ViT-B-32"
    checkpoint: str | None = None  # local weights; None = random weights (tests only)
    min_cosine: float = 0.90  # a phash candidate is confirmed at or above this
    catch_crops: bool = True  # also search all eval embeddings for what the phash missed
    crop_min_cosine: float = 0.95  # stricter: no phash evidence supports these matches
    # open_clip.create_model keyword overrides, e.g. (("vision_cfg", {...}),) for a tiny model.
    overrides: tuple[tuple[str, Any], ...] = ()
    device: str = "cpu"
    batch_size: int = 32

    @property
    def name(self) -> str:
        """What the index records as its embedding model (must match at search time)."""
        weights = os.path.basename(self.checkpoint) if self.checkpoint else "random"
        extra = f"+{dict(self.overrides)!r}" if self.overrides else ""
        return f"{self.model}@{weights}{extra}"


class ImageEmbedder:
    """An open_clip image tower: encoded image bytes → L2-normalised embeddings."""

    def __init__(self, cfg: EmbeddingConfig) -> None:
        try:
            import open_clip
            import torch
            from open_clip.transform import PreprocessCfg, image_transform_v2
        except ImportError as e:  # pragma: no cover - the train extra is installed in dev
            raise EmbeddingError("open_clip_missing", f"pip install 'interleaf[train]': {e}") from e
        if cfg.model not in open_clip.list_models():
            raise EmbeddingError("unknown_model", f"{cfg.model!r} is not an open_clip config")
        self.cfg, self.name = cfg, cfg.name
        self._torch = torch
        kwargs: dict[str, Any] = {"text_cfg": _TINY_TEXT_CFG, **dict(cfg.overrides)}
        # open_clip logs a warning about random weights on every call; we load our own.
        root = logging.getLogger()
        was_disabled, root.disabled = root.disabled, True
        try:
            clip = open_clip.create_model(cfg.model, pretrained=None, **kwargs)
        finally:
            root.disabled = was_disabled
        self.visual = clip.visual.to(cfg.device).eval().requires_grad_(False)
        if cfg.checkpoint:
            load_visual_weights(self.visual, cfg.checkpoint)
        self._preprocess = image_transform_v2(
            PreprocessCfg(**self.visual.preprocess_cfg), is_train=False
        )

    def embed(self, images: Sequence[bytes]) -> np.ndarray:
        """(len(images), D) float32, each row of unit length."""
        from PIL import Image

        out = []
        for start in range(0, len(images), self.cfg.batch_size):
            pixels = []
            for data in images[start : start + self.cfg.batch_size]:
                try:
                    with Image.open(io.BytesIO(data)) as img:
                        pixels.append(self._preprocess(img.convert("RGB")))
                except OSError as e:
                    raise EmbeddingError("decode_error", f"{e}") from e
            with self._torch.no_grad():
                batch = self._torch.stack(pixels).to(self.cfg.device)
                feats = self.visual(batch).float()
                feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            out.append(feats.cpu().numpy())
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)


def load_visual_weights(visual: Any, path: str) -> None:
    """Load an open_clip checkpoint's `visual.*` weights (or a visual-only state dict)."""
    import torch

    if not os.path.isfile(path):
        raise EmbeddingError("checkpoint_missing", f"{path}: not a file")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("visual.") for k in state):
        state = {k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}
    try:
        visual.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise EmbeddingError("checkpoint_mismatch", f"{path}: {e}") from e


# ---------------------------------------------------------------- pure decisions


def best_confirmed(
    query: np.ndarray,
    entries: np.ndarray,
    distances: np.ndarray,
    index_embeddings: np.ndarray,
    min_cosine: float,
) -> tuple[int, int, float] | None:
    """(entry, distance, cosine) of the most similar phash candidate at >= min_cosine."""
    if not len(entries):
        return None
    cos = index_embeddings[entries] @ query
    best = int(np.argmax(cos))
    if cos[best] < min_cosine:
        return None
    return int(entries[best]), int(distances[best]), float(cos[best])


def nearest_embeddings(
    queries: np.ndarray, index_embeddings: np.ndarray, min_cosine: float
) -> list[tuple[int, float] | None]:
    """Per query row, (entry, cosine) of its most similar eval embedding if >= min_cosine."""
    best_cos = np.full(len(queries), -np.inf, dtype=np.float32)
    best_entry = np.full(len(queries), -1, dtype=np.int64)
    for start in range(0, len(index_embeddings), NN_BLOCK):
        sims = queries @ index_embeddings[start : start + NN_BLOCK].T  # (Q, block)
        top = np.argmax(sims, axis=1)
        top_cos = sims[np.arange(len(queries)), top]
        better = top_cos > best_cos
        best_cos[better], best_entry[better] = top_cos[better], top[better] + start
    return [
        (int(e), float(c)) if e >= 0 and c >= min_cosine else None
        for e, c in zip(best_entry, best_cos, strict=True)
    ]


class EmbeddingVerifier:
    """phash candidates → confirmed matches (and embedding-only matches for crops)."""

    def __init__(self, cfg: EmbeddingConfig, embedder: Any = None) -> None:
        self.cfg = cfg
        self.embedder = embedder if embedder is not None else ImageEmbedder(cfg)

    def check_index(self, index: EvalIndex) -> None:
        """Refuse an index without embeddings or with another encoder's."""
        if index.embeddings is None:
            raise EmbeddingError(
                "index_without_embeddings",
                "build the eval index with --embed-model (every entry needs an embedding)",
            )
        if index.embedding_model and index.embedding_model != self.embedder.name:
            raise EmbeddingError(
                "embedding_model_mismatch",
                f"index made with {index.embedding_model!r}, verifying with {self.embedder.name!r}",
            )

    def find(self, index: EvalIndex, images: Sequence[ImageRecord]) -> list[EvalMatch | None]:
        """The confirmed eval match of each image, or None."""
        self.check_index(index)
        assert index.embeddings is not None
        found = index.candidates([im.phash for im in images])
        by_query: dict[int, list[int]] = {}
        for row, q in enumerate(found.query.tolist()):
            by_query.setdefault(q, []).append(row)
        todo = range(len(images)) if self.cfg.catch_crops else sorted(by_query)
        todo = list(todo)
        result: list[EvalMatch | None] = [None] * len(images)
        if not todo:
            return result
        vectors = self.embedder.embed([images[i].bytes for i in todo])
        missed = []
        for i, vec in zip(todo, vectors, strict=True):
            rows = np.array(by_query.get(i, []), dtype=np.int64)
            hit = best_confirmed(
                vec, found.entry[rows], found.distance[rows], index.embeddings, self.cfg.min_cosine
            )
            if hit is not None:
                result[i] = index.match(hit[0], hit[1], hit[2])
            elif self.cfg.catch_crops:
                missed.append((i, vec))
        if missed:
            near = nearest_embeddings(
                np.stack([v for _, v in missed]), index.embeddings, self.cfg.crop_min_cosine
            )
            for (i, _), nn in zip(missed, near, strict=True):
                if nn is not None:
                    xor = np.array([images[i].phash], dtype=np.uint64) ^ index.phashes[nn[0]]
                    result[i] = index.match(nn[0], int(popcount64(xor)[0]), nn[1])
        return result
