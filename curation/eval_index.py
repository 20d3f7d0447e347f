"""The evaluation-set index: one Parquet file of hashed eval images per dataset, and search.

Layout of an index directory (adding a dataset writes only its own files):

    <index>/<dataset>.parquet             EvalIndexEntry rows (schemas.EVAL_INDEX_SCHEMA)
    <index>/thumbnails/<dataset>.parquet  small JPEGs of the same images, for the report
    <index>/rejected/<dataset>.parquet    eval images that could not be decoded (a leak risk)

Eval images are hashed with the crawl's own `process_image`, so an eval image found
unchanged in a crawl gets exactly the same phash. The entries come from image folders
or globs, Parquet columns of image bytes, or COCO-style annotation JSON + image folder
(`eval_sources`); the big-set Beam job is `pipelines/evalset.py`.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from curation.hamming_index import HammingIndex, HammingMatches
from curation.images import ImageConfig, process_image
from schemas import (
    EVAL_INDEX_SCHEMA,
    THUMBNAIL_SCHEMA,
    EvalIndexEntry,
    check_schema,
    eval_entry_to_row,
)

if TYPE_CHECKING:  # embedding_verify imports this module
    from curation.embedding_verify import EmbeddingConfig

# Extra Parquet metadata: which open_clip model made the `embedding` column, if any.
EMBEDDING_MODEL_KEY = b"interleaf.embedding_model"
THUMBNAILS_DIR = "thumbnails"
REJECTED_DIR = "rejected"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


class EvalIndexError(Exception):
    """A bad eval-set input or index; `reason` is a counter name, `detail` the value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _eval_image_config() -> ImageConfig:
    # Eval sets hold tiny (CIFAR: 32 px), long and TIFF images; the crawl's size and
    # aspect filters must not keep any of them out of the index. Resizing and hashing
    # stay the crawl's, so an unchanged image hashes identically on both sides.
    return replace(
        ImageConfig(),
        min_side=1,
        max_aspect_ratio=float("inf"),
        formats=(*ImageConfig().formats, "TIFF"),
    )


@dataclass(frozen=True)
class EvalIndexConfig:
    """How eval images are hashed and shown."""

    image: ImageConfig = field(default_factory=_eval_image_config)
    thumbnail_side: int = 96  # px, longest side of the report's thumbnails
    thumbnail_quality: int = 75  # JPEG quality; a thumbnail is ~3 KB at 96 px


# Hamming radius (on the 64-bit phash) within which a crawl image counts as an eval image.
# bench/dedup_quality.py on /work/shared/corpus/images (34 distinct real photos, 11 edits):
#   recall at R =            4     8    10    12   (phash alone)
#   resize 0.5x / JPEG q30  0.97  1.00  1.00  1.00
#   greyscale               1.00  1.00  1.00  1.00
#   colour jitter           0.91  0.97  1.00  1.00
#   crop 90% / rotate ±5°   0.06  0.26  0.41  0.62   (crop 75%, flip: ~0 at any R <= 16)
#   text overlay            0.03  0.26  0.38  0.50   (letterbox: 0.09 at R=8, 0.47 at 12)
# No distinct pair fell within 14 bits (closest 16), but 13k pairs cannot show the tail that
# matters at scale: a normal fit of the distinct-pair distances (mean 31.7, sd 4.0) puts the
# expected false matches of one crawl image against 1M eval images at 0.005 for R=8, 0.08
# for R=10 and ~1 for R=12. R=8 takes every re-encoded/resized/recoloured copy while
# dropping well under 1% of clean crawl images; the geometric edits it misses are what the
# embedding stage (curation.embedding_verify, crop search) is for.
DEFAULT_RADIUS = 8


@dataclass(frozen=True)
class DecontamConfig:
    """How crawl images are matched against the eval index."""

    radius: int = DEFAULT_RADIUS  # see DEFAULT_RADIUS
    thumbnail_side: int = 96  # px, the crawl-side thumbnail kept for the report
    # Optional open_clip verification (curation.embedding_verify.EmbeddingConfig); off by
    # default: it needs a local checkpoint and an index built with the same encoder.
    embedding: EmbeddingConfig | None = None


@dataclass(frozen=True)
class HashedImage:
    """One eval image after hashing: its index entry, thumbnail and (until embedded) pixels."""

    entry: EvalIndexEntry
    thumbnail: bytes
    image: bytes = b""  # the processed image, what an embedder sees on the crawl side too


