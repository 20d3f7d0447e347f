"""Multi-index hashing returns exactly what brute force returns (random, adversarial hashes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.hamming_index import (
    MAX_SUBSTRING_BITS,
    HammingIndex,
    HammingIndexError,
    HammingMatches,
    as_hashes,
    brute_force_search,
    choose_substrings,
    flip_masks,
    popcount64,
    probe_radii,
    substring_widths,
)

U64 = st.integers(min_value=0, max_value=2**64 - 1)


def _same(a: HammingMatches, b: HammingMatches) -> None:
    assert a.query.tolist() == b.query.tolist()
    assert a.entry.tolist() == b.entry.tolist()
    assert a.distance.tolist() == b.distance.tolist()


def _python_brute(hashes: list[int], queries: list[int], radius: int) -> list[tuple[int, int, int]]:
    """The definition, in plain Python: every (query, entry, distance) within radius."""
    found = [
        (qi, ei, (q ^ h).bit_count())
        for qi, q in enumerate(queries)
        for ei, h in enumerate(hashes)
        if (q ^ h).bit_count() <= radius
    ]
    return sorted(found, key=lambda t: (t[0], t[2], t[1]))


def _near(rng: np.random.Generator, base: np.ndarray, max_flips: int) -> np.ndarray:
    """Each hash of `base` with 0..max_flips random bits flipped."""
    out = base.copy()
    for i in range(len(out)):
        bits = rng.choice(64, size=rng.integers(0, max_flips + 1), replace=False)
        for b in bits:
            out[i] ^= np.uint64(1) << np.uint64(b)
    return out


@pytest.mark.parametrize("m", [3, 4, 5, 8, 16])
@pytest.mark.parametrize("radius", [0, 1, 3, 5, 8, 12, 16])
def test_random_and_planted_queries_match_brute_force(m, radius):
    rng = np.random.default_rng(radius * 100 + m)
    hashes = rng.integers(0, 2**64, size=3000, dtype=np.uint64)
    queries = np.concatenate(
        [_near(rng, hashes[:150], radius + 2), rng.integers(0, 2**64, 50, dtype=np.uint64)]
    )
    index = HammingIndex(hashes, radius=radius, num_substrings=m, allow_brute_force=False)
    found = index.search(queries, radius)
    _same(found, brute_force_search(hashes, queries, radius))
    assert len(found) >= 1  # planted queries within the radius exist for every case
    assert (found.distance <= radius).all()


def test_the_default_m_is_chosen_by_cost_and_still_exact():
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**64, size=20000, dtype=np.uint64)
    queries = _near(rng, hashes[:300], 10)
    for radius in (2, 6, 10):
        index = HammingIndex(hashes, radius=radius)
        assert not index.uses_brute_force(radius)  # MIH is really exercised here
        _same(index.search(queries, radius), brute_force_search(hashes, queries, radius))


def test_one_index_answers_every_radius_exactly():
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**64, size=5000, dtype=np.uint64)
    queries = _near(rng, hashes[:100], 20)
    index = HammingIndex(hashes, radius=8, num_substrings=3, allow_brute_force=False)
    for radius in (0, 4, 9, 13):
        _same(index.search(queries, radius), brute_force_search(hashes, queries, radius))
    auto = HammingIndex(hashes, radius=8)
    assert auto.uses_brute_force(64)  # every entry matches: probing would be absurd
    _same(auto.search(queries, 64), brute_force_search(hashes, queries, 64))


def test_adversarial_duplicates_and_extreme_hashes():
    """Huge buckets (one hash 3000 times), all-zero/all-one hashes, and dense neighbours."""
    rng = np.random.default_rng(11)
    same = np.full(3000, 0x0123456789ABCDEF, dtype=np.uint64)
    extremes = np.array([0, 2**64 - 1, 2**63, 1], dtype=np.uint64)
    zeros_near = np.array([1 << b for b in range(64)], dtype=np.uint64)  # all at distance 1 of 0
    hashes = np.concatenate([same, extremes, zeros_near, _near(rng, same[:200], 6)])
    queries = np.concatenate([extremes, same[:3], _near(rng, same[:20], 4), zeros_near[:5]])
    for m in (3, 4, 8):
        index = HammingIndex(hashes, radius=6, num_substrings=m, allow_brute_force=False)
        for radius in (0, 1, 6, 10):
            _same(index.search(queries, radius), brute_force_search(hashes, queries, radius))


@settings(max_examples=60, deadline=None)
@given(
    hashes=st.lists(U64, min_size=0, max_size=60),
    extra_queries=st.lists(U64, max_size=10),
    flips=st.lists(st.lists(st.integers(0, 63), max_size=12), max_size=20),
    radius=st.integers(0, 20),
    m=st.integers(3, 10),
)
def test_property_equals_the_definition(hashes, extra_queries, flips, radius, m):
    # Queries are entries with bits flipped (adversarial: right at the radius) plus any hash.
    queries = list(extra_queries)
    for i, bits in enumerate(flips):
        if hashes:
            q = hashes[i % len(hashes)]
            for b in bits:
                q ^= 1 << b
            queries.append(q)
    index = HammingIndex(hashes, radius=radius, num_substrings=m, allow_brute_force=False)
    found = index.search(queries, radius)
    got = list(
        zip(found.query.tolist(), found.entry.tolist(), found.distance.tolist(), strict=True)
    )
    assert got == _python_brute(hashes, queries, radius)


@settings(max_examples=100, deadline=None)
@given(m=st.integers(1, 64), radius=st.integers(0, 64), data=st.data())
def test_probe_radii_keep_the_pigeonhole_guarantee(m, radius, data):
    """Any split of <= radius differing bits over m substrings hits some probed substring."""
    widths = substring_widths(m)
    assert sum(widths) == 64 and max(widths) - min(widths) <= 1
    radii = probe_radii(m, radius)
    total = data.draw(st.integers(0, radius))
    # Distribute `total` differing bits over the substrings, within their widths.
    per = [0] * m
    for _ in range(total):
        free = [i for i in range(m) if per[i] < widths[i]]
        if not free:
            break
        per[data.draw(st.sampled_from(free))] += 1
    assert any(d <= r for d, r in zip(per, radii, strict=True))


def test_flip_masks_are_all_masks_up_to_the_weight():
    masks = flip_masks(6, 2).tolist()
    assert masks[0] == 0 and len(masks) == 1 + 6 + 15 == len(set(masks))
    assert all(bin(x).count("1") <= 2 and x < 64 for x in masks)


def test_helpers_and_errors():
    assert as_hashes([2**64 - 1, 0]).tolist() == [2**64 - 1, 0]
    assert as_hashes(np.array([-1], dtype=np.int64)).tolist() == [2**64 - 1]
    assert popcount64(np.array([0, 2**64 - 1, 5], dtype=np.uint64)).tolist() == [0, 64, 2]
    for n in (0, 10, 10**6, 10**7):
        assert max(substring_widths(choose_substrings(n, 8))) <= MAX_SUBSTRING_BITS
    index = HammingIndex([5, 7, 2**64 - 1], radius=1)
    assert index.search_one(5, 1) == [(0, 0), (1, 1)]
    assert index.uses_brute_force(40)  # 3 entries: a scan beats probing millions of buckets
    assert HammingIndex([5, 7], radius=1, allow_brute_force=False).search_one(7, 1) == [
        (1, 0),
        (0, 1),
    ]
    assert len(index.search([], 3)) == 0
    assert len(HammingIndex([], radius=4).search([1, 2], 4)) == 0
    with pytest.raises(HammingIndexError) as e:
        index.search([1], 65)
    assert e.value.reason == "bad_radius"
    with pytest.raises(HammingIndexError) as e:
        HammingIndex([1], radius=2, num_substrings=2)
    assert e.value.reason == "bad_num_substrings"
