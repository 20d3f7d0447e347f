"""Rows -> model inputs: tokenize with the markers, decode images, pad a batch."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from schemas.records import END_OF_CHUNK, IMAGE_MARKER
from trainer.errors import SampleError
from trainer.tokenizer import SpecialIds

Preprocess = Callable[[Image.Image], torch.Tensor]


@dataclass(frozen=True)
class Example:
    """One tokenized sample: token ids and its images, each [F, 3, H, W] (F = 1 for stills)."""

    input_ids: list[int]
    images: list[torch.Tensor]


@dataclass
class Batch:
    """A padded batch; `pixels` holds only real images, `num_media` says whose they are."""

    input_ids: torch.Tensor  # [B, S]
    attention_mask: torch.Tensor  # [B, S]
    labels: torch.Tensor  # [B, S], -100 where no loss
    pixels: torch.Tensor | None  # [N, F, 3, H, W], N = num_media.sum()
    num_media: torch.Tensor  # [B]
    state: dict[str, Any] = field(default_factory=dict)  # the stream position after this batch

    @property
    def num_samples(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def num_tokens(self) -> int:
        return int(self.attention_mask.sum())

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True)."""
        pinned = {
            k: getattr(self, k).pin_memory()
            for k in ("input_ids", "attention_mask", "labels", "num_media")
        }
        pixels = self.pixels.pin_memory() if self.pixels is not None else None
        return Batch(**pinned, pixels=pixels, state=self.state)