@dataclass(frozen=True)
class EvalMatch:
    """A crawl image found near an eval image."""

    dataset: str
    split: str
    image_id: str
    distance: int  # phash Hamming distance
    cosine: float | None = None  # embedding similarity, when verification ran

    def describe(self) -> str:
        """The rejection detail: ``dataset/image_id distance=d [cosine=c]``."""
        text = f"{self.dataset}/{self.image_id} distance={self.distance}"
        return text if self.cosine is None else f"{text} cosine={self.cosine:.3f}"


def check_dataset_name(name: str) -> str:
    """`name` if it is usable as a file name; EvalIndexError otherwise."""
    if not DATASET_NAME.match(name):
        raise EvalIndexError(
            "bad_dataset_name", f"{name!r}: use letters, digits and . _ + - (e.g. coco-val2014)"
        )
    return name


def make_thumbnail(data: bytes, side: int = 96, quality: int = 75) -> bytes:
    """A small JPEG of already validated image bytes, longest side `side`."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (side, side))
        rgb = img.convert("RGB")
        rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def hash_eval_image(
    data: bytes, image_id: str, dataset: str, split: str, cfg: EvalIndexConfig | None = None
) -> HashedImage:
    """Hash one eval image as the crawl would; raises curation.images.ImageRejected."""
    cfg = cfg or EvalIndexConfig()
    record = process_image(data, f"eval:{dataset}/{image_id}", cfg.image)
    entry = EvalIndexEntry(dataset, split, image_id, record.phash, sha256=record.sha256)
    thumb = make_thumbnail(record.bytes, cfg.thumbnail_side, cfg.thumbnail_quality)
    return HashedImage(entry, thumb, record.bytes)


# ---------------------------------------------------------------- writing


def dataset_path(index_dir: str, dataset: str) -> str:
    return os.path.join(index_dir, f"{check_dataset_name(dataset)}.parquet")


def thumbnails_path(index_dir: str, dataset: str) -> str:
    return os.path.join(index_dir, THUMBNAILS_DIR, f"{check_dataset_name(dataset)}.parquet")


def rejected_path(index_dir: str, dataset: str) -> str:
    return os.path.join(index_dir, REJECTED_DIR, f"{check_dataset_name(dataset)}.parquet")


def index_schema(embedding_model: str | None = None) -> pa.Schema:
    """EVAL_INDEX_SCHEMA, naming the embedding model in the metadata when there is one."""
    if not embedding_model:
        return EVAL_INDEX_SCHEMA
    meta = dict(EVAL_INDEX_SCHEMA.metadata or {})
    meta[EMBEDDING_MODEL_KEY] = embedding_model.encode()
    return EVAL_INDEX_SCHEMA.with_metadata(meta)


def write_dataset(
    index_dir: str,
    dataset: str,
    images: Iterable[HashedImage],
    embedding_model: str | None = None,
) -> str:
    """Write (or replace) one dataset's entries and thumbnails; other datasets are untouched."""
    images = list(images)
    for image in images:
        if image.entry.dataset != dataset:
            raise EvalIndexError("dataset_mismatch", f"{image.entry.dataset!r} in {dataset!r}")
    path = dataset_path(index_dir, dataset)
    rows = [eval_entry_to_row(i.entry) for i in images]
    _write_atomic(pa.Table.from_pylist(rows, schema=index_schema(embedding_model)), path)
    thumbs = [{"image_id": i.entry.image_id, "thumbnail": i.thumbnail} for i in images]
    _write_atomic(
        pa.Table.from_pylist(thumbs, schema=THUMBNAIL_SCHEMA), thumbnails_path(index_dir, dataset)
    )
    return path


