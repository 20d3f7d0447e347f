"""Deduplication inside the corpus: the keep-first order, paragraph and image keys, components.

Pure functions on plain values. `pipelines/dedup.py` groups by the keys made here
(paragraph hash, sha256, phash block, LSH band), so every candidate pair is found by a
shuffle, never by one worker holding the corpus; `UnionFind` then closes near-duplicate
pairs into groups whose least member, in `doc_order_key` order, is the one kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from math import comb
from typing import Generic, NamedTuple, TypeVar

import numpy as np

from curation.minhash import DedupConfigError, MinHashConfig, normalize_text
from schemas import Document, ImageNode, TextNode

DocKey = tuple[str, str, str]  # (fetch_time, url, doc_id): see doc_order_key
BlockKey = tuple[int, int]  # (block index, block value) of a phash
T = TypeVar("T", bound=Hashable)

# A phash probe enumerates every block value within radius // blocks; past this many keys per
# block the shuffle is larger than comparing the block's group directly (ours).
MAX_PROBES_PER_BLOCK = 4096


@dataclass(frozen=True)
class ImageDedupConfig:
    """Which images count as duplicates across documents."""

    exact: bool = True  # one occurrence per sha256 in the corpus (issue 3)
    # OBELICS removes an image found more than 10 times from every document holding it, the
    # first too (build_obelics/06_02 THRESHOLD_TOO_DUPLICATED = 10, 06_03): such images are
    # logos, icons and ads. OBELICS counts by URL; here by content (sha256). None: no cap.
    max_occurrences: int | None = 10
    near: bool = True  # near-duplicates by phash (issue 3)
    # Measured on the photos of /work/shared/corpus/images (33 originals): resize 0.5x,
    # JPEG q30 and resize 0.25x + q50 stay within 4 bits of the original's phash, while the
    # closest two distinct photos are 20 bits apart (a stereo pair of one scene: 4). Corpus
    # dedup favours precision, because a false match deletes a distinct training image.
    radius: int = 4
    # None: radius + 1 blocks, the pigeonhole split (any pair within radius agrees exactly on
    # one block). Fewer, wider blocks probe radius // blocks bits per block instead, trading a
    # larger fan-out for smaller groups: use 2 or 3 past ~10^7 distinct hashes.
    blocks: int | None = None

    def __post_init__(self) -> None:
        if self.max_occurrences is not None and self.max_occurrences < 1:
            raise DedupConfigError(
                "bad_config", f"max_occurrences={self.max_occurrences}, must be >= 1 or None"
            )
        if not 0 <= self.radius < 64:
            raise DedupConfigError("bad_config", f"radius={self.radius}, must be in [0, 64)")
        if not 1 <= self.num_blocks <= 64:
            raise DedupConfigError("bad_config", f"blocks={self.blocks}, must be in [1, 64]")
        width = -(-64 // self.num_blocks)
        probes = sum(comb(width, k) for k in range(1, self.probe_radius + 1))
        if probes > MAX_PROBES_PER_BLOCK:
            raise DedupConfigError(
                "bad_config",
                f"radius={self.radius} over blocks={self.num_blocks} probes {probes} keys per "
                f"block (> {MAX_PROBES_PER_BLOCK}); use more blocks",
            )

    @property
    def num_blocks(self) -> int:
        return self.radius + 1 if self.blocks is None else self.blocks

    @property
    def probe_radius(self) -> int:
        # Generalised pigeonhole: if every block differed in > radius // blocks bits, the
        # whole hash would differ in > radius bits.
        return self.radius // self.num_blocks

    @property
    def enabled(self) -> bool:
        return self.exact or self.near or self.max_occurrences is not None


@dataclass(frozen=True)
class DedupConfig:
    """Deduplication inside the corpus; each part can be switched off."""

    documents: bool = True  # MinHash-LSH near-duplicate documents (OBELICS, datatrove)
    paragraphs: bool = True  # exact duplicate paragraphs across documents (CCNet)
    images: bool = True  # exact / over-cap / near-duplicate images (see ImageDedupConfig)
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    image: ImageDedupConfig = field(default_factory=ImageDedupConfig)


def doc_order_key(doc: Document) -> DocKey:
    """The keep-first order: earliest fetch time, then URL, then doc_id (a total order)."""
    # The earliest capture is the likeliest original; URL and doc_id make the order total,
    # so what is kept does not depend on the order in which a runner delivers documents.
    return (doc.fetch_time, doc.url, doc.doc_id)


def describe_doc_key(key: DocKey) -> str:
    """'doc_id (url)', how a rejection names the document that was kept."""
    return f"{key[2]} ({key[1]})"


# ------------------------------------------------------------------ paragraphs


def paragraph_hash(paragraph: str) -> bytes | None:
    """128-bit digest of the normalised paragraph; None when nothing is left to compare."""
    # 128 bits: at 10^10 paragraphs a 64-bit digest would collide with probability ~0.9.
    normal = normalize_text(paragraph)
    return (
        hashlib.blake2b(normal.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if normal
        else None
    )


def paragraph_occurrences(doc: Document) -> Iterator[tuple[bytes, int, int]]:
    """(hash, node index, line index) of every paragraph: each line of each text node."""
    # A text node's lines are its paragraphs (block breaks become "\n" in extraction), the
    # unit CCNet deduplicates.
    for i, node in enumerate(doc.nodes):
        if isinstance(node, TextNode):
            for j, line in enumerate(node.text.split("\n")):
                h = paragraph_hash(line)
                if h is not None:
                    yield h, i, j


def keep_paragraphs(doc: Document, kept: set[tuple[int, int, bytes]]) -> tuple[Document, int, bool]:
    """The document with only its paragraphs in `kept` (node, line, hash); (doc, removed, emptied).

    Lines with nothing to compare (punctuation only) stay; emptied means the document had
    comparable paragraphs and none is left.
    """
    nodes: list = []
    removed = had = left = 0
    for i, node in enumerate(doc.nodes):
        if not isinstance(node, TextNode):
            nodes.append(node)
            continue
        lines, dropped = [], 0
        for j, line in enumerate(node.text.split("\n")):
            h = paragraph_hash(line)
            if h is not None:
                had += 1
                if (i, j, h) not in kept:
                    dropped += 1
                    continue
                left += 1
            lines.append(line)
        removed += dropped
        if not dropped:
            nodes.append(node)
        elif any(ln.strip() for ln in lines):
            nodes.append(TextNode("\n".join(lines)))
    return replace(doc, nodes=tuple(nodes)), removed, had > 0 and left == 0


# ------------------------------------------------------------------ images


class ImageOccurrence(NamedTuple):
    """One image node of one document; tuples order by (doc_key, node_index): keep-first."""

    doc_key: DocKey
    node_index: int
    url: str
    sha256: str
    phash: int

    @property
    def doc_id(self) -> str:
        return self.doc_key[2]


def image_occurrences(doc: Document) -> list[ImageOccurrence]:
    """Every image node that carries a fetched ImageRecord."""
    key = doc_order_key(doc)
    return [
        ImageOccurrence(key, i, node.src, node.image.sha256, node.image.phash)
        for i, node in enumerate(doc.nodes)
        if isinstance(node, ImageNode) and node.image is not None
    ]


def phash_block_spans(blocks: int) -> list[tuple[int, int]]:
    """(shift, width) of `blocks` contiguous bit ranges covering 64 bits, widths within 1."""
    base, extra = divmod(64, blocks)
    spans, top = [], 64
    for i in range(blocks):
        width = base + (1 if i < extra else 0)
        top -= width
        spans.append((top, width))
    return spans


def phash_block_keys(phash: int, cfg: ImageDedupConfig) -> Iterator[tuple[BlockKey, bool]]:
    """(key, is_home): the hash's own block values (home) and those within probe radius."""
    r = cfg.probe_radius
    for i, (shift, width) in enumerate(phash_block_spans(cfg.num_blocks)):
        value = (phash >> shift) & ((1 << width) - 1)
        yield (i, value), True
        for k in range(1, r + 1):
            for bits in combinations(range(width), k):
                yield (i, value ^ sum(1 << b for b in bits)), False


