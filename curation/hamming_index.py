"""Exact Hamming-radius search over 64-bit hashes by multi-index hashing (MIH).

Norouzi, Punjani & Fleet, "Fast Search in Hamming Space with Multi-Index Hashing"
(CVPR 2012): cut each 64-bit hash into m disjoint substrings and keep one bucket table
per substring. If two hashes differ in at most r bits, then (pigeonhole) some substring
differs in at most floor(r / m) bits; the refinement used here: with r = s*m + a, one of
the first a+1 substrings is within s bits or one of the others is within s-1 bits
(otherwise the total would be >= (a+1)(s+1) + (m-a-1)s = r+1). Probing those buckets
and checking every candidate's full distance with a popcount gives exactly the entries
brute force finds, and nothing else.

Everything is vectorised over a batch of queries with numpy; the tables are built once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np

HASH_BITS = 64
# Substrings wider than this would need a bucket table of 2**bits offsets per substring
# (2**22 int32 = 16 MiB); narrower substrings only cost a few more candidates.
MAX_SUBSTRING_BITS = 22
# Cost of one bucket probe, and of one entry of a brute-force scan, relative to checking
# one candidate (~10 ns); fitted by hand on bench/hamming.py runs at 1M entries. They
# only steer the choice of m and of brute force, never the result.
PROBE_COST = 1.5
SCAN_COST = 0.15
# Queries are searched in batches of about this many probes plus candidates: large enough
# to amortise numpy's per-call overhead, small enough for temporaries of a few MiB
# (bench/hamming.py at 1M, R = 8: 2^16 → 67k, 2^20 → 116k, 2^22 → 117k queries/s).
BATCH_ELEMENTS = 1 << 20
# Sparse tables (< 1 entry per bucket) check bucket entries one rank at a time up to this
# rank before expanding the rest (see _Table._verify); dense tables expand at once.
STEPPED_ENTRIES = 8

_Part = tuple[np.ndarray, np.ndarray, np.ndarray]
_Parts = list[_Part]


class HammingIndexError(ValueError):
    """A bad argument to the index; `reason` is a counter name, `detail` the value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class HammingMatches:
    """Every (query, entry) pair within the radius, sorted by query, distance, entry."""

    query: np.ndarray  # int64 positions in the query array
    entry: np.ndarray  # int64 positions in the indexed array
    distance: np.ndarray  # int64 Hamming distances

    def __len__(self) -> int:
        return len(self.query)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64, as uint8."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0: one instruction per element
        return np.bitwise_count(x)
    as_bytes = x.view(np.uint8).reshape(*x.shape, 8)
    return _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)


_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def as_hashes(values: object) -> np.ndarray:
    """Any sequence of 64-bit unsigned ints (or an array) as a contiguous uint64 array."""
    if isinstance(values, np.ndarray):
        if values.dtype == np.uint64:
            return np.ascontiguousarray(values)
        if values.dtype == np.int64:
            return values.view(np.uint64)  # two's complement: same 64 bits
    items = list(values)  # type: ignore[call-overload]
    return np.fromiter((int(v) for v in items), dtype=np.uint64, count=len(items))


def brute_force_search(hashes: np.ndarray, queries: np.ndarray, radius: int) -> HammingMatches:
    """The reference: compare every query with every entry, xor + popcount."""
    hashes, queries = as_hashes(hashes), as_hashes(queries)
    _check_radius(radius)
    block = BATCH_ELEMENTS // max(1, len(hashes))
    parts: _Parts = []
    if block > 1:  # small index: many queries per numpy call
        for start in range(0, len(queries), block):
            dist = popcount64(queries[start : start + block, None] ^ hashes[None, :])
            qi, ei = np.nonzero(dist <= radius)
            parts.append((qi + start, ei, dist[qi, ei]))
        return _sorted_matches(parts)
    # Large index: one query at a time into reused buffers (no 2-D temporaries).
    xor, dist = np.empty_like(hashes), np.empty(len(hashes), dtype=np.uint8)
    near = np.empty(len(hashes), dtype=bool)
    for i, q in enumerate(queries):
        np.bitwise_xor(hashes, q, out=xor)
        _popcount_into(xor, dist)
        np.less_equal(dist, radius, out=near)
        ei = np.flatnonzero(near)
        parts.append((np.full(len(ei), i, dtype=np.int64), ei, dist[ei]))
    return _sorted_matches(parts)


def _popcount_into(x: np.ndarray, out: np.ndarray) -> None:
    if hasattr(np, "bitwise_count"):
        np.bitwise_count(x, out=out)
    else:
        out[:] = popcount64(x)