def _write_atomic(table: pa.Table, path: str) -> None:
    """Write next to `path`, then rename: a reader never sees half a dataset."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------- reading and search


def dataset_files(index: str) -> list[str]:
    """The dataset files of an index directory (or the one file given), sorted."""
    if os.path.isfile(index):
        return [index]
    if not os.path.isdir(index):
        raise EvalIndexError("index_not_found", f"{index}: no such file or directory")
    names = sorted(n for n in os.listdir(index) if n.endswith(".parquet") and n[0] != ".")
    if not names:
        raise EvalIndexError("empty_index", f"{index}: holds no <dataset>.parquet file")
    return [os.path.join(index, n) for n in names]


def embedding_model_of(schema: pa.Schema) -> str | None:
    value = (schema.metadata or {}).get(EMBEDDING_MODEL_KEY)
    return value.decode() if value else None


class EvalIndex:
    """All eval entries in memory: phashes in a HammingIndex, ids in Arrow, embeddings."""

    def __init__(self, tables: Sequence[tuple[str, pa.Table]], radius: int) -> None:
        """`tables`: (source name, table) pairs, each checked against EVAL_INDEX_SCHEMA."""
        models = set()
        for source, table in tables:
            check_schema(table.schema, EVAL_INDEX_SCHEMA, source)
            models.add(embedding_model_of(table.schema))
        kept = [t.select(EVAL_INDEX_SCHEMA.names).cast(EVAL_INDEX_SCHEMA) for _, t in tables]
        table = pa.concat_tables(kept) if kept else EVAL_INDEX_SCHEMA.empty_table()
        self.radius = radius
        self.datasets = table.column("dataset").combine_chunks()
        self.splits = table.column("split").combine_chunks()
        self.image_ids = table.column("image_id").combine_chunks()
        self.phashes = table.column("phash").to_numpy().astype(np.uint64)
        self.hamming = HammingIndex(self.phashes, radius)
        self.embedding_model = models.pop() if len(models) == 1 else None
        self.embeddings = _embedding_matrix(table.column("embedding"))

    def __len__(self) -> int:
        return len(self.phashes)

    def counts(self) -> dict[str, int]:
        """Entries per dataset."""
        names, counts = np.unique(self.datasets.to_numpy(zero_copy_only=False), return_counts=True)
        return dict(zip(names.tolist(), counts.tolist(), strict=True))

    def candidates(self, phashes: Sequence[int], radius: int | None = None) -> HammingMatches:
        """Every (query, entry) pair within the radius (default: the index's)."""
        return self.hamming.search(phashes, self.radius if radius is None else radius)

    def match(self, entry: int, distance: int, cosine: float | None = None) -> EvalMatch:
        """The EvalMatch for entry position `entry`."""
        return EvalMatch(
            self.datasets[entry].as_py(),
            self.splits[entry].as_py(),
            self.image_ids[entry].as_py(),
            int(distance),
            cosine,
        )

    def nearest(self, phashes: Sequence[int], radius: int | None = None) -> list[EvalMatch | None]:
        """The closest eval image of each query hash within the radius, or None."""
        found = self.candidates(phashes, radius)
        best: list[EvalMatch | None] = [None] * len(phashes)
        # Matches are sorted by query then distance: the first per query is the closest.
        rows = zip(found.query.tolist(), found.entry.tolist(), found.distance.tolist(), strict=True)
        for q, e, d in rows:
            if best[q] is None:
                best[q] = self.match(e, d)
        return best


def _embedding_matrix(column: pa.ChunkedArray) -> np.ndarray | None:
    """(N, D) float32 when every entry has an embedding of one size, else None."""
    if len(column) == 0 or column.null_count:
        return None
    arr = column.combine_chunks()
    sizes = np.unique(pc_list_sizes(arr))
    if len(sizes) != 1:
        raise EvalIndexError("mixed_embeddings", f"embedding sizes {sizes.tolist()} in one index")
    flat = arr.flatten().to_numpy().astype(np.float32)
    return flat.reshape(len(arr), int(sizes[0]))


def pc_list_sizes(arr: pa.ListArray) -> np.ndarray:
    offsets = arr.offsets.to_numpy()
    return offsets[1:] - offsets[:-1]


def read_dataset_tables(index: str) -> list[tuple[str, pa.Table]]:
    """(path, table) of every dataset file of a local index."""
    return [(p, pq.read_table(p)) for p in dataset_files(index)]


def load_eval_index(index: str, radius: int) -> EvalIndex:
    """Load a local index directory (or one dataset file) for search at `radius`."""
    return EvalIndex(read_dataset_tables(index), radius)


def read_thumbnails(index: str, dataset: str, wanted: set[str]) -> dict[str, bytes]:
    """The thumbnails of `wanted` image ids of one dataset ({} when the sidecar is absent)."""
    path = thumbnails_path(index, dataset)
    if not wanted or not Path(path).is_file():
        return {}
    table = pq.read_table(path)
    check_schema(table.schema, THUMBNAIL_SCHEMA, path)
    ids = table.column("image_id").to_pylist()
    thumbs = table.column("thumbnail")
    return {i: thumbs[n].as_py() for n, i in enumerate(ids) if i in wanted}
