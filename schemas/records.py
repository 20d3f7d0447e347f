"""Plain record types passed between curation functions and Beam stages (stdlib only)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# The two markers of the Flamingo text format (OpenFlamingo spelling).
IMAGE_MARKER = "<image>"
END_OF_CHUNK = "<|endofchunk|>"


@dataclass(frozen=True)
class Rejection:
    """A record a stage dropped or could not parse (the dead letter)."""

    stage: str  # e.g. "read", "extract", "filter_text", "fetch_image", "chunk"
    reason: str  # short machine name, also the Beam counter name, e.g. "too_few_words"
    key: str  # what was dropped: a URL, doc_id, or "path#offset"
    detail: str = ""  # human-readable context (the offending value, the exception text)


@dataclass(frozen=True)
class RawPage:
    """One HTML payload from any input (a WARC response record or a local file)."""

    url: str
    content: bytes
    content_type: str = ""  # the HTTP Content-Type header, "" when unknown
    fetch_time: str = ""  # ISO 8601 (WARC-Date)
    source: str = ""  # where it came from: "path#offset" or a file path


@dataclass(frozen=True)
class WarcImage:
    """An image response record found in the same WARC input as the pages."""

    url: str
    content: bytes
    content_type: str = ""
    source: str = ""


@dataclass(frozen=True)
class ImageRecord:
    """A fetched, validated, resized and hashed image."""

    bytes: bytes  # encoded image (JPEG/PNG/WebP)
    url: str
    sha256: str  # hex digest of `bytes`
    phash: int  # 64-bit DCT perceptual hash, as an unsigned int
    width: int
    height: int


@dataclass(frozen=True)
class TextNode:
    text: str


@dataclass(frozen=True)
class ImageNode:
    src: str  # absolute URL
    alt: str = ""
    width: int | None = None  # declared size hints from the HTML, when present
    height: int | None = None
    image: ImageRecord | None = None  # filled in by the image stage


Node = TextNode | ImageNode


@dataclass(frozen=True)
class Document:
    """One web page after extraction: text blocks and images in DOM order."""

    doc_id: str
    url: str
    fetch_time: str = ""
    source: str = ""
    language: str = ""
    nodes: tuple[Node, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        """All text blocks joined by newlines (what the text filters look at)."""
        return "\n".join(n.text for n in self.nodes if isinstance(n, TextNode))

    @property
    def images(self) -> tuple[ImageNode, ...]:
        return tuple(n for n in self.nodes if isinstance(n, ImageNode))


@dataclass(frozen=True)
class M3WSample:
    """One training sample: a chunk of a document with at most N images."""

    doc_id: str
    chunk_index: int
    url: str
    text: str  # with IMAGE_MARKER / END_OF_CHUNK markers, one IMAGE_MARKER per image
    images: tuple[ImageRecord, ...]
    num_tokens: int  # exact count of `text` under `tokenizer`
    tokenizer: str


def make_doc_id(url: str, source: str = "") -> str:
    """A stable document id from the page URL and where it was read."""
    return hashlib.sha256(f"{url}\0{source}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class PairSample:
    """One image-text pair (ALIGN / LTIP style)."""

    sample_id: str
    url: str  # where the image came from
    caption: str
    image: ImageRecord


@dataclass(frozen=True)
class VideoSample:
    """One short video-text pair (VTP style): JPEG frames sampled at `fps`."""

    sample_id: str
    url: str
    caption: str
    frames: tuple[bytes, ...]  # JPEG, in time order
    frame_times: tuple[float, ...]  # seconds from the start, one per frame
    fps: float
    duration: float  # seconds
    width: int
    height: int


@dataclass(frozen=True)
class EvalIndexEntry:
    """One evaluation-set image, by its hashes (and optionally an embedding)."""

    dataset: str  # e.g. "coco-val2014"
    split: str
    image_id: str
    phash: int  # 64-bit DCT perceptual hash (curation.hashing.phash64)
    dhash: int | None = None
    sha256: str | None = None
    embedding: tuple[float, ...] | None = None


@dataclass(frozen=True)
class DecontamHit:
    """One crawl image dropped as a near-duplicate of an eval image (for the report)."""

    key: str  # the crawl image URL (the rejection key)
    dataset: str
    split: str
    image_id: str
    distance: int
    cosine: float | None
    thumbnail: bytes  # small JPEG of the crawl image
    eval_index: str  # the index directory, where the eval thumbnails are
