"""Deduplication inside the corpus: near-duplicate documents, duplicate paragraphs and images.

Each decision is made by grouping, on a paragraph hash, an LSH band key, a sha256 or a
phash block (images: `pipelines.dedup_images`), so no worker holds the corpus; confirmed
near-duplicate pairs are closed into groups by `pipelines.components.ConnectedComponents`.
In each group the least member in `curation.dedup.doc_order_key` order is kept, whatever
order the runner delivers.

Stages and counters (namespace ``interleaf.<stage>``): ``dedup_documents`` and
``dedup_paragraphs`` count documents in/out; ``dedup_images`` counts image nodes in/out,
because removing an image from a document does not drop the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from curation.dedup import (
    DedupConfig,
    DocKey,
    describe_doc_key,
    doc_order_key,
    keep_paragraphs,
    paragraph_occurrences,
)
from curation.minhash import (
    MinHashConfig,
    band_group_edges,
    band_keys,
    band_of_key,
    permutation_seeds,
    signature_bytes,
    signature_from_bytes,
    text_signature,
)
from pipelines.components import ConnectedComponents
from pipelines.counting import REJECTED, StageCounters
from pipelines.dedup_images import DEDUP_IMAGES, DedupImages
from schemas import Document

__all__ = [
    "DEDUP_DOCUMENTS",
    "DEDUP_IMAGES",
    "DEDUP_PARAGRAPHS",
    "DOCUMENTS",
    "CorpusDedup",
    "DedupDocuments",
    "DedupImages",
    "DedupParagraphs",
]

DOCUMENTS = "documents"
DEDUP_DOCUMENTS, DEDUP_PARAGRAPHS = "dedup_documents", "dedup_paragraphs"


def _by_doc_id(doc: Document) -> tuple[str, Document]:
    return doc.doc_id, doc


# ------------------------------------------------------------------ documents


class _SignatureFn(beam.DoFn):
    """Document → (band key, (doc key, signature bytes)) for each LSH band."""

    def __init__(self, cfg: MinHashConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters(DEDUP_DOCUMENTS)
        self._seeds = permutation_seeds(self._cfg.num_perm, self._cfg.seed)

    def process(self, doc: Document) -> Iterator[tuple[bytes, tuple[DocKey, bytes]]]:
        sig = text_signature(doc.text, self._cfg, self._seeds)
        if sig is None:
            self._c.count("no_text")  # nothing to compare: passes through untouched
            return
        value = (doc_order_key(doc), signature_bytes(sig))
        for key in band_keys(sig, self._cfg.bands, self._cfg.rows):
            yield key, value


class _BandEdgesFn(beam.DoFn):
    """(band key, members) → confirmed near-duplicate pairs (earlier doc key, later doc key)."""

    def __init__(self, cfg: MinHashConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters(DEDUP_DOCUMENTS)

    def process(self, element: tuple[bytes, Iterable[tuple[DocKey, bytes]]]) -> Iterator[Any]:
        key, members = element
        members = list(members)
        if len(members) < 2:
            return
        sigs = [(k, signature_from_bytes(s)) for k, s in members]
        edges = band_group_edges(band_of_key(key), sigs, self._cfg)
        self._c.count("candidate_groups")
        self._c.count("near_duplicate_pairs", len(edges))
        for a, b, _ in edges:
            yield a, b


class _DropDocumentsFn(beam.DoFn):
    """(doc_id, {docs, kept_as}) → the document, or a rejection naming the kept one."""

    def __init__(self, cfg: MinHashConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters(DEDUP_DOCUMENTS)

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _, groups = element
        kept_as = sorted(groups["kept_as"])
        for doc in groups["docs"]:
            self._c.received()
            if kept_as:
                yield self._c.reject(
                    "near_duplicate_document",
                    doc.url,
                    f"estimated Jaccard >= {self._cfg.threshold} on {self._cfg.ngram}-word "
                    f"shingles (directly or through a chain) with kept document "
                    f"{describe_doc_key(kept_as[0])}",
                )
            else:
                self._c.passed()
                yield doc


class DedupDocuments(beam.PTransform):
    """Near-duplicate documents by MinHash-LSH: one per group of near-duplicates is kept."""

    def __init__(self, cfg: MinHashConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        dropped = (
            docs
            | "Signatures" >> beam.ParDo(_SignatureFn(self._cfg))
            | "GroupByBand" >> beam.GroupByKey()
            | "ConfirmPairs" >> beam.ParDo(_BandEdgesFn(self._cfg))
            | "Components" >> ConnectedComponents()
            | "NotLeast" >> beam.Filter(lambda mr: mr[0] != mr[1])
            | "ByDocId" >> beam.Map(lambda mr: (mr[0][2], mr[1]))
        )
        keyed = docs | "KeyDocs" >> beam.Map(_by_doc_id)
        return (
            {"docs": keyed, "kept_as": dropped}
            | "JoinDocs" >> beam.CoGroupByKey()
            | "Drop"
            >> beam.ParDo(_DropDocumentsFn(self._cfg)).with_outputs(REJECTED, main=DOCUMENTS)
        )


# ------------------------------------------------------------------ paragraphs


def _paragraphs(doc: Document) -> Iterator[tuple[bytes, tuple[DocKey, int, int]]]:
    key = doc_order_key(doc)
    for h, node, line in paragraph_occurrences(doc):
        yield h, (key, node, line)


def _winner_by_doc(element: tuple[bytes, tuple[DocKey, int, int]]) -> tuple[str, Any]:
    h, (key, node, line) = element
    return key[2], (node, line, h)


class _KeepParagraphsFn(beam.DoFn):
    """(doc_id, {docs, wins}) → the document with only the paragraphs it is first to hold."""

    def setup(self) -> None:
        self._c = StageCounters(DEDUP_PARAGRAPHS)

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _, groups = element
        wins = set(groups["wins"])
        for doc in groups["docs"]:
            self._c.received()
            kept, removed, emptied = keep_paragraphs(doc, wins)
            self._c.count("duplicate_paragraph", removed)
            if emptied:
                yield self._c.reject(
                    "all_paragraphs_duplicate",
                    doc.url,
                    f"all {removed} paragraphs appear earlier in the corpus",
                )
                continue
            self._c.passed()
            yield kept


class DedupParagraphs(beam.PTransform):
    """Exact duplicate paragraphs (normalised): each stays in the first document only."""

    def expand(self, docs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        # The first occurrence of each paragraph goes to its document, so the join is by
        # doc_id: a paragraph in a million pages (a cookie notice) is combined before the
        # shuffle (CombinePerKey is lifted) and never makes a hot key.
        wins = (
            docs
            | "Paragraphs" >> beam.FlatMap(_paragraphs)
            | "FirstOccurrence" >> beam.CombinePerKey(min)
            | "ByDocId" >> beam.Map(_winner_by_doc)
        )
        keyed = docs | "KeyDocs" >> beam.Map(_by_doc_id)
        return (
            {"docs": keyed, "wins": wins}
            | "JoinDocs" >> beam.CoGroupByKey()
            | "Keep" >> beam.ParDo(_KeepParagraphsFn()).with_outputs(REJECTED, main=DOCUMENTS)
        )


# ------------------------------------------------------------------ all of it


class CorpusDedup(beam.PTransform):
    """Documents → (documents, rejections): near-duplicate documents, then paragraphs, then images.

    Documents first: dropping a near-duplicate page whole is better than keeping the
    fragments paragraph dedup would leave of it. Images last, so the copy kept is in a
    document that survives the text stages.
    """

    def __init__(self, cfg: DedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        cfg = self._cfg
        rejections = []
        stages: list[tuple[str, beam.PTransform]] = []
        if cfg.documents:
            stages.append(("DedupDocuments", DedupDocuments(cfg.minhash)))
        if cfg.paragraphs:
            stages.append(("DedupParagraphs", DedupParagraphs()))
        if cfg.images and cfg.image.enabled:
            stages.append(("DedupImages", DedupImages(cfg.image)))
        for label, stage in stages:
            out = docs | label >> stage
            docs = out[DOCUMENTS]
            rejections.append(out[REJECTED])
        if not rejections:
            return docs, docs.pipeline | "NoRejections" >> beam.Create([])
        return docs, tuple(rejections) | "AllRejections" >> beam.Flatten()
