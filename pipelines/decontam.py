"""Decontamination: drop crawl images that are near-duplicates of evaluation-set images.

The eval index (curation.eval_index) is loaded once per worker process in
`DoFn.setup()` and shared by the DoFn instances of that process (`beam.utils.shared`),
so a 10M-entry index costs one load per worker, not one per thread or bundle. Every
dropped image is a ``decontam/eval_duplicate`` rejection whose detail names the matched
``dataset/image_id distance=d``, plus a hit record (with a thumbnail) for
``curate decontam-report``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils import shared

from curation.decontam_report import HITS_NAME, REASON, STAGE
from curation.eval_index import (
    DecontamConfig,
    EvalIndex,
    EvalIndexError,
    EvalMatch,
    embedding_model_of,
    make_thumbnail,
)
from pipelines.counting import REJECTED, StageCounters
from pipelines.io import WriteRecords
from schemas import (
    DECONTAM_HIT_SCHEMA,
    EVAL_INDEX_SCHEMA,
    DecontamHit,
    Document,
    ImageNode,
    ImageRecord,
    check_schema,
    hit_to_row,
)

log = logging.getLogger(__name__)

HITS = "hits"


def index_files(index: str) -> list[str]:
    """The dataset files of an index directory (any Beam filesystem) or the one file given."""
    if index.endswith(".parquet"):
        return [index]
    pattern = FileSystems.join(index, "*.parquet")
    found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    paths = sorted(p for p in found if not p.rsplit("/", 1)[-1].startswith("."))
    if not paths:
        raise EvalIndexError("empty_index", f"{index}: holds no <dataset>.parquet file")
    return paths


def check_eval_index(index: str, cfg: DecontamConfig) -> list[str]:
    """Fail fast (at the CLI) on a missing or foreign index; returns its dataset files."""
    try:
        paths = index_files(index)
    except OSError as e:
        raise EvalIndexError("index_not_found", f"{index}: {e}") from e
    for path in paths:
        with FileSystems.open(path) as f:
            schema = pq.read_schema(f)
        check_schema(schema, EVAL_INDEX_SCHEMA, path)
        model = embedding_model_of(schema)
        if cfg.embedding is not None and model != cfg.embedding.name:
            raise EvalIndexError(
                "embedding_model_mismatch",
                f"{path}: embeddings by {model!r}, verification uses {cfg.embedding.name!r}",
            )
    return paths


def load_index(index: str, radius: int) -> EvalIndex:
    """Read every dataset file of the index (local or remote) into one EvalIndex."""
    started = time.monotonic()
    tables = []
    for path in index_files(index):
        with FileSystems.open(path) as f:
            tables.append((path, pq.read_table(f)))
    loaded = EvalIndex(tables, radius)
    log.info(
        "eval index %s: %d entries (%s) loaded in %.1fs",
        index,
        len(loaded),
        ", ".join(f"{k}={v}" for k, v in loaded.counts().items()),
        time.monotonic() - started,
    )
    return loaded


class DecontamFn(beam.DoFn):
    """Shared set-up: the index (once per process), the optional verifier, counters."""

    PROGRESS_EVERY_S = 10.0

    def __init__(self, index: str, cfg: DecontamConfig, handle: shared.Shared) -> None:
        self._path, self._cfg, self._handle = index, cfg, handle

    def setup(self) -> None:
        self._c = StageCounters(STAGE)
        path, radius = self._path, self._cfg.radius
        self._index = self._handle.acquire(lambda: load_index(path, radius), tag=(path, radius))
        self._verifier = None
        if self._cfg.embedding is not None:
            from curation.embedding_verify import EmbeddingVerifier

            self._verifier = EmbeddingVerifier(self._cfg.embedding)
            self._verifier.check_index(self._index)
        self._checked, self._dropped, self._last_log = 0, 0, time.monotonic()

    def matches(self, records: Sequence[ImageRecord]) -> list[EvalMatch | None]:
        """The eval match of each image (None: keep it)."""
        if not records:
            return []
        if self._verifier is not None:
            return self._verifier.find(self._index, records)
        return self._index.nearest([r.phash for r in records])

    def drop(self, key: str, record: ImageRecord, match: EvalMatch) -> Iterator[Any]:
        """The rejection and the report's hit record for one dropped image."""
        yield self._c.reject(REASON, key, match.describe())
        yield self.hit(key, record, match)

    def hit(self, key: str, record: ImageRecord, match: EvalMatch) -> Any:
        """The report's record of one matched image (with a thumbnail), on the ``hits`` tag."""
        thumb = make_thumbnail(record.bytes, self._cfg.thumbnail_side)
        return beam.pvalue.TaggedOutput(
            HITS,
            DecontamHit(
                key,
                match.dataset,
                match.split,
                match.image_id,
                match.distance,
                match.cosine,
                thumb,
                self._path,
            ),
        )

    def progress(self, checked: int, dropped: int) -> None:
        self._checked += checked
        self._dropped += dropped
        now = time.monotonic()
        if now - self._last_log >= self.PROGRESS_EVERY_S:
            self._last_log = now
            log.info("decontam: %d images checked, %d dropped", self._checked, self._dropped)