@lru_cache(maxsize=256)
def flip_masks(bits: int, max_flips: int) -> np.ndarray:
    """All `bits`-wide masks with at most `max_flips` set bits, by weight (0 first)."""
    masks = [0]
    for k in range(1, max(0, max_flips) + 1):
        masks += [sum(1 << i for i in c) for c in combinations(range(bits), k)]
    out = np.array(masks, dtype=np.int64)
    out.setflags(write=False)
    return out


def substring_widths(m: int) -> list[int]:
    """Widths of m contiguous substrings of 64 bits, differing by at most one."""
    base, extra = divmod(HASH_BITS, m)
    return [base + 1 if i < extra else base for i in range(m)]


def probe_radii(m: int, radius: int) -> list[int]:
    """Per-substring search radius (-1: not probed) that still finds every match."""
    s, a = divmod(radius, m)
    return [s if i <= a else s - 1 for i in range(m)]


def count_masks(bits: int, flips: int) -> int:
    """How many masks `flip_masks(bits, flips)` holds, without building them."""
    from math import comb

    return sum(comb(bits, k) for k in range(max(-1, flips) + 1))


def search_cost(n: int, m: int, radius: int) -> float:
    """Expected work per query of MIH with m substrings, in candidate checks."""
    cost = 0.0
    for width, flips in zip(substring_widths(m), probe_radii(m, radius), strict=True):
        probes = count_masks(width, flips)  # each finds n / 2**width candidates on average
        cost += probes * (PROBE_COST + n / float(1 << width))
    return cost


