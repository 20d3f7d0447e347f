"""Near-duplicate documents: DedupDocuments (MinHash-LSH) vs brute-force all-pairs Jaccard.

    python bench/dedup.py [--docs 2000] [--words 300] [--dup-rate 0.3] [--seed 0]

Generates --docs documents of random pseudo-words: originals, and copies of earlier
documents with 0-25 % of their words replaced (true Jaccard from 1.0 down to ~0.3), so
pairs fall on both sides of the threshold. In the same run it times:

  brute force   exact word 5-gram sets, Jaccard of all pairs, groups of pairs >= threshold
  minhash-lsh   the same pure functions DedupDocuments runs, in this process
  beam          the DedupDocuments composite on the DirectRunner (start-up included, and
                without it: a 10-document run is subtracted)

and prints documents/s, the ratio to brute force, and recall / precision of the dropped
documents against brute force (what brute force drops is the truth; rec@0.85: recall of
the documents brute force drops at Jaccard >= 0.85). Speed is wall time of one process.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from curation.dedup import UnionFind, doc_order_key
from curation.minhash import (
    MinHashConfig,
    band_group_edges,
    band_keys,
    band_of_key,
    permutation_seeds,
    text_signature,
    word_shingles,
)
from pipelines.counting import REJECTED
from pipelines.dedup import DOCUMENTS, DedupDocuments
from schemas import Document, TextNode, make_doc_id

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "dor", "len")


def make_corpus(n: int, words: int, dup_rate: float, seed: int) -> list[Document]:
    """Originals and edited copies of earlier documents, with distinct URLs."""
    rng = random.Random(seed)
    vocab = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(20000)})
    texts: list[list[str]] = []
    for _ in range(n):
        if texts and rng.random() < dup_rate:
            copy = list(rng.choice(texts))
            for i in rng.sample(range(len(copy)), int(len(copy) * rng.uniform(0.0, 0.25))):
                copy[i] = rng.choice(vocab)
            texts.append(copy)
        else:
            texts.append(rng.choices(vocab, k=words))
    docs = []
    for i, t in enumerate(texts):
        url = f"https://bench.example/{i:07d}"
        docs.append(Document(make_doc_id(url), url, nodes=(TextNode(" ".join(t)),)))
    return docs


def dropped_by_groups(keys: list, pairs: list[tuple]) -> set[str]:
    """URLs of every document that is not the least of its group."""
    roots = UnionFind().union_all(pairs).roots()
    return {k[1] for k in keys if roots.get(k, k) != k}


def similar_pairs(docs: list[Document], cfg: MinHashConfig) -> list[tuple[tuple, tuple, float]]:
    """Every pair of documents with exact Jaccard >= threshold (doc keys, Jaccard)."""
    keys = [doc_order_key(d) for d in docs]
    sets = [word_shingles(d.text, cfg.ngram) for d in docs]
    sizes = [len(s) for s in sets]
    pairs = []
    for i, j in combinations(range(len(docs)), 2):
        inter = len(sets[i] & sets[j])
        if inter and (jac := inter / (sizes[i] + sizes[j] - inter)) >= cfg.threshold:
            pairs.append((keys[i], keys[j], jac))
    return pairs


def minhash_lsh(docs: list[Document], cfg: MinHashConfig) -> set[str]:
    seeds = permutation_seeds(cfg.num_perm, cfg.seed)
    keys = [doc_order_key(d) for d in docs]
    groups = defaultdict(list)  # what GroupByKey does in the pipeline
    for key, doc in zip(keys, docs, strict=True):
        sig = text_signature(doc.text, cfg, seeds)
        for band in band_keys(sig, cfg.bands, cfg.rows):
            groups[band].append((key, sig))
    pairs = []
    for band, members in groups.items():
        if len(members) > 1:
            pairs += [(a, b) for a, b, _ in band_group_edges(band_of_key(band), members, cfg)]
    return dropped_by_groups(keys, pairs)


def _parse(line: str) -> Document:
    url, text = json.loads(line)
    return Document(make_doc_id(url), url, nodes=(TextNode(text),))


def beam_dedup(docs: list[Document], cfg: MinHashConfig) -> set[str]:
    with tempfile.TemporaryDirectory() as tmp:
        # Documents come from a file, as in a job: beam.Create would pickle and bz2 the
        # whole corpus into the pipeline graph, which then dominates the time.
        Path(f"{tmp}/docs.jsonl").write_text(
            "".join(json.dumps([d.url, d.text]) + "\n" for d in docs)
        )
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
            out = (
                p
                | beam.io.ReadFromText(f"{tmp}/docs.jsonl")
                | beam.Map(_parse)
                | DedupDocuments(cfg)
            )
            _ = out[DOCUMENTS] | "Count" >> beam.combiners.Count.Globally()
            _ = (
                out[REJECTED]
                | beam.Map(lambda r: r.key)
                | beam.io.WriteToText(f"{tmp}/dropped", shard_name_template="")
            )
        return set(Path(f"{tmp}/dropped").read_text().split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--dup-rate", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = MinHashConfig()
    docs = make_corpus(args.docs, args.words, args.dup_rate, args.seed)
    keys = [doc_order_key(d) for d in docs]

    start = time.perf_counter()
    pairs = similar_pairs(docs, cfg)
    truth = dropped_by_groups(keys, [(a, b) for a, b, _ in pairs])
    rows = [("brute force", time.perf_counter() - start, truth)]
    for name, fn in (("minhash-lsh", minhash_lsh), ("beam", beam_dedup)):
        start = time.perf_counter()
        dropped = fn(docs, cfg)
        rows.append((name, time.perf_counter() - start, dropped))
    start = time.perf_counter()
    beam_dedup(docs[:10], cfg)
    startup = time.perf_counter() - start
    rows.append(("beam - start", rows[-1][1] - startup, rows[-1][2]))
    # Clear duplicates: what brute force drops at Jaccard >= 0.85, where LSH should not miss.
    clear = dropped_by_groups(keys, [(a, b) for a, b, j in pairs if j >= 0.85])

    base = rows[0][1]
    print(
        f"{len(docs)} documents of {args.words} words, {len(truth)} near-duplicates "
        f"(Jaccard >= {cfg.threshold} on {cfg.ngram}-grams), {len(clear)} at >= 0.85; "
        f"{cfg.bands}x{cfg.rows} bands; beam start-up {startup:.1f} s"
    )
    print(
        f"{'method':<12} {'seconds':>8} {'docs/s':>9} {'x brute':>8} {'recall':>7} "
        f"{'rec@0.85':>8} {'precision':>9}"
    )
    for name, seconds, dropped in rows:
        hit = len(dropped & truth)
        recall = hit / len(truth) if truth else 1.0
        clear_recall = len(dropped & clear) / len(clear) if clear else 1.0
        precision = hit / len(dropped) if dropped else 1.0
        print(
            f"{name:<12} {seconds:8.2f} {len(docs) / seconds:9.0f} {base / seconds:8.1f} "
            f"{recall:7.3f} {clear_recall:8.3f} {precision:9.3f}"
        )


if __name__ == "__main__":
    main()
