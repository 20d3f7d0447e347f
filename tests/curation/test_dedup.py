"""Dedup keys and groups: paragraph hashes, phash blocks (exact vs brute force), union-find."""

from __future__ import annotations

import random
from collections import defaultdict
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.dedup import (
    DedupConfigError,
    ImageDedupConfig,
    UnionFind,
    doc_order_key,
    image_occurrences,
    keep_paragraphs,
    paragraph_hash,
    paragraph_occurrences,
    phash_block_keys,
    phash_block_spans,
    phash_group_edges,
)
from curation.hashing import hamming
from schemas import ImageNode, TextNode
from tests.fixtures.dedup import document, flip_bits, image_node

MASK64 = (1 << 64) - 1


def test_doc_order_key_is_fetch_time_then_url_then_id():
    early = document("https://z.example/", "x", fetch_time="2020-01-01")
    late_a = document("https://a.example/", "x", fetch_time="2021-01-01")
    late_b = document("https://b.example/", "x", fetch_time="2021-01-01")
    assert sorted([late_b, early, late_a], key=doc_order_key) == [early, late_a, late_b]


def test_paragraph_hash_compares_normalised_text():
    assert paragraph_hash("All rights reserved © 2021.") == paragraph_hash(
        "all RIGHTS reserved 2023"
    )
    assert paragraph_hash("Café au lait") == paragraph_hash("cafe au lait!")
    assert paragraph_hash("one") != paragraph_hash("two")
    assert paragraph_hash(" — !! ") is None
    assert paragraph_hash("bad \udce9 byte") == paragraph_hash("bad byte")  # no crash
    assert len(paragraph_hash("x")) == 16


def test_paragraph_occurrences_are_lines_of_text_nodes():
    doc = document("https://a.example/", "first\n\nsecond", image_node("i", 1), "— \nthird")
    occ = [(node, line) for _, node, line in paragraph_occurrences(doc)]
    assert occ == [(0, 0), (0, 2), (2, 1)]


def test_keep_paragraphs_removes_lines_and_reports_emptied_documents():
    doc = document("https://a.example/", "keep me\ndrop me", image_node("i", 1), "drop too")
    kept = {(i, j, h) for h, i, j in paragraph_occurrences(doc) if (i, j) == (0, 0)}
    out, removed, emptied = keep_paragraphs(doc, kept)
    assert removed == 2 and not emptied
    assert [type(n) for n in out.nodes] == [TextNode, ImageNode]
    assert out.nodes[0].text == "keep me"
    _, removed, emptied = keep_paragraphs(doc, set())
    assert removed == 3 and emptied
    unchanged, removed, emptied = keep_paragraphs(document("https://b.example/", "!!"), set())
    assert removed == 0 and not emptied and unchanged.nodes == (TextNode("!!"),)


def test_image_occurrences_skip_nodes_without_a_fetched_image():
    doc = document("https://a.example/", "t", image_node("a", 5), ImageNode(src="https://x/y.jpg"))
    (occ,) = image_occurrences(doc)
    assert (occ.node_index, occ.phash, occ.doc_id) == (1, 5, doc.doc_id)


@pytest.mark.parametrize("blocks", [1, 3, 5, 7, 9, 64])
def test_phash_block_spans_cover_64_bits_once(blocks):
    spans = phash_block_spans(blocks)
    bits = [shift + k for shift, width in spans for k in range(width)]
    assert sorted(bits) == list(range(64))
    assert max(w for _, w in spans) - min(w for _, w in spans) <= 1


def _grouped_edges(hashes: list[int], cfg: ImageDedupConfig) -> list[tuple[int, int, int]]:
    groups = defaultdict(list)  # what GroupByKey does in the pipeline
    for h in set(hashes):
        for key, home in phash_block_keys(h, cfg):
            groups[key].append((h, home))
    return [e for key, members in groups.items() for e in phash_group_edges(key, members, cfg)]