def choose_substrings(n: int, radius: int) -> int:
    """The m (number of substrings) with the lowest expected search cost for n entries."""
    m_min = -(-HASH_BITS // MAX_SUBSTRING_BITS)
    candidates = range(m_min, HASH_BITS // 2 + 1)
    return min(candidates, key=lambda m: (search_cost(n, m, radius), m))


class _Table:
    """One substring's buckets: entries ordered by substring value, with offsets (CSR)."""

    def __init__(self, hashes: np.ndarray, shift: int, width: int) -> None:
        self.shift, self.width = shift, width
        keys = self.keys(hashes)
        order = np.argsort(keys, kind="stable")
        index_dtype = np.int32 if len(hashes) < 2**31 else np.int64
        self.entries = order.astype(index_dtype)
        self.hashes = hashes[order]  # candidates of one bucket are contiguous here
        counts = np.bincount(keys, minlength=1 << width)
        # Most probes hit empty buckets (load ~0.25 at 1M entries, 22 bits): one byte per
        # bucket (its size, 255 meaning "255 or more") answers most probes without offsets.
        self.sizes = np.minimum(counts, 255).astype(np.uint8)
        self.stepped = STEPPED_ENTRIES if len(hashes) < (1 << width) else 0
        self.offsets = np.zeros((1 << width) + 1, dtype=index_dtype)
        np.cumsum(counts, out=self.offsets[1:])

    def keys(self, hashes: np.ndarray) -> np.ndarray:
        mask = np.uint64((1 << self.width) - 1)
        return ((hashes >> np.uint64(self.shift)) & mask).astype(np.int64)

    def search(self, queries: np.ndarray, flips: int, radius: int) -> _Parts:
        """(query, entry, distance) of candidates in buckets within `flips`, verified."""
        masks = flip_masks(self.width, flips)
        probes = (self.keys(queries)[:, None] ^ masks[None, :]).ravel()
        small = _take(self.sizes, probes)
        hit = np.flatnonzero(small > 0)  # nonzero on bool is ~5x faster than on uint8
        keys = _take(probes, hit)
        lo = _take(self.offsets, keys).astype(np.int64)
        sizes = _take(small, hit).astype(np.int64)
        big = np.flatnonzero(sizes == 255)
        if len(big):
            sizes[big] = _take(self.offsets, _take(keys, big) + 1) - _take(lo, big)
        return self._verify(queries, hit // len(masks), lo, sizes, radius)

    def _verify(
        self, queries: np.ndarray, qi: np.ndarray, lo: np.ndarray, sizes: np.ndarray, radius: int
    ) -> _Parts:
        """Check every entry of the hit buckets; k-th entries first, then long tails at once."""
        parts: _Parts = []
        # In a sparse table most buckets hold one entry: stepping through the k-th entry of
        # every bucket avoids building a flat position array (np.repeat); ~1.3x faster.
        for k in range(self.stepped):
            if not len(lo):
                return parts
            self._check(queries, qi, lo + k, radius, parts)
            more = np.flatnonzero(sizes > k + 1)
            qi, lo, sizes = _take(qi, more), _take(lo, more), _take(sizes, more)
        # Long buckets (skewed or adversarial hashes): expand what is left in one go.
        rest = sizes - self.stepped
        starts = np.cumsum(rest) - rest
        pos = np.repeat(lo + self.stepped - starts, rest) + np.arange(int(rest.sum()))
        self._check(queries, np.repeat(qi, rest), pos, radius, parts)
        return parts

    def _check(
        self, queries: np.ndarray, qi: np.ndarray, pos: np.ndarray, radius: int, out: _Parts
    ) -> None:
        dist = popcount64(_take(self.hashes, pos) ^ _take(queries, qi))
        ok = np.flatnonzero(dist <= radius)
        if len(ok):
            out.append((_take(qi, ok), _take(self.entries, _take(pos, ok)), _take(dist, ok)))


def _take(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values[positions] for positions known to be in range (mode="clip" skips the bounds
    check that makes fancy indexing ~2x slower on big tables, see bench/hamming.py)."""
    return np.take(values, positions, mode="clip")


class HammingIndex:
    """Exact search of all 64-bit hashes within a Hamming radius (MIH; brute force if cheaper)."""

    def __init__(
        self,
        hashes: object,
        radius: int = 8,
        num_substrings: int | None = None,
        allow_brute_force: bool = True,
    ) -> None:
        """Index `hashes` for queries of about `radius`; other radii stay exact, only slower.

        allow_brute_force: scan all entries when that is expected to be cheaper (small
        indexes, huge radii); tests turn it off to exercise the tables.
        """
        self.hashes = as_hashes(hashes)
        _check_radius(radius)
        n = len(self.hashes)
        m = num_substrings or choose_substrings(n, radius)
        if not -(-HASH_BITS // MAX_SUBSTRING_BITS) <= m <= HASH_BITS:
            raise HammingIndexError("bad_num_substrings", f"{m} (need 3..64)")
        self.num_substrings = m
        self.allow_brute_force = allow_brute_force
        self.tables: list[_Table] = []
        shift = 0
        for width in substring_widths(m):
            self.tables.append(_Table(self.hashes, shift, width))
            shift += width

    def __len__(self) -> int:
        return len(self.hashes)

    def uses_brute_force(self, radius: int) -> bool:
        """True when scanning all entries is expected to be cheaper than probing buckets."""
        if not self.allow_brute_force:
            return False
        return search_cost(len(self), self.num_substrings, radius) >= SCAN_COST * len(self)

    def search(self, queries: object, radius: int) -> HammingMatches:
        """Every indexed entry within `radius` bits of each query (exact)."""
        queries = as_hashes(queries)
        _check_radius(radius)
        if self.uses_brute_force(radius):
            return brute_force_search(self.hashes, queries, radius)
        cost = search_cost(len(self), self.num_substrings, radius)
        batch = max(1, int(BATCH_ELEMENTS // max(1.0, cost)))
        flips_per_table = probe_radii(self.num_substrings, radius)
        parts: _Parts = []
        for start in range(0, len(queries), batch):
            q = queries[start : start + batch]
            for table, flips in zip(self.tables, flips_per_table, strict=True):
                if flips >= 0:
                    parts += [(qi + start, e, d) for qi, e, d in table.search(q, flips, radius)]
        return _sorted_matches(parts, dedupe=True)

    def search_one(self, query: int, radius: int) -> list[tuple[int, int]]:
        """(entry position, distance) of every entry within `radius` of one hash."""
        found = self.search(np.array([query], dtype=np.uint64), radius)
        return list(zip(found.entry.tolist(), found.distance.tolist(), strict=True))


def _check_radius(radius: int) -> None:
    if not 0 <= radius <= HASH_BITS:
        raise HammingIndexError("bad_radius", f"{radius} (need 0..{HASH_BITS})")


def _sorted_matches(parts: _Parts, dedupe: bool = False) -> HammingMatches:
    """Concatenate (query, entry, distance) parts; drop repeats; sort by query, distance, entry."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return HammingMatches(empty, empty, empty)
    q = np.concatenate([p[0] for p in parts]).astype(np.int64)
    e = np.concatenate([p[1] for p in parts]).astype(np.int64)
    d = np.concatenate([p[2] for p in parts]).astype(np.int64)
    if dedupe and len(q):
        # An entry close in several substrings is found once per table.
        _, first = np.unique(q * (int(e.max()) + 1) + e, return_index=True)
        q, e, d = q[first], e[first], d[first]
    order = np.lexsort((e, d, q))
    return HammingMatches(q[order], e[order], d[order])
