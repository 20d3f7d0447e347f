"""Corpus dedup composites on a TestPipeline: one kept per duplicate group, in any input order."""

from __future__ import annotations

import random
from collections.abc import Callable

import apache_beam as beam
import numpy as np

from curation.dedup import DedupConfig, ImageDedupConfig, paragraph_occurrences
from curation.hashing import hamming
from curation.minhash import (
    MinHashConfig,
    band_keys,
    estimated_jaccard,
    permutation_seeds,
    text_signature,
)
from pipelines.counting import REJECTED
from pipelines.dedup import DOCUMENTS, CorpusDedup, DedupDocuments, DedupImages, DedupParagraphs
from schemas import Document, ImageNode
from tests.fixtures.dedup import (
    document,
    flip_bits,
    image_node,
    random_words,
    substitute,
    vocabulary,
)
from tests.pipelines.beam_helpers import run_collect

VOCAB = vocabulary()
ORDERS = ("forward", "reversed")


def _run(docs: list[Document], stage: Callable[[], beam.PTransform]) -> tuple[dict, list, dict]:
    """Run `stage` on `docs` in two input orders in one pipeline; both must give the same.

    Returns (kept documents by url, rejections sorted, counters of one order).
    """

    def build(p: beam.Pipeline) -> dict[str, beam.PCollection]:
        outputs = {}
        for name, items in zip(ORDERS, (docs, docs[::-1]), strict=True):
            out = p | f"Create{name}" >> beam.Create(items) | f"Dedup{name}" >> stage()
            if isinstance(out, tuple):  # CorpusDedup: (documents, rejections)
                out = {DOCUMENTS: out[0], REJECTED: out[1]}
            outputs[f"{name}.docs"] = out[DOCUMENTS]
            outputs[f"{name}.rejected"] = out[REJECTED]
        return outputs

    out, counters = run_collect(build)
    results = []
    for name in ORDERS:
        kept = {d.url: d for d in out[f"{name}.docs"]}
        assert len(kept) == len(out[f"{name}.docs"])
        rejected = sorted(
            out[f"{name}.rejected"], key=lambda r: (r.stage, r.key, r.reason, r.detail)
        )
        results.append((kept, rejected))
    assert results[0] == results[1], "the result depends on the input order"
    halved = {}
    for stage_name, values in counters.items():
        assert all(v % 2 == 0 for v in values.values()), values  # both orders count the same
        halved[stage_name] = {k: v // 2 for k, v in values.items()}
    return results[0][0], results[0][1], halved


def _balanced(counters: dict[str, dict[str, int]], stage: str) -> dict[str, int]:
    c = counters[stage]
    rejected = sum(v for k, v in c.items() if k.startswith("rejected."))
    assert c["in"] == c.get("out", 0) + rejected, c
    return c


def _images(doc: Document) -> list[str]:
    return [n.src.rsplit("/", 1)[-1] for n in doc.nodes if isinstance(n, ImageNode)]


def _texts(doc: Document) -> list[str]:
    return [n.text for n in doc.nodes if not isinstance(n, ImageNode)]


def _far_hashes(n: int, radius: int, seed: int) -> list[int]:
    """n random 64-bit hashes pairwise further apart than 2 * radius (no accidental links)."""
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < n:
        h = rng.getrandbits(64)
        if all(hamming(h, o) > 2 * radius + 2 for o in out):
            out.append(h)
    return out


# ------------------------------------------------------------------ images


def test_dedup_images_keeps_one_per_group_caps_and_follows_chains():
    a, b, x, logo, u = _far_hashes(5, 4, seed=1)
    q = flip_bits(a, [1, 2, 3])  # 3 from p
    r = flip_bits(q, [40, 41, 42])  # 3 from q, 6 from p: linked to p only through q
    t = flip_bits(b, [60])
    docs = [
        document(
            "https://s.example/1",
            "one",
            image_node("x", x),
            image_node("logo", logo),
            fetch_time="2024-01-01",
        ),
        document(
            "https://s.example/2",
            image_node("x", x),
            "two",
            image_node("x", x),
            image_node("logo", logo),
            fetch_time="2024-01-02",
        ),
        document(
            "https://s.example/3",
            image_node("x", x),
            image_node("logo", logo),
            fetch_time="2024-01-03",
        ),
        document(
            "https://s.example/4",
            image_node("logo", logo),
            image_node("p", a),
            fetch_time="2024-01-04",
        ),
        document("https://s.example/5", image_node("q", q), fetch_time="2024-01-05"),
        document("https://s.example/6", image_node("r", r), fetch_time="2023-12-31"),
        # A tie on fetch time: the lesser URL keeps the image.
        document("https://b.example/x", image_node("s", b), fetch_time="2024-02-01"),
        document("https://a.example/y", image_node("t", t), fetch_time="2024-02-01"),
        document("https://s.example/9", "nine", image_node("u", u)),
        document("https://s.example/10", "ten", ImageNode(src="https://img.example/unfetched.jpg")),
    ]
    kept, rejected, counters = _run(docs, lambda: DedupImages(ImageDedupConfig(max_occurrences=3)))

    assert {url: _images(d) for url, d in kept.items()} == {
        "https://s.example/1": ["x.jpg"],
        "https://s.example/2": [],
        "https://s.example/3": [],
        "https://s.example/4": [],
        "https://s.example/5": [],
        "https://s.example/6": ["r.jpg"],
        "https://b.example/x": [],
        "https://a.example/y": ["t.jpg"],
        "https://s.example/9": ["u.jpg"],
        "https://s.example/10": ["unfetched.jpg"],
    }
    originals = {d.url: d for d in docs}
    assert all(_texts(d) == _texts(originals[url]) for url, d in kept.items())  # text stays
    by_reason: dict[str, list[str]] = {}
    for rej in rejected:
        assert rej.stage == "dedup_images" and rej.key.startswith("https://img.example/")
        by_reason.setdefault(rej.reason, []).append(rej.key.rsplit("/", 1)[-1])
    assert by_reason == {
        "duplicate_image_sha256": ["x.jpg"] * 3,
        "image_over_occurrence_cap": ["logo.jpg"] * 4,
        "near_duplicate_image": ["p.jpg", "q.jpg", "s.jpg"],
    }
    near = {
        r.key.rsplit("/", 1)[-1]: r.detail for r in rejected if r.reason == "near_duplicate_image"
    }
    assert "phash distance 6" in near["p.jpg"] and "s.example/6" in near["p.jpg"]
    assert "a.example/y" in near["s.jpg"]
    dup = [r.detail for r in rejected if r.reason == "duplicate_image_sha256"]
    assert all(docs[0].doc_id in d for d in dup)
    c = _balanced(counters, "dedup_images")
    assert (c["in"], c["out"]) == (15, 5)


# ------------------------------------------------------------------ paragraphs


def test_dedup_paragraphs_keeps_each_in_the_first_document():
    docs = [
        document(
            "https://p.example/1",
            "Cookie notice: we use cookies.\nUnique one A",
            fetch_time="2024-01-01",
        ),
        document("https://p.example/2", "cookie NOTICE — we use cookies!\nUnique two"),
        document("https://p.example/3", "Unique three\nUnique three"),
        document("https://p.example/4", image_node("i", 7), "Cookie notice we use cookies"),
        document("https://p.example/5", "unique one a\n—"),
        document("https://p.example/6", image_node("j", 9)),
    ]
    kept, rejected, counters = _run(docs, DedupParagraphs)

    assert {url: _texts(d) for url, d in kept.items()} == {
        "https://p.example/1": ["Cookie notice: we use cookies.\nUnique one A"],
        "https://p.example/2": ["Unique two"],
        "https://p.example/3": ["Unique three"],
        "https://p.example/6": [],
    }
    assert [(r.key, r.reason) for r in rejected] == [
        ("https://p.example/4", "all_paragraphs_duplicate"),
        ("https://p.example/5", "all_paragraphs_duplicate"),
    ]
    c = _balanced(counters, "dedup_paragraphs")
    assert (c["in"], c["out"], c["duplicate_paragraph"]) == (6, 4, 4)
    # Every paragraph left appears once in the corpus.
    hashes = [h for d in kept.values() for h, _, _ in paragraph_occurrences(d)]
    assert len(hashes) == len(set(hashes))


# ------------------------------------------------------------------ documents


def _signature(text: str, cfg: MinHashConfig) -> np.ndarray:
    return text_signature(text, cfg, permutation_seeds(cfg.num_perm, cfg.seed))


def _chain(cfg: MinHashConfig) -> tuple[str, str, str]:
    """Texts A~B, B~C (above threshold, sharing a band) with A, C below threshold."""
    for seed in range(100):
        rng = random.Random(seed)
        a = random_words(rng, 400, VOCAB)
        b = a[:200] + substitute(a[200:], rng, 9, VOCAB)
        c = substitute(b[:200], rng, 9, VOCAB) + b[200:]
        sa, sb, sc = (_signature(" ".join(w), cfg) for w in (a, b, c))
        bands = [set(band_keys(s, cfg.bands, cfg.rows)) for s in (sa, sb, sc)]
        if (
            min(estimated_jaccard(sa, sb), estimated_jaccard(sb, sc)) >= cfg.threshold + 0.03
            and estimated_jaccard(sa, sc) < cfg.threshold - 0.03
            and bands[0] & bands[1]
            and bands[1] & bands[2]
        ):
            return " ".join(a), " ".join(b), " ".join(c)
    raise AssertionError("no chain found")


def test_dedup_documents_keeps_the_first_of_each_near_duplicate_group():
    cfg = MinHashConfig()
    rng = random.Random(11)
    copy = " ".join(random_words(rng, 300, VOCAB))
    near = random_words(rng, 400, VOCAB)
    chain_a, chain_b, chain_c = _chain(cfg)
    docs = [
        document("https://d.example/copy-b", copy),
        document("https://d.example/copy-a", copy),  # same time as copy-b: the lesser URL wins
        document("https://d.example/copy-c", copy.upper()),  # normalised away
        document("https://d.example/near-1", " ".join(near), fetch_time="2024-05-01"),
        document(
            "https://d.example/near-2",
            " ".join(substitute(near, rng, 3, VOCAB)),
            fetch_time="2024-03-01",
        ),
        document("https://d.example/chain-a", chain_a, fetch_time="2023-01-01"),
        document("https://d.example/chain-b", chain_b, fetch_time="2023-01-02"),
        document("https://d.example/chain-c", chain_c, fetch_time="2023-01-03"),
        document("https://d.example/other-1", " ".join(random_words(rng, 300, VOCAB))),
        document("https://d.example/other-2", " ".join(random_words(rng, 20, VOCAB))),
        document("https://d.example/no-text", image_node("i", 3)),
    ]
    kept, rejected, counters = _run(docs, lambda: DedupDocuments(cfg))

    assert sorted(kept) == [
        "https://d.example/chain-a",
        "https://d.example/copy-a",
        "https://d.example/near-2",
        "https://d.example/no-text",
        "https://d.example/other-1",
        "https://d.example/other-2",
    ]
    assert all(kept[url] == d for d in docs if (url := d.url) in kept)  # kept as they came
    ids = {d.url: d.doc_id for d in docs}
    kept_as = {r.key: r.detail for r in rejected}
    assert {r.reason for r in rejected} == {"near_duplicate_document"}
    assert sorted(kept_as) == [
        "https://d.example/chain-b",
        "https://d.example/chain-c",
        "https://d.example/copy-b",
        "https://d.example/copy-c",
        "https://d.example/near-1",
    ]
    assert ids["https://d.example/chain-a"] in kept_as["https://d.example/chain-c"]
    assert ids["https://d.example/copy-a"] in kept_as["https://d.example/copy-b"]
    assert ids["https://d.example/near-2"] in kept_as["https://d.example/near-1"]
    c = _balanced(counters, "dedup_documents")
    assert (c["in"], c["out"], c["no_text"]) == (11, 6, 1)


# ------------------------------------------------------------------ all of it


def test_corpus_dedup_chains_the_stages_and_each_can_be_switched_off():
    rng = random.Random(21)
    words = random_words(rng, 300, VOCAB)
    boiler = "Subscribe to our newsletter for weekly updates"
    a, other = _far_hashes(2, 4, seed=3)
    docs = [
        document(
            "https://c.example/1",
            " ".join(words),
            image_node("a", a),
            boiler,
            fetch_time="2024-01-01",
        ),
        document(
            "https://c.example/2",
            " ".join(substitute(words, rng, 2, VOCAB)),
            image_node("a2", flip_bits(a, [5])),
            fetch_time="2024-01-02",
        ),
        document(
            "https://c.example/3",
            " ".join(random_words(rng, 300, VOCAB)),
            image_node("a", a),
            image_node("o", other),
            boiler,
            fetch_time="2024-01-03",
        ),
    ]
    kept, rejected, counters = _run(docs, lambda: CorpusDedup(DedupConfig()))

    assert sorted(kept) == ["https://c.example/1", "https://c.example/3"]
    assert _images(kept["https://c.example/1"]) == ["a.jpg"]
    assert _images(kept["https://c.example/3"]) == ["o.jpg"]
    assert boiler in _texts(kept["https://c.example/1"]) and boiler not in _texts(
        kept["https://c.example/3"]
    )
    assert [(r.stage, r.reason) for r in rejected] == [
        ("dedup_documents", "near_duplicate_document"),
        ("dedup_images", "duplicate_image_sha256"),
    ]
    assert _balanced(counters, "dedup_documents")["out"] == 2
    assert _balanced(counters, "dedup_paragraphs")["duplicate_paragraph"] == 1
    assert _balanced(counters, "dedup_images")["in"] == 3  # the dropped document's image is gone

    off = DedupConfig(documents=False, paragraphs=False, images=False)
    kept, rejected, counters = _run(docs, lambda: CorpusDedup(off))
    assert kept == {d.url: d for d in docs} and rejected == [] and counters == {}
    no_image_parts = DedupConfig(
        image=ImageDedupConfig(exact=False, max_occurrences=None, near=False)
    )
    kept, _, counters = _run(docs, lambda: CorpusDedup(no_image_parts))
    assert "dedup_images" not in counters and _images(kept["https://c.example/3"]) == [
        "a.jpg",
        "o.jpg",
    ]


def test_corpus_dedup_of_nothing_is_nothing():
    def build(p: beam.Pipeline) -> dict[str, beam.PCollection]:
        docs, rejected = p | beam.Create([]) | CorpusDedup(DedupConfig())
        return {"docs": docs, "rejected": rejected}

    out, counters = run_collect(build)
    assert out == {"docs": [], "rejected": []}
    assert all(c.get("in", 0) == 0 for c in counters.values())
