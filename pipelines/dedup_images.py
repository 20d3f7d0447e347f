"""Image deduplication across documents: exact (sha256), over-cap and near-duplicate (phash).

Counted per image node in stage ``dedup_images`` (in = out + rejected): removing an image
from a document does not drop the document, its text stays. The first occurrence in
`curation.dedup.doc_order_key` order (then node position) is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from curation.dedup import (
    ImageDedupConfig,
    ImageOccurrence,
    describe_doc_key,
    image_occurrences,
    phash_block_keys,
    phash_group_edges,
)
from curation.hashing import hamming
from pipelines.components import ConnectedComponents
from pipelines.counting import REJECTED, StageCounters
from schemas import ImageNode

DOCUMENTS = "documents"
DEDUP_IMAGES = "dedup_images"
_KEPT, _REMOVED = "kept", "removed"

# (node index, sha256, reason, detail): an image node to take out of a document.
ImageRemoval = tuple[int, str, str, str]


class _ImageGroupFn(beam.CombineFn):
    """Occurrences of one sha256 → (first occurrence, documents holding it, counted to cap + 1)."""

    def __init__(self, cap: int | None) -> None:
        self._cap = cap

    def create_accumulator(self) -> tuple[ImageOccurrence | None, set[str]]:
        return None, set()

    def add_input(self, acc: Any, occ: ImageOccurrence) -> Any:
        first, docs = acc
        if self._cap is not None and len(docs) <= self._cap:
            docs.add(occ.doc_id)  # only "more than cap" matters: the set stops growing there
        return (occ if first is None or occ < first else first), docs

    def merge_accumulators(self, accs: Iterable[Any]) -> Any:
        firsts, docs = [], set()
        for first, d in accs:
            if first is not None:
                firsts.append(first)
            docs |= d
        return (min(firsts) if firsts else None), docs

    def extract_output(self, acc: Any) -> tuple[ImageOccurrence | None, int]:
        first, docs = acc
        return first, len(docs)


def _decide_exact(element: tuple[str, dict[str, Iterable[Any]]], cfg: ImageDedupConfig) -> Any:
    """Each occurrence of one sha256 → kept (main) or an ImageRemoval (tag ``removed``)."""
    sha, groups = element
    (first, n_docs), *_ = groups["summary"]
    over_cap = cfg.max_occurrences is not None and n_docs > cfg.max_occurrences
    for occ in groups["occs"]:
        if over_cap:
            detail = (
                f"image in more than {cfg.max_occurrences} documents (max_occurrences): "
                f"removed from all, first was in {describe_doc_key(first.doc_key)}"
            )
            yield TaggedOutput(
                _REMOVED, (occ.doc_id, (occ.node_index, sha, "image_over_occurrence_cap", detail))
            )
        elif cfg.exact and occ != first:
            where = "earlier in the same document" if occ.doc_key == first.doc_key else "in"
            kept = describe_doc_key(first.doc_key)
            detail = f"same sha256 as the image kept {where} {kept}: {first.url}"
            yield TaggedOutput(
                _REMOVED, (occ.doc_id, (occ.node_index, sha, "duplicate_image_sha256", detail))
            )
        else:
            yield occ


def _to_component(
    element: tuple[int, dict[str, Iterable[Any]]],
) -> Iterator[tuple[int, ImageOccurrence]]:
    """Occurrences of one phash → (component root phash, occurrence), where there is a choice."""
    phash, groups = element
    roots = list(groups["roots"])
    occs = list(groups["occs"])
    if roots or len(occs) > 1:  # a lone hash with no neighbour has nothing to decide
        root = roots[0] if roots else phash
        for occ in occs:
            yield root, occ


def _decide_near(
    element: tuple[int, dict[str, Iterable[Any]]], cfg: ImageDedupConfig
) -> Iterator[Any]:
    _, groups = element
    (first,) = groups["first"]
    for occ in groups["occs"]:
        if occ != first:
            detail = (
                f"phash distance {hamming(occ.phash, first.phash)} (radius {cfg.radius}, "
                f"directly or through a chain) to the image kept in "
                f"{describe_doc_key(first.doc_key)}: {first.url}"
            )
            yield occ.doc_id, (occ.node_index, occ.sha256, "near_duplicate_image", detail)


class _PhashEdgesFn(beam.DoFn):
    def __init__(self, cfg: ImageDedupConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters(DEDUP_IMAGES)

    def process(self, element: tuple[tuple[int, int], Iterable[tuple[int, bool]]]) -> Iterator[Any]:
        key, members = element
        members = list(members)
        if len(members) < 2:
            return
        edges = phash_group_edges(key, members, self._cfg)
        self._c.count("near_duplicate_pairs", len(edges))
        for a, b, _ in edges:
            yield a, b


class _RemoveImagesFn(beam.DoFn):
    """(doc_id, {docs, removed}) → the document without its removed image nodes (text stays)."""

    def setup(self) -> None:
        self._c = StageCounters(DEDUP_IMAGES)

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _, groups = element
        removals = {(i, sha): (reason, detail) for i, sha, reason, detail in groups["removed"]}
        for doc in groups["docs"]:
            nodes = []
            for i, node in enumerate(doc.nodes):
                if isinstance(node, ImageNode):
                    self._c.received()
                    hit = removals.get((i, node.image.sha256)) if node.image is not None else None
                    if hit is not None:
                        yield self._c.reject(hit[0], node.src, hit[1])
                        continue
                    self._c.passed()
                nodes.append(node)
            yield doc if len(nodes) == len(doc.nodes) else replace(doc, nodes=tuple(nodes))


class DedupImages(beam.PTransform):
    """Exact (sha256), over-cap and near-duplicate (phash) images across documents.

    The first occurrence in keep-first order stays; the others leave their documents,
    text untouched. An image in more than ``max_occurrences`` documents leaves them all.
    """

    def __init__(self, cfg: ImageDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        cfg = self._cfg
        # Any: occurrences travel pickled, as the NamedTuple they are, rather than through a
        # schema coder Beam might infer from the annotations.
        occs = docs | "Occurrences" >> beam.FlatMap(image_occurrences).with_output_types(Any)
        removals = []
        if cfg.exact or cfg.max_occurrences is not None:
            by_sha = occs | "KeyBySha" >> beam.Map(lambda o: (o.sha256, o))
            summary = by_sha | "ShaGroups" >> beam.CombinePerKey(_ImageGroupFn(cfg.max_occurrences))
            decided = (
                {"occs": by_sha, "summary": summary}
                | "JoinSha" >> beam.CoGroupByKey()
                | "DecideExact"
                >> beam.FlatMap(_decide_exact, cfg).with_outputs(_REMOVED, main=_KEPT)
            )
            occs = decided[_KEPT]
            removals.append(decided[_REMOVED])
        if cfg.near:
            removals.append(occs | "Near" >> _NearImages(cfg))
        removed = (
            tuple(removals) | "AllRemovals" >> beam.Flatten()
            if removals
            else docs.pipeline | "NoRemovals" >> beam.Create([])
        )
        keyed = docs | "KeyDocs" >> beam.Map(lambda d: (d.doc_id, d))
        return (
            {"docs": keyed, "removed": removed}
            | "JoinDocs" >> beam.CoGroupByKey()
            | "Remove" >> beam.ParDo(_RemoveImagesFn()).with_outputs(REJECTED, main=DOCUMENTS)
        )


class _NearImages(beam.PTransform):
    """Image occurrences → (doc_id, ImageRemoval) for all but the first of each phash component."""

    def __init__(self, cfg: ImageDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, occs: beam.PCollection) -> beam.PCollection:
        cfg = self._cfg
        roots = (
            occs
            | "Phashes" >> beam.Map(lambda o: o.phash)
            | "Distinct" >> beam.Distinct()
            | "BlockKeys"
            >> beam.FlatMap(lambda p: ((k, (p, home)) for k, home in phash_block_keys(p, cfg)))
            | "GroupByBlock" >> beam.GroupByKey()
            | "Pairs" >> beam.ParDo(_PhashEdgesFn(cfg))
            | "Components" >> ConnectedComponents()
        )
        components = (
            {"occs": occs | "KeyByPhash" >> beam.Map(lambda o: (o.phash, o)), "roots": roots}
            | "JoinRoots" >> beam.CoGroupByKey()
            | "ByComponent" >> beam.FlatMap(_to_component)
        )
        first = components | "FirstInComponent" >> beam.CombinePerKey(min)
        return (
            {"occs": components, "first": first}
            | "JoinFirst" >> beam.CoGroupByKey()
            | "DecideNear" >> beam.FlatMap(_decide_near, cfg)
        )