def _brute_force(hashes: list[int], radius: int) -> set[tuple[int, int, int]]:
    return {
        (a, b, hamming(a, b))
        for a, b in combinations(sorted(set(hashes)), 2)
        if hamming(a, b) <= radius
    }


CONFIGS = [(0, None), (2, None), (4, None), (4, 2), (4, 3), (6, 3), (8, None), (8, 4), (12, None)]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(CONFIGS),
    st.lists(st.integers(min_value=0, max_value=MASK64), min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(0, 11), st.lists(st.integers(0, 63), max_size=14)), max_size=30),
)
def test_phash_grouping_finds_exactly_the_brute_force_pairs(config, bases, flips):
    radius, blocks = config
    cfg = ImageDedupConfig(radius=radius, blocks=blocks)
    # Planted near copies: some bits flipped of a base, often within radius, sometimes not.
    hashes = bases + [flip_bits(bases[i % len(bases)], bits) for i, bits in flips]
    edges = _grouped_edges(hashes, cfg)
    assert len(edges) == len(set(edges))  # each pair from one group only
    assert set(edges) == _brute_force(hashes, radius)


@pytest.mark.parametrize("radius,blocks", [(4, None), (8, None), (8, 3)])
def test_phash_grouping_on_adversarial_hashes(radius, blocks):
    cfg = ImageDedupConfig(radius=radius, blocks=blocks)
    spans = phash_block_spans(cfg.num_blocks)
    base = 0
    hashes = [base, MASK64, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA]
    # All flips inside one block, one flip per block, flips on each block boundary.
    first_shift, first_width = spans[0]
    hashes.append(flip_bits(base, list(range(first_shift, first_shift + min(radius, first_width)))))
    hashes.append(flip_bits(base, [shift for shift, _ in spans[:radius]]))
    hashes.append(flip_bits(base, [shift + w - 1 for shift, w in spans[:radius]]))
    hashes.append(flip_bits(base, list(range(radius + 1))))  # just outside
    hashes += [flip_bits(MASK64, [b]) for b in range(0, 64, 7)]
    edges = _grouped_edges(hashes, cfg)
    assert len(edges) == len(set(edges))
    assert set(edges) == _brute_force(hashes, radius)
    assert any(a == base for a, _, _ in edges)


def test_image_dedup_config_is_validated():
    assert ImageDedupConfig().num_blocks == 5 and ImageDedupConfig().probe_radius == 0
    assert ImageDedupConfig(radius=8, blocks=3).probe_radius == 2
    for kwargs in (
        {"radius": 64},
        {"radius": 8, "blocks": 1},
        {"max_occurrences": 0},
        {"blocks": 0},
    ):
        with pytest.raises(DedupConfigError) as e:
            ImageDedupConfig(**kwargs)
        assert e.value.reason == "bad_config"


def _components_by_search(nodes: set[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    adjacent = defaultdict(set)
    for a, b in edges:
        adjacent[a].add(b)
        adjacent[b].add(a)
    roots: dict[int, int] = {}
    for start in sorted(nodes):
        if start in roots:
            continue
        seen, todo = {start}, [start]
        while todo:
            for m in adjacent[todo.pop()] - seen:
                seen.add(m)
                todo.append(m)
        for m in seen:
            roots[m] = min(seen)
    return roots


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=60),
    st.integers(min_value=0, max_value=1000),
)
def test_union_find_roots_are_component_minima_in_any_merge_order(edges, seed):
    rng = random.Random(seed)
    shuffled = list(edges)
    rng.shuffle(shuffled)
    cut = rng.randint(0, len(shuffled))
    left = UnionFind().union_all(shuffled[:cut])
    right = UnionFind().union_all(shuffled[cut:])
    merged = right.merge(left) if seed % 2 else left.merge(right)
    nodes = {n for e in edges for n in e}
    assert merged.roots() == _components_by_search(nodes, edges)
