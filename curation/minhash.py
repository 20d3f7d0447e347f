"""MinHash signatures over word shingles and LSH banding, for near-duplicate documents.

A document becomes the set of its word n-grams (after `normalize_text`), each hashed to
64 bits; its signature holds, for each of ``bands * rows`` seeded permutations of the
64-bit space, the least permuted shingle hash. Two signatures agree at one position with
probability equal to the Jaccard similarity of the shingle sets, so the fraction of equal
positions estimates it. LSH cuts the signature into bands: documents that agree on all
rows of at least one band become candidates, and only candidates are compared.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)

# murmur3's 64-bit finaliser: a bijection on 64-bit words with full avalanche.
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BASE = 0x100000001B3  # the FNV-1 64-bit prime: odd, so invertible mod 2^64
_INV_BASE = pow(_BASE, -1, 2**64)
_MAX64 = np.iinfo(np.uint64).max
_SIG_DTYPE = np.dtype("<u8")  # fixed byte order: keys and shuffled bytes match across workers
_CHUNK = 4096  # shingles permuted at once: bounds the (num_perm x chunk) work array to ~4 MB

_DIGITS = re.compile(r"\d")
_NON_WORD = re.compile(r"[\W_]+")
# ASCII text: digits → "0", everything but letters and digits → " " (what the regexes do).
_ASCII_FOLD = {c: ("0" if chr(c).isdigit() else " ") for c in range(128) if not chr(c).isalpha()}


class DedupConfigError(ValueError):
    """A deduplication setting is unusable; `reason` names why, `detail` the value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MinHashConfig:
    """Near-duplicate documents by MinHash-LSH; defaults are datatrove's MinhashConfig."""

    ngram: int = 5  # word 5-gram shingles (datatrove n_grams=5, as used for FineWeb)
    bands: int = 14  # datatrove num_buckets=14
    rows: int = 8  # datatrove hashes_per_bucket=8: 112 permutations per document
    # The 14 x 8 S-curve P(candidate) = 1 - (1 - s^8)^14 is steepest at (1/14)^(1/8) = 0.72:
    # pairs at Jaccard 0.75 become candidates with p = 0.77, at 0.8 with 0.92, at 0.85 with
    # 0.99, at 0.5 with 0.05. Candidates are then confirmed on all 112 positions (datatrove
    # keeps every band collision unconfirmed), so 0.75 is the cut.
    threshold: float = 0.75
    seed: int = 1  # datatrove's seed; every worker derives the same permutations from it
    # A band group with more pairs than this (a template page copied thousands of times) is
    # verified against cluster heads only, linear instead of quadratic in its size (ours).
    max_group_pairs: int = 500_000

    def __post_init__(self) -> None:
        for name in ("ngram", "bands", "rows", "max_group_pairs"):
            if getattr(self, name) < 1:
                raise DedupConfigError("bad_config", f"{name}={getattr(self, name)}, must be >= 1")
        if not 0.0 < self.threshold <= 1.0:
            raise DedupConfigError("bad_config", f"threshold={self.threshold}, must be in (0, 1]")
        if self.bands > 0xFFFF:
            raise DedupConfigError("bad_config", f"bands={self.bands}, must fit in 16 bits")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


def normalize_text(text: str) -> str:
    """CCNet's normal form: accents stripped, case-folded, digits as 0, punctuation as space."""
    # CCNet (Wenzek et al. 2019, §3.3) normalises this way before hashing paragraphs, so that
    # "© 2021 All rights reserved." and "© 2023 all rights reserved" are one paragraph.
    if text.isascii():  # the common case, 5x faster than the regexes, same result
        return " ".join(text.lower().translate(_ASCII_FOLD).split())
    return normalize_unicode(text)


def normalize_unicode(text: str) -> str:
    """`normalize_text` for any text (the path taken by non-ASCII text)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", _DIGITS.sub("0", bare.casefold())).split())


def word_shingles(text: str, ngram: int) -> set[str]:
    """The word n-grams of the normalised text; a text shorter than n is one shingle."""
    words = normalize_text(text).split()
    n = min(ngram, len(words))
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)} if words else set()


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _M1
    h = h ^ (h >> np.uint64(33))
    h = h * _M2
    return h ^ (h >> np.uint64(33))


@lru_cache(maxsize=16)
def _power_table(base: int, size: int) -> np.ndarray:
    """base^k mod 2^64 for k < size."""
    out = np.ones(size, dtype=np.uint64)
    out[1:] = np.cumprod(np.full(size - 1, base, dtype=np.uint64))
    return out


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^k and P^-k mod 2^64 for k < at least n."""
    size = max(4096, 1 << (n - 1).bit_length())  # few sizes, so the cache stays small
    return _power_table(_BASE, size), _power_table(_INV_BASE, size)


def word_hashes(normal: str) -> np.ndarray:
    """A 64-bit hash per word of an already normalised text (words split by one space)."""
    # A polynomial hash of each word's UTF-8 bytes from one prefix sum over the whole text,
    # then fmix64: vectorised, where one blake2b call per word cost 3 us of Python each.
    # surrogatepass: a lone surrogate (from surrogateescape decoding) is hashed, not fatal.
    data = np.frombuffer(normal.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    pw, inv = _powers(len(data) + 1)
    prefix = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum(data.astype(np.uint64) * pw[: len(data)], out=prefix[1:])
    spaces = np.flatnonzero(data == 32)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [len(data)]))
    poly = (prefix[ends] - prefix[starts]) * inv[starts]
    return _fmix64(poly + (ends - starts).astype(np.uint64) * _GOLDEN)