class _DropFromDocumentsFn(DecontamFn):
    """Document → the same document without its eval-duplicate image nodes (text stays)."""

    def process(self, doc: Document) -> Iterator[Any]:
        where = [
            i for i, n in enumerate(doc.nodes) if isinstance(n, ImageNode) and n.image is not None
        ]
        nodes: list[ImageNode] = [doc.nodes[i] for i in where]  # type: ignore[misc]
        found = self.matches([n.image for n in nodes])  # type: ignore[misc]
        dropped: set[int] = set()
        for i, node, match in zip(where, nodes, found, strict=True):
            self._c.received()
            if match is None:
                self._c.passed()
                continue
            dropped.add(i)
            yield from self.drop(node.src, node.image, match)  # type: ignore[arg-type]
        self.progress(len(nodes), len(dropped))
        if dropped:
            kept = tuple(n for i, n in enumerate(doc.nodes) if i not in dropped)
            doc = replace(doc, nodes=kept)
        yield doc


class _DropElementsFn(DecontamFn):
    """An element carrying images → itself, or a rejection when any of its images matches."""

    def __init__(
        self,
        index: str,
        cfg: DecontamConfig,
        handle: shared.Shared,
        images_fn: Callable[[Any], Sequence[ImageRecord]],
        key_fn: Callable[[Any], str],
    ) -> None:
        super().__init__(index, cfg, handle)
        self._images_fn, self._key_fn = images_fn, key_fn

    def process(self, element: Any) -> Iterator[Any]:
        self._c.received()
        records = list(self._images_fn(element))
        found = [(r, m) for r, m in zip(records, self.matches(records), strict=True) if m]
        self.progress(len(records), len(found))
        if not found:
            self._c.passed()
            yield element
            return
        closest = min((m for _, m in found), key=lambda m: m.distance)
        # One rejection per element keeps in = out + rejected; the hit rows show every image.
        yield self._c.reject(REASON, self._key_fn(element), closest.describe())
        for record, match in found:
            yield self.hit(record.url or self._key_fn(element), record, match)


def _pass_through(element: Any) -> Iterator[Any]:
    yield element


class DropEvalDuplicates(beam.PTransform):
    """M3W documents → documents without eval-duplicate images; tags ``documents``,
    ``rejected`` (Rejection per dropped image) and ``hits`` (DecontamHit per dropped image).

    With ``eval_index=None`` documents pass through unchanged and the other tags are empty.
    """

    def __init__(self, eval_index: str | None, cfg: DecontamConfig | None = None) -> None:
        super().__init__()
        self._index, self._cfg = eval_index, cfg or DecontamConfig()

    def expand(self, docs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        fn: Any = _pass_through
        if self._index is not None:
            fn = _DropFromDocumentsFn(self._index, self._cfg, shared.Shared())
        return docs | "Decontam" >> beam.ParDo(fn).with_outputs(REJECTED, HITS, main="documents")


def pair_images(sample: Any) -> Sequence[ImageRecord]:
    """The image of a PairSample (the default for DropEvalDuplicateImages)."""
    return [sample.image]


def sample_url(element: Any) -> str:
    return str(getattr(element, "url", "") or getattr(element, "sample_id", ""))


class DropEvalDuplicateImages(beam.PTransform):
    """Elements carrying ImageRecords (pairs; video frames as records) → the elements none of
    whose images is an eval duplicate; tags ``records``, ``rejected`` (one per dropped
    element, keyed by `key_fn`) and ``hits`` (one per matching image)."""

    def __init__(
        self,
        eval_index: str | None,
        images_fn: Callable[[Any], Sequence[ImageRecord]] = pair_images,
        key_fn: Callable[[Any], str] = sample_url,
        cfg: DecontamConfig | None = None,
    ) -> None:
        super().__init__()
        self._index, self._cfg = eval_index, cfg or DecontamConfig()
        self._images_fn, self._key_fn = images_fn, key_fn

    def expand(self, elements: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        fn: Any = _pass_through
        if self._index is not None:
            fn = _DropElementsFn(
                self._index, self._cfg, shared.Shared(), self._images_fn, self._key_fn
            )
        return elements | "Decontam" >> beam.ParDo(fn).with_outputs(REJECTED, HITS, main="records")


class WriteDecontamHits(beam.PTransform):
    """Hits → ``<output>/decontam-hits-*.parquet`` (what `curate decontam-report` shows)."""

    def __init__(self, output_dir: str, num_shards: int = 0) -> None:
        super().__init__()
        self._output_dir, self._num_shards = output_dir, num_shards

    def expand(self, hits: beam.PCollection) -> beam.pvalue.PDone:
        return hits | WriteRecords(
            self._output_dir, HITS_NAME, DECONTAM_HIT_SCHEMA, hit_to_row, self._num_shards
        )
