"""Captioning and VQA metrics: CIDEr-D (as coco-caption computes it) and VQA accuracy."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

# ---------------------------------------------------------------- CIDEr-D


def caption_tokens(text: str) -> list[str]:
    """Lowercase words without punctuation (a stand-in for coco-caption's PTB tokenizer)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def ngram_counts(words: Sequence[str], n: int = 4) -> Counter:
    """Counts of every 1..n-gram of a word list."""
    counts: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i : i + k])] += 1
    return counts


def _tfidf(
    counts: Counter, df: Counter, log_images: float, n: int
) -> tuple[list[dict], list[float], int]:
    """Per-order tf-idf vectors, their norms, and the length term coco-caption uses."""
    vecs: list[dict] = [{} for _ in range(n)]
    norms = [0.0] * n
    length = 0
    for gram, tf in counts.items():
        order = len(gram) - 1
        weight = tf * (log_images - math.log(max(1.0, df[gram])))
        vecs[order][gram] = weight
        norms[order] += weight * weight
        if order == 1:
            # coco-caption counts bigrams here (its `n == 1`); kept so scores compare.
            length += tf
    return vecs, [math.sqrt(x) for x in norms], length


def _similarity(hyp: tuple, ref: tuple, n: int, sigma: float) -> float:
    """Mean over orders of clipped cosine similarity times a length penalty."""
    (hv, hn, hl), (rv, rn, rl) = hyp, ref
    penalty = math.exp(-((hl - rl) ** 2) / (2 * sigma**2))
    total = 0.0
    for k in range(n):
        dot = sum(min(w, rv[k].get(g, 0.0)) * rv[k].get(g, 0.0) for g, w in hv[k].items())
        if hn[k] and rn[k]:
            dot /= hn[k] * rn[k]
        total += dot * penalty
    return total / n


def cider_d(
    candidates: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    n: int = 4,
    sigma: float = 6.0,
) -> tuple[float, dict[str, float]]:
    """Corpus CIDEr-D and per-image scores; document frequencies come from the references."""
    if set(candidates) != set(references):
        raise ValueError("candidates and references must cover the same image ids")
    refs = {k: [ngram_counts(caption_tokens(r), n) for r in v] for k, v in references.items()}
    df: Counter = Counter()
    for counts in refs.values():
        df.update({g for c in counts for g in c})
    log_images = math.log(max(1, len(refs)))
    scores = {}
    for key, text in candidates.items():
        hyp = _tfidf(ngram_counts(caption_tokens(text), n), df, log_images, n)
        sims = [_similarity(hyp, _tfidf(r, df, log_images, n), n, sigma) for r in refs[key]]
        scores[key] = 10.0 * sum(sims) / max(1, len(sims))
    mean = sum(scores.values()) / max(1, len(scores))
    return mean, scores


# ---------------------------------------------------------------- VQA accuracy

_NUMBERS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
_ARTICLES = {"a", "an", "the"}
_CONTRACTIONS = {
    "dont": "don't", "doesnt": "doesn't", "isnt": "isn't", "arent": "aren't", "cant": "can't",
    "wont": "won't", "didnt": "didn't", "im": "i'm", "ive": "i've", "thats": "that's",
    "whats": "what's", "youre": "you're", "theyre": "they're", "wasnt": "wasn't",
}  # fmt: skip
_PUNCT = ';/[]"{}()=+\\_-><@`,?!'  # the official VQA evaluation's list
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_NUMBER = re.compile(r"(\d)(,)(\d)")


def normalize_answer(answer: str) -> str:
    """The official VQA answer normalization: punctuation, number words, articles."""
    original = answer.replace("\n", " ").replace("\t", " ").strip().lower()
    text = original
    for p in _PUNCT:
        # Punctuation touching a space, or a thousands comma, is dropped; inside a word it splits.
        if (p + " " in original or " " + p in original) or _COMMA_NUMBER.search(original):
            text = text.replace(p, "")
        else:
            text = text.replace(p, " ")
    text = _PERIOD.sub("", text)
    words = []
    for word in text.split():
        word = _NUMBERS.get(word, word)
        if word not in _ARTICLES:
            words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """min(1, matches / 3) averaged over the 10 leave-one-annotator-out subsets."""
    pred = normalize_answer(prediction)
    gold = [normalize_answer(a) for a in answers]
    if not gold:
        raise ValueError("no reference answers")
    accs = []
    for i in range(len(gold)):
        others = gold[:i] + gold[i + 1 :]
        accs.append(min(1.0, sum(a == pred for a in others) / 3.0))
    return sum(accs) / len(accs)
