"""Where eval images come from (folders/globs, Parquet image columns, COCO JSON) and the
in-process builder of one dataset of the eval index (`curate evalset-index` runs the
same steps as a Beam job)."""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from curation.eval_index import (
    EvalIndexConfig,
    EvalIndexError,
    HashedImage,
    rejected_path,
    write_dataset,
)
from curation.eval_index import hash_eval_image as _hash
from curation.images import ImageRejected
from schemas import REJECTION_SCHEMA, Rejection, rejection_to_row

log = logging.getLogger(__name__)

STAGE = "evalset_index"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif")
Opener = Callable[[str], BinaryIO]


def open_local(path: str) -> BinaryIO:
    """The default opener: a local file, binary."""
    return open(path, "rb")  # the caller closes it: `with opener(p) as f`


EMBED_BATCH = 64  # images per encoder call; also bounds the decoded pixels held at once


@dataclass(frozen=True)
class ImageFileTask:
    """One image file of an eval set."""

    image_id: str
    path: str


@dataclass(frozen=True)
class ParquetTask:
    """One row group of a Parquet file holding eval images in a column."""

    path: str
    row_group: int
    first_row: int  # row number of the group's first row in the file
    image_column: str
    id_column: str | None = None


EvalTask = ImageFileTask | ParquetTask


class Embedder(Protocol):
    """What the builder needs of an image encoder (curation.embedding_verify.ImageEmbedder)."""

    name: str

    def embed(self, images: Sequence[bytes]) -> np.ndarray: ...


# ---------------------------------------------------------------- planning


def image_file_tasks(pattern: str) -> list[ImageFileTask]:
    """A directory (searched recursively for image files) or a glob → one task per file.

    The image id is the path below the directory (or the glob's fixed prefix) without
    its suffix: the file stem for a flat folder such as COCO's val2014/.
    """
    if os.path.isdir(pattern):
        root = pattern
        paths = [
            os.path.join(d, n)
            for d, _, names in os.walk(pattern)
            for n in names
            if n.lower().endswith(IMAGE_SUFFIXES)
        ]
    else:
        root = _fixed_prefix(pattern)
        paths = [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
    if not paths:
        raise EvalIndexError("no_images", f"{pattern!r} matches no image file")
    return [ImageFileTask(_image_id(p, root), p) for p in sorted(paths)]


def _fixed_prefix(pattern: str) -> str:
    """The directory part of a glob before its first wildcard."""
    parts = []
    for part in pattern.split(os.sep)[:-1]:
        if glob.has_magic(part):
            break
        parts.append(part)
    return os.sep.join(parts) or "."


def _image_id(path: str, root: str) -> str:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return os.path.splitext(rel)[0]


def coco_tasks(annotations: str, images_dir: str) -> list[ImageFileTask]:
    """COCO-style JSON (``images: [{id, file_name}]``) + its image folder → tasks by image id."""
    try:
        with open(annotations, encoding="utf-8") as f:
            doc = json.load(f)
        images = doc["images"]
        tasks = [
            ImageFileTask(str(im["id"]), os.path.join(images_dir, im["file_name"])) for im in images
        ]
    except (OSError, ValueError) as e:
        raise EvalIndexError("bad_annotations", f"{annotations}: {e}") from e
    except (KeyError, TypeError) as e:
        raise EvalIndexError(
            "bad_annotations", f"{annotations}: expected images: [{{id, file_name}}], missing {e}"
        ) from e
    if not tasks:
        raise EvalIndexError("no_images", f"{annotations}: 'images' is empty")
    return tasks


def parquet_tasks(
    pattern: str, image_column: str, id_column: str | None = None
) -> list[ParquetTask]:
    """Parquet files (a path or glob) → one task per row group; checks the columns exist."""
    paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if not paths or not all(os.path.isfile(p) for p in paths):
        raise EvalIndexError("no_images", f"{pattern!r} matches no Parquet file")
    tasks = []
    for path in paths:
        try:
            meta = pq.ParquetFile(path).metadata
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowException) as e:
            raise EvalIndexError("bad_parquet", f"{path}: {e}") from e
        for column in (image_column, id_column):
            if column is not None and column not in names:
                raise EvalIndexError("missing_column", f"{path}: no column {column!r} in {names}")
        first = 0
        for g in range(meta.num_row_groups):
            tasks.append(ParquetTask(path, g, first, image_column, id_column))
            first += meta.row_group(g).num_rows
    return tasks


# ---------------------------------------------------------------- reading and hashing


