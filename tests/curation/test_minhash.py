"""MinHash signatures and LSH banding: estimates track true Jaccard, bands find the close pairs."""

from __future__ import annotations

import random
from collections import defaultdict
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.minhash import (
    DedupConfigError,
    MinHashConfig,
    band_group_edges,
    band_keys,
    band_of_key,
    candidate_probability,
    estimated_jaccard,
    jaccard,
    lsh_threshold,
    normalize_text,
    normalize_unicode,
    permutation_seeds,
    shingle_hashes,
    signature_bytes,
    signature_from_bytes,
    text_signature,
    word_shingles,
)
from tests.fixtures.dedup import random_words, substitute, vocabulary

VOCAB = vocabulary()
DEFAULT = MinHashConfig()
WIDE = MinHashConfig(bands=32, rows=8)  # 256 permutations: estimate s.d. <= 0.031


def _sig(text: str, cfg: MinHashConfig = DEFAULT) -> np.ndarray:
    sig = text_signature(text, cfg, permutation_seeds(cfg.num_perm, cfg.seed))
    assert sig is not None
    return sig


def _pair(rng: random.Random, n_words: int, n_edits: int) -> tuple[str, str]:
    words = random_words(rng, n_words, VOCAB)
    return " ".join(words), " ".join(substitute(words, rng, n_edits, VOCAB))


def test_normalize_text_folds_case_accents_digits_and_punctuation():
    assert normalize_text("Café — ÉTÉ 2021, all_rights!") == "cafe ete 0000 all rights"
    assert normalize_text("  \t\n ") == ""
    assert normalize_text("Ünïcödé Straße") == "unicode strasse"


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_normalises_like_the_unicode_path(text):
    assert normalize_text(text) == normalize_unicode(text)


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_normalized_text_is_a_fixed_point_of_single_spaced_words(text):
    normal = normalize_text(text)
    assert normalize_text(normal) == normal
    assert "  " not in normal and normal == normal.strip()


def test_word_shingles_of_short_and_empty_texts():
    assert word_shingles("one two", 5) == {"one two"}
    assert word_shingles("", 5) == set()
    assert word_shingles("a b c d e f", 5) == {"a b c d e", "b c d e f"}
    assert shingle_hashes("", 5).size == 0
    assert text_signature("?!", MinHashConfig(), permutation_seeds(112, 1)) is None


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=400),
    st.integers(min_value=1, max_value=7),
)
def test_shingle_hashes_match_shingle_sets(text, n):
    # One distinct 64-bit hash per distinct shingle (a collision here would be a bug).
    hashes = shingle_hashes(text, n)
    assert hashes.dtype == np.uint64
    assert len(hashes) == len(word_shingles(text, n))
    assert np.all(np.diff(hashes.astype(object)) > 0) if len(hashes) > 1 else True


def test_signature_is_deterministic_and_seeded():
    text = " ".join(random_words(random.Random(1), 200, VOCAB))
    a, b = _sig(text), _sig(text)
    assert np.array_equal(a, b)
    assert len(a) == 112
    other = text_signature(text, MinHashConfig(seed=2), permutation_seeds(112, 2))
    assert not np.array_equal(a, other)
    assert np.array_equal(signature_from_bytes(signature_bytes(a)), a)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=10, max_value=300),
    st.floats(min_value=0.0, max_value=0.6),
)
def test_estimated_jaccard_is_close_to_true_jaccard(seed, n_words, edit_rate):
    rng = random.Random(seed)
    a, b = _pair(rng, n_words, int(n_words * edit_rate))
    true = jaccard(word_shingles(a, 5), word_shingles(b, 5))
    est = estimated_jaccard(_sig(a, WIDE), _sig(b, WIDE))
    assert abs(est - true) <= 0.15, (true, est)  # > 4.8 s.d. at 256 permutations


def test_estimates_are_unbiased_over_many_pairs():
    rng = random.Random(7)
    errors = []
    for _ in range(300):
        a, b = _pair(rng, 200, rng.randint(0, 60))
        true = jaccard(word_shingles(a, 5), word_shingles(b, 5))
        errors.append(estimated_jaccard(_sig(a), _sig(b)) - true)
    assert abs(np.mean(errors)) < 0.01
    assert np.mean(np.abs(errors)) < 0.04  # 112 permutations: s.d. <= 0.047


