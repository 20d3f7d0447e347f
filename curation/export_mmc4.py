"""M3W samples → OpenFlamingo's MMC4 webdataset layout (one JSON per sample, tar shards).

OpenFlamingo (open_flamingo/train/data.py, `get_mmc4_dataset` + `preprocess_interleaved`)
reads only the ``.json`` member of each sample and from it: ``text_list`` (the sentences),
``image_info[i]["image_base64"]`` (the image bytes, base64) and ``similarity_matrix[i]``
(one score per sentence; the image goes before the sentence with the highest score). It then
rebuilds the text as ``"<|endofchunk|><image>" + sentence`` for each matched sentence, joined
by spaces. So an exported sample carries its images as base64 in the JSON and a one-hot
similarity row that puts each image before the text that followed it in the M3W sample.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from schemas.records import END_OF_CHUNK, IMAGE_MARKER


@dataclass(frozen=True)
class Mmc4Config:
    """How samples are laid out in tar shards."""

    # Samples per tar: webdataset's usual ~1k-sample shards (MMC4's released shards are of
    # this order too), small enough to shuffle shards across dataloader workers.
    shard_size: int = 1000
    # Not a CLIP score: the position tells where each image goes, so the matched sentence
    # gets 1.0 and any OpenFlamingo --mmc4_textsim_threshold up to 1.0 keeps the image.
    matched_sim: float = 1.0
    # OpenFlamingo raises "No images in sample" on text-only samples, so by default they are
    # rejected here, where the reason is counted, rather than lost silently at train time.
    keep_text_only: bool = False
    # Fixed tar metadata so the same input gives byte-identical shards.
    mtime: int = 0


class ExportRejected(ValueError):
    """An M3W row that cannot become an MMC4 sample."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Mmc4Sample:
    """One webdataset sample: its key and the JSON document OpenFlamingo reads."""

    key: str
    doc: dict[str, Any]


# Extension by magic bytes: the M3W images are JPEG / PNG / WebP as fetched or re-encoded.
_MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"))


def image_extension(data: bytes) -> str:
    """File extension of encoded image bytes; ExportRejected when not JPEG/PNG/WebP."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ExportRejected("unknown_image_format", f"image starts with {data[:12]!r}")


def split_sentences(segment: str) -> list[str]:
    """The non-empty paragraphs of a text segment (M3W joins text blocks by newlines)."""
    return [p.strip() for p in segment.split("\n") if p.strip()]


def text_to_sentences(text: str) -> tuple[list[str], list[int]]:
    """M3W text → (text_list, the sentence index each image precedes), images in order.

    An image followed directly by another image or by the end of the text shares the next
    sentence; at the very end an empty sentence is added so the image still has one.
    """
    segments = text.replace(END_OF_CHUNK, "\n").split(IMAGE_MARKER)
    sentences = split_sentences(segments[0])
    pending = 0  # images waiting for the next sentence
    matched: list[int] = []
    for segment in segments[1:]:
        pending += 1
        paragraphs = split_sentences(segment)
        if paragraphs:
            matched += [len(sentences)] * pending
            pending = 0
            sentences += paragraphs
    if pending:
        matched += [len(sentences)] * pending
        sentences.append("")
    return sentences, matched


def sample_key(index: int) -> str:
    """Webdataset key of the index-th exported sample (no dots: webdataset splits on them)."""
    return f"{index:09d}"


def m3w_row_to_mmc4(row: Mapping[str, Any], index: int, config: Mmc4Config) -> Mmc4Sample:
    """One M3W row (dict, M3W_SCHEMA) → the MMC4 JSON OpenFlamingo's loader reads."""
    text, images = row.get("text"), row.get("images") or []
    if not isinstance(text, str):
        raise ExportRejected("missing_text", f"text is {type(text).__name__}")
    markers = text.count(IMAGE_MARKER)
    if markers != len(images):
        raise ExportRejected(
            "marker_image_mismatch", f"{markers} {IMAGE_MARKER} markers, {len(images)} images"
        )
    if not images and not config.keep_text_only:
        raise ExportRejected("no_images", "text-only sample; OpenFlamingo's MMC4 loader needs one")
    sentences, matched = text_to_sentences(text)
    info = []
    for image, sentence_ix in zip(images, matched, strict=True):
        data = bytes(image["bytes"])
        info.append(
            {
                "image_name": f"{image['sha256']}.{image_extension(data)}",
                "raw_url": image.get("url") or "",
                "matched_text_index": sentence_ix,
                "matched_sim": config.matched_sim,
                "image_base64": base64.b64encode(data).decode("ascii"),
            }
        )
    similarity = [
        [config.matched_sim if j == ix else 0.0 for j in range(len(sentences))] for ix in matched
    ]
    doc = {
        "url": row.get("url") or "",
        "doc_id": row.get("doc_id"),
        "chunk_index": row.get("chunk_index"),
        "text_list": sentences,
        "image_info": info,
        "similarity_matrix": similarity,
        "num_tokens": row.get("num_tokens"),
        "tokenizer": row.get("tokenizer"),
    }
    return Mmc4Sample(sample_key(index), doc)


def shard_name(index: int) -> str:
    """File name of the index-th shard (braceexpand-friendly: {000000..000041}.tar)."""
    return f"{index:06d}.tar"


def shard_pattern(num_shards: int) -> str:
    """The brace pattern OpenFlamingo's --mmc4_shards takes for shards 0..num_shards-1."""
    if num_shards <= 1:
        return shard_name(0)
    return f"{{{0:06d}..{num_shards - 1:06d}}}.tar"


def _member(name: str, data: bytes, mtime: int) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def write_shard(fileobj: BinaryIO, samples: Iterable[Mmc4Sample], config: Mmc4Config) -> int:
    """Write samples as ``KEY.json`` members into a tar stream; returns how many."""
    count = 0
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in samples:
            # sort_keys: identical input → identical bytes.
            payload = json.dumps(sample.doc, sort_keys=True, ensure_ascii=False).encode()
            tar.addfile(*_member(f"{sample.key}.json", payload, config.mtime))
            count += 1
    return count


# OpenFlamingo's whitespace clean-up around markers, used to compare texts.
_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Text with markers, whitespace collapsed and none around markers (for comparisons)."""
    text = _SPACE.sub(" ", text.replace(END_OF_CHUNK, " " + END_OF_CHUNK + " "))
    text = text.replace(IMAGE_MARKER, " " + IMAGE_MARKER + " ")
    text = _SPACE.sub(" ", text)
    for marker in (END_OF_CHUNK, IMAGE_MARKER):
        text = text.replace(" " + marker, marker).replace(marker + " ", marker)
    return text.strip()