def iter_task_images(
    task: EvalTask, opener: Opener = open_local
) -> Iterator[tuple[str, str, bytes | None]]:
    """(image id, key for rejections, bytes or None when absent) of each image of a task."""
    if isinstance(task, ImageFileTask):
        try:
            with opener(task.path) as f:
                yield task.image_id, task.path, f.read()
        except OSError:
            yield task.image_id, task.path, None
        return
    with opener(task.path) as f:
        table = pq.ParquetFile(f).read_row_group(
            task.row_group, columns=[c for c in (task.image_column, task.id_column) if c]
        )
    images = table.column(task.image_column).to_pylist()
    ids = table.column(task.id_column).to_pylist() if task.id_column else [None] * len(images)
    stem = os.path.splitext(os.path.basename(task.path))[0]
    for n, (value, given_id) in enumerate(zip(images, ids, strict=True)):
        data, inner_path = _image_value(value)
        if given_id is not None:
            image_id = str(given_id)
        elif inner_path:  # Hugging Face `Image` feature: the original file name
            image_id = os.path.splitext(os.path.basename(inner_path))[0]
        else:
            image_id = f"{stem}-{task.first_row + n}"
        yield image_id, f"{task.path}#{task.first_row + n}", data


def _image_value(value: Any) -> tuple[bytes | None, str | None]:
    """Bytes (and original path) from a binary cell or a {bytes, path} struct cell."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    if isinstance(value, dict):
        data = value.get("bytes")
        return (bytes(data) if data else None), value.get("path")
    return None, None


def hash_task(
    task: EvalTask,
    dataset: str,
    split: str,
    cfg: EvalIndexConfig,
    opener: Opener = open_local,
) -> Iterator[HashedImage | Rejection]:
    """Every image of a task hashed, or a Rejection saying why it could not be."""
    for image_id, key, data in iter_task_images(task, opener):
        if data is None:
            yield Rejection(STAGE, "missing_image", key, f"{dataset}/{image_id}: no bytes")
            continue
        try:
            yield _hash(data, image_id, dataset, split, cfg)
        except ImageRejected as e:
            yield Rejection(STAGE, e.reason, key, f"{dataset}/{image_id}: {e.detail}")


def with_embeddings(images: Sequence[HashedImage], embedder: Embedder | None) -> list:
    """The images with `entry.embedding` set (when there is an embedder) and pixels dropped."""
    if embedder is None or not images:
        return [HashedImage(i.entry, i.thumbnail) for i in images]
    vectors = embedder.embed([i.image for i in images])
    return [
        HashedImage(replace(i.entry, embedding=tuple(v.tolist())), i.thumbnail)
        for i, v in zip(images, vectors, strict=True)
    ]


@dataclass(frozen=True)
class BuildResult:
    """What one dataset build wrote."""

    path: str
    entries: int
    rejections: tuple[Rejection, ...]


def build_eval_dataset(
    index_dir: str,
    dataset: str,
    split: str,
    tasks: Sequence[EvalTask],
    cfg: EvalIndexConfig | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
) -> BuildResult:
    """Hash every image of `tasks` in this process (with a progress bar) and write the dataset."""
    cfg = cfg or EvalIndexConfig()
    images: list[HashedImage] = []
    pending: list[HashedImage] = []  # hashed, waiting for a full embedding batch
    rejections: list[Rejection] = []
    for task in tqdm(tasks, desc=f"index {dataset}", unit="task", disable=not progress):
        for item in hash_task(task, dataset, split, cfg):
            if isinstance(item, Rejection):
                rejections.append(item)
                continue
            pending.append(item)
            if len(pending) >= EMBED_BATCH:
                images += with_embeddings(pending, embedder)
                pending = []
    images += with_embeddings(pending, embedder)
    path = write_dataset(index_dir, dataset, images, embedder.name if embedder else None)
    write_rejections(index_dir, dataset, rejections)
    log.info("%s: %d images indexed, %d rejected → %s", dataset, len(images), len(rejections), path)
    return BuildResult(path, len(images), tuple(rejections))


def write_rejections(index_dir: str, dataset: str, rejections: Sequence[Rejection]) -> None:
    """The eval images that could not be indexed (an old list is replaced or removed)."""
    path = rejected_path(index_dir, dataset)
    if not rejections:
        if os.path.exists(path):
            os.remove(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rows = [rejection_to_row(r) for r in rejections]
    pq.write_table(pa.Table.from_pylist(rows, schema=REJECTION_SCHEMA), path)