def shingle_hashes(text: str, ngram: int) -> np.ndarray:
    """The distinct 64-bit hashes of `word_shingles(text, ngram)` (uint64, sorted)."""
    normal = normalize_text(text)
    if not normal:
        return np.empty(0, dtype=np.uint64)
    w = word_hashes(normal)
    n = min(ngram, len(w))
    m = len(w) - n + 1
    h = w[:m].copy()
    # An order-sensitive mix of the n word hashes, vectorised over all windows at once.
    for j in range(1, n):
        h = _fmix64(h * _GOLDEN + w[j : j + m])
    return np.unique(h)


def permutation_seeds(num_perm: int, seed: int) -> np.ndarray:
    """(num_perm, 2) multipliers (odd) and offsets of the family x -> a*x + b mod 2^64."""
    ab = np.random.default_rng(seed).integers(0, 2**64, size=(num_perm, 2), dtype=np.uint64)
    ab[:, 0] |= np.uint64(1)  # odd multipliers: each map is a bijection of the 64-bit space
    return ab


def minhash_signature(shingles: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Per permutation, the least permuted shingle hash (uint64, one per seed row)."""
    # Shingle hashes are already fmix64-mixed, so a cheap affine bijection per seed is
    # enough to order them independently (datatrove uses (a*x + b) mod p the same way);
    # checked against true Jaccard in tests/curation/test_minhash.py.
    a, b = seeds[:, :1], seeds[:, 1:]
    sig = np.full(len(seeds), _MAX64, dtype=np.uint64)
    for start in range(0, len(shingles), _CHUNK):
        block = shingles[None, start : start + _CHUNK]
        np.minimum(sig, (block * a + b).min(axis=1), out=sig)
    return sig


def text_signature(text: str, cfg: MinHashConfig, seeds: np.ndarray) -> np.ndarray | None:
    """The signature of a text, or None when it has no words."""
    shingles = shingle_hashes(text, cfg.ngram)
    return minhash_signature(shingles, seeds) if shingles.size else None


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of equal signature positions."""
    return float(np.mean(a == b))


def signature_bytes(sig: np.ndarray) -> bytes:
    """A signature as little-endian bytes (what travels through a shuffle)."""
    return sig.astype(_SIG_DTYPE, copy=False).tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=_SIG_DTYPE).astype(np.uint64)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One grouping key per band: the band index (2 bytes) + a 64-bit digest of its rows."""
    # A digest collision only adds a candidate, which verification then rejects.
    data = signature_bytes(sig)
    width = rows * _SIG_DTYPE.itemsize
    return [
        b.to_bytes(2, "big")
        + hashlib.blake2b(data[b * width : (b + 1) * width], digest_size=8).digest()
        for b in range(bands)
    ]


def band_of_key(key: bytes) -> int:
    return int.from_bytes(key[:2], "big")


def lsh_threshold(bands: int, rows: int) -> float:
    """The Jaccard similarity where the LSH S-curve is steepest, (1/b)^(1/r)."""
    return (1.0 / bands) ** (1.0 / rows)


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """P(two sets of this Jaccard similarity share at least one band): 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def band_group_edges(
    band: int, members: Sequence[tuple[K, np.ndarray]], cfg: MinHashConfig
) -> list[tuple[K, K, float]]:
    """Confirmed pairs (earlier key, later key, estimated Jaccard) in one band group.

    A pair that also agrees on an earlier band is left to that band's group, so over all
    bands each pair is checked, and reported, once.
    """
    by_key = dict(members)  # the same document twice is one member
    keys = sorted(by_key)
    n = len(keys)
    if n < 2:
        return []
    sigs = np.stack([by_key[k] for k in keys])
    if n * (n - 1) // 2 > cfg.max_group_pairs:
        return _edges_to_heads(keys, sigs, cfg)
    prefix = band * cfg.rows
    edges: list[tuple[K, K, float]] = []
    for i in range(n - 1):
        same = sigs[i + 1 :] == sigs[i]  # (n - i - 1, num_perm)
        jac = same.mean(axis=1)
        earlier = same[:, :prefix].reshape(len(same), band, cfg.rows).all(axis=2).any(axis=1)
        for j in np.flatnonzero((jac >= cfg.threshold) & ~earlier):
            edges.append((keys[i], keys[i + 1 + j], float(jac[j])))
    return edges


def _edges_to_heads(
    keys: list[K], sigs: np.ndarray, cfg: MinHashConfig
) -> list[tuple[K, K, float]]:
    """Greedy, in key order: a member joins the first cluster head it matches, or heads one."""
    heads: list[int] = []
    edges: list[tuple[K, K, float]] = []
    for i in range(len(keys)):
        if heads:
            jac = (sigs[heads] == sigs[i]).mean(axis=1)
            hits = np.flatnonzero(jac >= cfg.threshold)
            if hits.size:
                h = heads[int(hits[0])]
                edges.append((keys[h], keys[i], float(jac[hits[0]])))
                continue
        heads.append(i)
    return edges