def test_lsh_s_curve_constants():
    assert lsh_threshold(14, 8) == pytest.approx(0.719, abs=1e-3)
    assert candidate_probability(0.8, 14, 8) == pytest.approx(0.924, abs=1e-3)
    assert candidate_probability(0.4, 14, 8) < 0.01


def _shares_band(a: np.ndarray, b: np.ndarray, cfg: MinHashConfig) -> bool:
    return bool(set(band_keys(a, cfg.bands, cfg.rows)) & set(band_keys(b, cfg.bands, cfg.rows)))


def test_lsh_finds_close_pairs_and_rarely_far_ones():
    cfg = MinHashConfig()
    rng = random.Random(3)
    close, far = [], []
    for _ in range(400):
        a, b = _pair(rng, 300, rng.choice([1, 2, 3, 40, 60, 90]))
        true = jaccard(word_shingles(a, 5), word_shingles(b, 5))
        hit = _shares_band(_sig(a), _sig(b), cfg)
        if true >= 0.85:
            close.append(hit)
        elif true <= 0.45:
            far.append(hit)
    assert len(close) > 100 and len(far) > 100
    assert np.mean(close) >= 0.97  # theory: >= 0.988 at 0.85
    assert np.mean(far) <= 0.03  # theory: <= 0.025 at 0.45


def test_band_keys_carry_band_index_and_equal_rows():
    sig = _sig("a b c d e f g h i j k l")
    keys = band_keys(sig, 14, 8)
    assert [band_of_key(k) for k in keys] == list(range(14))
    changed = sig.copy()
    changed[8] ^= np.uint64(1)  # first row of band 1
    other = band_keys(changed, 14, 8)
    assert [k == o for k, o in zip(keys, other, strict=True)] == [True, False] + [True] * 12


def test_band_group_edges_report_each_confirmed_pair_once_over_all_bands():
    cfg = MinHashConfig()
    rng = random.Random(5)
    base = random_words(rng, 300, VOCAB)
    texts = {f"d{i}": " ".join(substitute(base, rng, i, VOCAB)) for i in range(6)}
    texts["far"] = " ".join(random_words(rng, 300, VOCAB))
    sigs = {k: _sig(t) for k, t in texts.items()}
    groups = defaultdict(list)  # what GroupByKey does in the pipeline
    for k, s in sigs.items():
        for key in band_keys(s, cfg.bands, cfg.rows):
            groups[key].append((k, s))
    edges = [
        (a, b)
        for key, members in groups.items()
        for a, b, _ in band_group_edges(band_of_key(key), members, cfg)
    ]
    assert len(edges) == len(set(edges))
    expected = {
        (a, b)
        for a, b in combinations(sorted(sigs), 2)
        if _shares_band(sigs[a], sigs[b], cfg)
        and estimated_jaccard(sigs[a], sigs[b]) >= cfg.threshold
    }
    assert set(edges) == expected
    assert len(expected) >= 10 and not any("far" in e for e in expected)


def test_oversized_band_group_links_members_to_cluster_heads():
    cfg = MinHashConfig(max_group_pairs=1)
    rng = random.Random(9)
    base = random_words(rng, 300, VOCAB)
    members = [(f"d{i}", _sig(" ".join(substitute(base, rng, 1, VOCAB)))) for i in range(5)]
    members.append(("z", _sig(" ".join(random_words(rng, 300, VOCAB)))))
    edges = band_group_edges(0, members, cfg)
    assert [(a, b) for a, b, _ in edges] == [("d0", f"d{i}") for i in range(1, 5)]
    assert all(j >= cfg.threshold for _, _, j in edges)


@pytest.mark.parametrize(
    "kwargs", [{"ngram": 0}, {"bands": 0}, {"rows": 0}, {"threshold": 0.0}, {"threshold": 1.5}]
)
def test_bad_minhash_config_is_refused(kwargs):
    with pytest.raises(DedupConfigError) as e:
        MinHashConfig(**kwargs)
    assert e.value.reason == "bad_config"