def decode_image(data: bytes, preprocess: Preprocess) -> torch.Tensor:
    """Encoded image bytes -> [3, H, W] with the vision encoder's preprocessing."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise SampleError("image_decode_error", f"{len(data)} bytes: {e}") from e
    return preprocess(rgb)


def tokenize(text: str, tokenizer: Any, ids: SpecialIds, max_tokens: int) -> list[int]:
    """Token ids (BOS if the tokenizer adds one, EOS appended), cut to max_tokens."""
    out = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    if not out or out[-1] != ids.eos:
        out.append(ids.eos)
    return out[:max_tokens]


def limit_images(tokens: list[int], image_id: int, max_images: int) -> list[int]:
    """Drop `<image>` tokens after the first max_images (paper: keep the first N images)."""
    out, seen = [], 0
    for t in tokens:
        if t == image_id:
            seen += 1
            if seen > max_images:
                continue
        out.append(t)
    return out


def m3w_example(
    row: dict[str, Any],
    tokenizer: Any,
    ids: SpecialIds,
    preprocess: Preprocess,
    max_tokens: int,
    max_images: int,
) -> Example:
    """An M3W row (schemas M3W_SCHEMA) -> Example; markers must match the images."""
    text, images = row["text"], row["images"] or []
    markers = text.count(IMAGE_MARKER)
    if markers != len(images):
        raise SampleError(
            "marker_image_mismatch",
            f"doc {row.get('doc_id')}#{row.get('chunk_index')}: {markers} markers, "
            f"{len(images)} images",
        )
    tokens = limit_images(tokenize(text, tokenizer, ids, max_tokens), ids.image, max_images)
    kept = tokens.count(ids.image)
    pixels = [decode_image(img["bytes"], preprocess)[None] for img in images[:kept]]
    return Example(tokens, pixels)


def sample_name(row: dict[str, Any]) -> str:
    """How a pair or video row is named in a skip detail: its id, else its caption."""
    if row.get("sample_id"):
        return f"sample {row['sample_id']}"
    return f"caption {row.get('caption')!r:.60}"


def caption_text(caption: str) -> str:
    """The Flamingo format of a single image or video with its caption."""
    return f"{IMAGE_MARKER}{caption.strip()}{END_OF_CHUNK}"


def pair_example(
    row: dict[str, Any], tokenizer: Any, ids: SpecialIds, preprocess: Preprocess, max_tokens: int
) -> Example:
    """A pair row (schemas PAIR_SCHEMA: `image` struct, `caption`) -> Example with one image."""
    image = row.get("image")
    if not image or not image.get("bytes"):
        raise SampleError("pair_without_image", f"{sample_name(row)}: no image bytes")
    tokens = tokenize(caption_text(row["caption"] or ""), tokenizer, ids, max_tokens)
    if ids.image not in tokens:
        raise SampleError(
            "marker_truncated", f"{sample_name(row)}: max_tokens={max_tokens} cut <image>"
        )
    return Example(tokens, [decode_image(image["bytes"], preprocess)[None]])


def nearest_frames(times: np.ndarray, wanted: int) -> list[int]:
    """Indices of the frames nearest to `wanted` moments spread evenly over times[0]..times[-1].

    `times` must be finite and strictly increasing. A clip with fewer frames than wanted
    repeats some; a tie goes to the even index (as np.round does), so that on evenly spaced
    times the repeats fall symmetrically rather than all toward the start.
    """
    if len(times) == 1:
        return [0] * wanted
    targets = np.linspace(times[0], times[-1], wanted)
    right = np.clip(np.searchsorted(times, targets), 1, len(times) - 1)
    left = right - 1
    to_left, to_right = targets - times[left], times[right] - targets
    nearer_left = (to_left < to_right) | ((to_left == to_right) & (left % 2 == 0))
    return [int(i) for i in np.where(nearer_left, left, right)]


def frame_indices(available: int, wanted: int) -> list[int]:
    """`wanted` indices spread evenly over `available` frames (repeats when there are fewer)."""
    return nearest_frames(np.arange(available, dtype=np.float64), wanted)


def usable_frame_times(times: Sequence[float] | None, available: int) -> np.ndarray | None:
    """`times` as float64 if they can place the frames (one per frame, finite, increasing)."""
    if times is None or len(times) != available:  # available >= 1: empty times fall here
        return None
    try:
        out = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):  # a null inside the list (the schema forbids it)
        return None
    if out.ndim != 1 or not np.isfinite(out).all() or not (np.diff(out) > 0).all():
        return None
    with np.errstate(over="ignore"):
        span = out[-1] - out[0]
    if not np.isfinite(span):  # past float range: no even spread exists to aim at
        return None
    return out


def pick_frames(times: Sequence[float] | None, available: int, wanted: int) -> list[int]:
    """The `wanted` frames (of `available` >= 1) closest to evenly spaced moments of the clip.

    The curation side stores each frame's time (`frame_times`); frames are not always evenly
    spaced in time (a frame the decoder missed leaves a gap), and spacing by index would then
    bunch the picks on one side of the gap. Times that cannot place the frames (absent,
    empty, another length than the frames, NaN/inf, not strictly increasing) fall back to
    spacing by index, so a malformed row still trains instead of being skipped.
    """
    usable = usable_frame_times(times, available)
    if usable is None:
        return frame_indices(available, wanted)
    return nearest_frames(usable, wanted)


def video_example(
    row: dict[str, Any],
    tokenizer: Any,
    ids: SpecialIds,
    preprocess: Preprocess,
    max_tokens: int,
    frames: int,
) -> Example:
    """A video row (schemas VIDEO_SCHEMA: JPEG `frames`, `frame_times`, `caption`) -> [F, 3, H, W].

    The model's time embeddings are per frame position (trainer/model/resampler.py), not
    per second, so the times choose the frames and are not passed on.
    """
    data = row.get("frames") or []
    if not data:
        raise SampleError("video_without_frames", f"{sample_name(row)}: no frames")
    picked = pick_frames(row.get("frame_times"), len(data), frames)
    clip = torch.stack([decode_image(data[i], preprocess) for i in picked])
    tokens = tokenize(caption_text(row["caption"] or ""), tokenizer, ids, max_tokens)
    if ids.image not in tokens:
        raise SampleError(
            "marker_truncated", f"{sample_name(row)}: max_tokens={max_tokens} cut <image>"
        )
    return Example(tokens, [clip])


def loss_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, ids: SpecialIds):
    """Targets: real tokens after the first image, except `<image>` itself (it is input only).

    Text before the first image is the frozen LM alone: no trainable parameter can change
    its loss, so counting it would only dilute the gradient of the tokens that can learn.
    """
    labels = input_ids.clone()
    seen_image = (input_ids == ids.image).cumsum(dim=1) > 0
    labels[(attention_mask == 0) | ~seen_image | (input_ids == ids.image)] = -100
    return labels


def collate(examples: Sequence[Example], ids: SpecialIds) -> Batch:
    """Right-pad token ids; stack the real images only, in sample order."""
    length = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), length), ids.pad, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)
    for i, e in enumerate(examples):
        input_ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
        attention_mask[i, : len(e.input_ids)] = 1
    images = [img for e in examples for img in e.images]
    return Batch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        labels=loss_labels(input_ids, attention_mask, ids),
        pixels=torch.stack(images) if images else None,
        num_media=torch.tensor([len(e.images) for e in examples], dtype=torch.long),
    )
