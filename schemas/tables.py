"""Arrow schemas of every record, each versioned, and row conversions."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from schemas.base import versioned
from schemas.records import (
    Document,
    ImageNode,
    ImageRecord,
    M3WSample,
    Rejection,
    TextNode,
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
