"""Arrow schemas of every record, each versioned, and row conversions."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from schemas.base import versioned
from schemas.records import (
    DecontamHit,
    Document,
    EvalIndexEntry,
    ImageNode,
    ImageRecord,
    M3WSample,
    PairSample,
    Rejection,
    TextNode,
    VideoSample,
)

IMAGE_TYPE = pa.struct(
    [
        pa.field("bytes", pa.binary(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("phash", pa.uint64(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
    ]
)

NODE_TYPE = pa.struct(
    [
        pa.field("kind", pa.string(), nullable=False),  # "text" | "image"
        pa.field("text", pa.string()),
        pa.field("src", pa.string()),
        pa.field("alt", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
    ]
)

DOCUMENT_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("url", pa.string(), nullable=False),
            pa.field("fetch_time", pa.string()),
            pa.field("source", pa.string()),
            pa.field("language", pa.string()),
            pa.field("nodes", pa.list_(NODE_TYPE), nullable=False),
        ]
    ),
    "document",
    1,
)

M3W_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("chunk_index", pa.int32(), nullable=False),
            pa.field("url", pa.string()),
            pa.field("text", pa.string(), nullable=False),
            pa.field("images", pa.list_(IMAGE_TYPE), nullable=False),
            pa.field("num_tokens", pa.int32(), nullable=False),
            pa.field("tokenizer", pa.string(), nullable=False),
        ]
    ),
    "m3w_sample",
    1,
)

REJECTION_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("stage", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("key", pa.string(), nullable=False),
            pa.field("detail", pa.string()),
        ]
    ),
    "rejection",
    1,
)


PAIR_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("url", pa.string()),
            pa.field("caption", pa.string(), nullable=False),
            pa.field("image", IMAGE_TYPE, nullable=False),
        ]
    ),
    "pair_sample",
    1,
)

VIDEO_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("url", pa.string()),
            pa.field("caption", pa.string(), nullable=False),
            pa.field("frames", pa.list_(pa.binary()), nullable=False),
            pa.field("frame_times", pa.list_(pa.float32()), nullable=False),
            pa.field("fps", pa.float32(), nullable=False),
            pa.field("duration", pa.float32(), nullable=False),
            pa.field("width", pa.int32(), nullable=False),
            pa.field("height", pa.int32(), nullable=False),
        ]
    ),
    "video_sample",
    1,
)

EVAL_INDEX_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("dataset", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("image_id", pa.string(), nullable=False),
            pa.field("phash", pa.uint64(), nullable=False),
            pa.field("dhash", pa.uint64()),
            pa.field("sha256", pa.string()),
            pa.field("embedding", pa.list_(pa.float32())),
        ]
    ),
    "eval_index",
    1,
)

# The report's view of an eval image (a sidecar of the index, not a training record).
THUMBNAIL_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("image_id", pa.string(), nullable=False),
            pa.field("thumbnail", pa.binary(), nullable=False),
        ]
    ),
    "eval_thumbnail",
    1,
)

DECONTAM_HIT_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("dataset", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("image_id", pa.string(), nullable=False),
            pa.field("distance", pa.int32(), nullable=False),
            pa.field("cosine", pa.float32()),
            pa.field("thumbnail", pa.binary(), nullable=False),
            pa.field("eval_index", pa.string(), nullable=False),
        ]
    ),
    "decontam_hit",
    1,
)


def image_to_row(img: ImageRecord) -> dict[str, Any]:
    return {
        "bytes": img.bytes,
        "url": img.url,
        "sha256": img.sha256,
        "phash": img.phash,
        "width": img.width,
        "height": img.height,
    }


def row_to_image(row: dict[str, Any]) -> ImageRecord:
    return ImageRecord(
        bytes=row["bytes"],
        url=row["url"] or "",
        sha256=row["sha256"],
        phash=int(row["phash"]),
        width=int(row["width"]),
        height=int(row["height"]),
    )


def m3w_sample_to_row(s: M3WSample) -> dict[str, Any]:
    return {
        "doc_id": s.doc_id,
        "chunk_index": s.chunk_index,
        "url": s.url,
        "text": s.text,
        "images": [image_to_row(i) for i in s.images],
        "num_tokens": s.num_tokens,
        "tokenizer": s.tokenizer,
    }


def row_to_m3w_sample(row: dict[str, Any]) -> M3WSample:
    return M3WSample(
        doc_id=row["doc_id"],
        chunk_index=int(row["chunk_index"]),
        url=row["url"] or "",
        text=row["text"],
        images=tuple(row_to_image(i) for i in row["images"]),
        num_tokens=int(row["num_tokens"]),
        tokenizer=row["tokenizer"],
    )


def rejection_to_row(r: Rejection) -> dict[str, Any]:
    return {"stage": r.stage, "reason": r.reason, "key": r.key, "detail": r.detail}


def document_to_row(d: Document) -> dict[str, Any]:
    nodes = []
    for n in d.nodes:
        if isinstance(n, TextNode):
            nodes.append(
                {
                    "kind": "text",
                    "text": n.text,
                    "src": None,
                    "alt": None,
                    "width": None,
                    "height": None,
                }
            )
        else:
            assert isinstance(n, ImageNode)
            nodes.append(
                {
                    "kind": "image",
                    "text": None,
                    "src": n.src,
                    "alt": n.alt,
                    "width": n.width,
                    "height": n.height,
                }
            )
    return {
        "doc_id": d.doc_id,
        "url": d.url,
        "fetch_time": d.fetch_time,
        "source": d.source,
        "language": d.language,
        "nodes": nodes,
    }


def pair_sample_to_row(s: PairSample) -> dict[str, Any]:
    return {
        "sample_id": s.sample_id,
        "url": s.url,
        "caption": s.caption,
        "image": image_to_row(s.image),
    }


def row_to_pair_sample(row: dict[str, Any]) -> PairSample:
    return PairSample(
        row["sample_id"], row["url"] or "", row["caption"], row_to_image(row["image"])
    )


def video_sample_to_row(s: VideoSample) -> dict[str, Any]:
    return {
        "sample_id": s.sample_id,
        "url": s.url,
        "caption": s.caption,
        "frames": list(s.frames),
        "frame_times": list(s.frame_times),
        "fps": s.fps,
        "duration": s.duration,
        "width": s.width,
        "height": s.height,
    }


def row_to_video_sample(row: dict[str, Any]) -> VideoSample:
    return VideoSample(
        sample_id=row["sample_id"],
        url=row["url"] or "",
        caption=row["caption"],
        frames=tuple(row["frames"]),
        frame_times=tuple(float(t) for t in row["frame_times"]),
        fps=float(row["fps"]),
        duration=float(row["duration"]),
        width=int(row["width"]),
        height=int(row["height"]),
    )


def eval_entry_to_row(e: EvalIndexEntry) -> dict[str, Any]:
    return {
        "dataset": e.dataset,
        "split": e.split,
        "image_id": e.image_id,
        "phash": e.phash,
        "dhash": e.dhash,
        "sha256": e.sha256,
        "embedding": list(e.embedding) if e.embedding is not None else None,
    }


def row_to_eval_entry(row: dict[str, Any]) -> EvalIndexEntry:
    emb = row.get("embedding")
    return EvalIndexEntry(
        dataset=row["dataset"],
        split=row["split"],
        image_id=row["image_id"],
        phash=int(row["phash"]),
        dhash=int(row["dhash"]) if row.get("dhash") is not None else None,
        sha256=row.get("sha256"),
        embedding=tuple(float(x) for x in emb) if emb is not None else None,
    )


def hit_to_row(h: DecontamHit) -> dict[str, Any]:
    return {
        "key": h.key,
        "dataset": h.dataset,
        "split": h.split,
        "image_id": h.image_id,
        "distance": h.distance,
        "cosine": h.cosine,
        "thumbnail": h.thumbnail,
        "eval_index": h.eval_index,
    }


def row_to_hit(row: dict[str, Any]) -> DecontamHit:
    return DecontamHit(
        row["key"],
        row["dataset"],
        row["split"],
        row["image_id"],
        int(row["distance"]),
        None if row["cosine"] is None else float(row["cosine"]),
        row["thumbnail"],
        row["eval_index"],
    )
