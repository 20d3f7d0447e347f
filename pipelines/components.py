"""Connected components of pairs at Beam scale: each member → the least member of its group.

Used by the near-duplicate stages: pairs are found by grouping (band keys, phash blocks);
closing them into groups needs every pair at once, so the pairs, not the corpus, are
combined into one union-find: a partial forest per bundle, the forests merged (the design
of datatrove's single-task MinhashDedupCluster). Its size is the number of members that
have a pair, e.g. the documents that have a near-duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from curation.dedup import UnionFind


class _UnionFindFn(beam.CombineFn):
    """Pairs → one UnionFind."""

    def create_accumulator(self) -> UnionFind:
        return UnionFind()

    def add_input(self, acc: UnionFind, pair: tuple[Any, Any]) -> UnionFind:
        acc.union(pair[0], pair[1])
        return acc

    def merge_accumulators(self, accs: Iterable[UnionFind]) -> UnionFind:
        it = iter(accs)
        merged = next(it)
        for acc in it:
            merged.merge(acc)
        return merged

    def extract_output(self, acc: UnionFind) -> UnionFind:
        return acc


def _members(uf: UnionFind) -> Iterator[tuple[Any, Any]]:
    yield from uf.roots().items()


class ConnectedComponents(beam.PTransform):
    """Pairs (a, b) → (member, root) for every member of a pair; root: the least of its group."""

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        return (
            pairs
            | "UnionFind" >> beam.CombineGlobally(_UnionFindFn())
            | "Members" >> beam.FlatMap(_members)
        )