def phash_group_edges(
    key: BlockKey, members: Iterable[tuple[int, bool]], cfg: ImageDedupConfig
) -> list[tuple[int, int, int]]:
    """Pairs (a < b, distance) within radius found in one block group, each pair in one group only.

    A pair is reported where its first close block (difference <= probe radius) is
    this block, and, when the two hashes differ there, in the group of the lesser one.
    """
    homes = sorted({p for p, home in members if home})
    probes = sorted({p for p, home in members if not home} - set(homes))
    spans = phash_block_spans(cfg.num_blocks)
    index = key[0]
    edges: list[tuple[int, int, int]] = []
    for i, a in enumerate(homes):
        others = np.array(homes[i + 1 :] + [p for p in probes if p > a], dtype=np.uint64)
        if not others.size:
            continue
        x = others ^ np.uint64(a)
        close = np.bitwise_count(x) <= cfg.radius
        for shift, width in spans[:index]:
            part = (x >> np.uint64(shift)) & np.uint64((1 << width) - 1)
            close &= np.bitwise_count(part) > cfg.probe_radius
        for b, d in zip(others[close].tolist(), np.bitwise_count(x[close]).tolist(), strict=True):
            edges.append((a, int(b), int(d)))
    return edges


# ------------------------------------------------------------------ union-find


class UnionFind(Generic[T]):
    """Disjoint sets whose root is always the least member, whatever the order of unions."""

    def __init__(self) -> None:
        self.parent: dict[T, T] = {}

    def find(self, x: T) -> T:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: T, b: T) -> None:
        ra, rb = self.find(a), self.find(b)
        lo, hi = (ra, rb) if ra <= rb else (rb, ra)
        self.parent.setdefault(lo, lo)
        if hi != lo:
            self.parent[hi] = lo

    def union_all(self, pairs: Iterable[Sequence[T]]) -> UnionFind[T]:
        for pair in pairs:
            self.union(pair[0], pair[1])
        return self

    def merge(self, other: UnionFind[T]) -> UnionFind[T]:
        """Add every union of `other` (its parent links are pairs of one set)."""
        return self.union_all(other.parent.items())

    def roots(self) -> dict[T, T]:
        """Each member → the least member of its set."""
        return {x: self.find(x) for x in list(self.parent)}
