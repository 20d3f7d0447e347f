"""Gopher / C4-style document filters: each check passes or names why it drops a document."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from curation.language import LanguageConfig, identify_language
from curation.stopwords import stop_words_for
from curation.text_boilerplate import remove_boilerplate
from schemas.records import Document, TextNode


@dataclass(frozen=True)
class TextFilterConfig:
    """Every threshold of the text filters; defaults from the paper named beside each."""

    # Gopher (Rae et al. 2021), appendix A.1.1 "quality filters".
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1  # for "#" and for "..."/"…", each on its own
    max_bullet_line_fraction: float = 0.9
    max_ellipsis_line_fraction: float = 0.3
    min_alpha_word_fraction: float = 0.8
    min_stop_words: int = 2  # distinct words of the language's list
    # Gopher, table A1 "repetition removal".
    max_duplicate_line_fraction: float = 0.30
    max_duplicate_paragraph_fraction: float = 0.30
    max_duplicate_line_char_fraction: float = 0.20
    max_duplicate_paragraph_char_fraction: float = 0.20
    top_ngram_max_char_fraction: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    duplicate_ngram_max_char_fraction: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )
    # C4 (Raffel et al. 2020), section 2.2: any "lorem ipsum" drops the page.
    drop_lorem_ipsum: bool = True
    # Ours. C4 deletes every line that mentions JavaScript or a policy; we spare long
    # lines (an article *about* cookies) and drop the page only when such lines dominate.
    max_boilerplate_line_words: int = 60
    max_boilerplate_line_fraction: float = 0.5
    # Ours. Languages written without spaces: their "words" (one per CJK character, or a
    # whole Thai phrase) have no meaningful mean length or word n-grams, so the mean word
    # length and n-gram checks are skipped for them.
    no_space_languages: tuple[str, ...] = ("ja", "zh", "yue", "wuu", "th", "lo", "km", "my", "bo")


@dataclass(frozen=True)
class FilterDecision:
    """Keep or drop; a drop names a stable snake_case reason and the measured value."""

    keep: bool
    reason: str = ""
    detail: str = ""


KEEP = FilterDecision(keep=True)

# Every reason a check can give, in check order: stable names for Beam counters.
REASONS = (
    "lorem_ipsum",
    "boilerplate",
    "too_few_words",
    "too_many_words",
    "language_low_confidence",
    "language_not_kept",
    "mean_word_length",
    "symbol_word_ratio",
    "bullet_lines",
    "ellipsis_lines",
    "non_alpha_words",
    "no_stop_words",
    "duplicate_lines",
    "duplicate_line_chars",
    "duplicate_paragraphs",
    "duplicate_paragraph_chars",
    "top_ngram_chars",
    "duplicate_ngram_chars",
)

# Han and kana carry no spaces between words: each character is counted as one word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_HAS_ALNUM_RE = re.compile(r"[^\W_]")
_HAS_ALPHA_RE = re.compile(r"[^\W\d_]")
_PARAGRAPH_BREAK_RE = re.compile(r"\n\s*\n")
_EDGE_PUNCTUATION = string.punctuation + "“”‘’«»„‚‹›…–—¿¡·"
_BULLETS = ("- ", "* ", "•", "●", "○", "◦", "▪", "▫", "■", "□", "‣", "⁃", "–", "—", "►", "▶", "➢")
_ELLIPSES = ("...", "…")


@dataclass(frozen=True)
class TextStats:
    """What the checks measure, computed once per document."""

    lowered: str  # the whole text before boilerplate removal, lowercased
    removed_lines: int  # boilerplate lines removed
    total_lines: int  # non-empty lines before removal
    text: str  # the text after removal
    lines: tuple[str, ...]  # non-empty, stripped
    paragraphs: tuple[str, ...]  # text blocks split at blank lines, non-empty, stripped
    tokens: tuple[str, ...]  # lowercased whitespace tokens (CJK: one per character)
    words: tuple[str, ...]  # tokens holding a letter or digit, edge punctuation off, lowercased
    language: str
    confidence: float


def measure_text(
    doc: Document, original_text: str, removed: int, total: int, confidence: float
) -> TextStats:
    """Split `doc` (boilerplate already removed) into the units the checks count."""
    text = doc.text
    lines = tuple(s for s in (ln.strip() for ln in text.split("\n")) if s)
    paragraphs = tuple(
        s
        for node in doc.nodes
        if isinstance(node, TextNode)
        for s in (p.strip() for p in _PARAGRAPH_BREAK_RE.split(node.text))
        if s
    )
    tokens = tuple(_TOKEN_RE.findall(text.lower()))
    stripped = (t.strip(_EDGE_PUNCTUATION) for t in tokens)
    # isalnum() is the fast path for plain words; the regex catches "don't", "e-mail".
    words = tuple(w for w in stripped if w and (w.isalnum() or _HAS_ALNUM_RE.search(w)))
    return TextStats(
        lowered=original_text.lower(),
        removed_lines=removed,
        total_lines=total,
        text=text,
        lines=lines,
        paragraphs=paragraphs,
        tokens=tokens,
        words=words,
        language=doc.language,
        confidence=confidence,
    )


def _drop(reason: str, detail: str) -> FilterDecision:
    return FilterDecision(keep=False, reason=reason, detail=detail)


def check_lorem_ipsum(lowered: str, cfg: TextFilterConfig) -> FilterDecision | None:
    """C4: placeholder text anywhere marks an unfinished page."""
    if cfg.drop_lorem_ipsum and "lorem ipsum" in lowered:
        return _drop("lorem_ipsum", "contains 'lorem ipsum'")
    return None


def check_boilerplate(removed: int, total: int, cfg: TextFilterConfig) -> FilterDecision | None:
    """Drop a page whose lines were mostly cookie / policy / enable-JavaScript boilerplate."""
    if total and removed / total > cfg.max_boilerplate_line_fraction:
        limit = cfg.max_boilerplate_line_fraction
        return _drop("boilerplate", f"boilerplate_lines={removed}/{total} > {limit}")
    return None


def check_word_count(n_words: int, cfg: TextFilterConfig) -> FilterDecision | None:
    """Gopher: between 50 and 100,000 words."""
    if n_words < cfg.min_words:
        return _drop("too_few_words", f"words={n_words} < {cfg.min_words}")
    if n_words > cfg.max_words:
        return _drop("too_many_words", f"words={n_words} > {cfg.max_words}")
    return None


def check_language(language: str, confidence: float, lang: LanguageConfig) -> FilterDecision | None:
    """Keep only the configured languages, identified with enough confidence."""
    if not lang.languages:
        return None
    if confidence < lang.min_confidence:
        detail = f"language={language} p={confidence:.3f} < {lang.min_confidence}"
        return _drop("language_low_confidence", detail)
    if language not in lang.languages:
        return _drop("language_not_kept", f"language={language} not in {','.join(lang.languages)}")
    return None


def check_mean_word_length(
    words: Sequence[str], language: str, cfg: TextFilterConfig
) -> FilterDecision | None:
    """Gopher: mean word length between 3 and 10 characters (skipped without spaces)."""
    if not words or language in cfg.no_space_languages:
        return None
    mean = sum(len(w) for w in words) / len(words)
    if not cfg.min_mean_word_length <= mean <= cfg.max_mean_word_length:
        bounds = f"[{cfg.min_mean_word_length}, {cfg.max_mean_word_length}]"
        return _drop("mean_word_length", f"mean_word_length={mean:.2f} not in {bounds}")
    return None


def check_symbol_word_ratio(
    text: str, n_words: int, cfg: TextFilterConfig
) -> FilterDecision | None:
    """Gopher: at most 0.1 hash symbols per word, and at most 0.1 ellipses per word."""
    if not n_words:
        return None
    ellipses = text.count("...") + text.count("…")
    for symbol, count in (("#", text.count("#")), ("ellipsis", ellipses)):
        ratio = count / n_words
        if ratio > cfg.max_symbol_word_ratio:
            detail = f"{symbol}_per_word={ratio:.3f} > {cfg.max_symbol_word_ratio}"
            return _drop("symbol_word_ratio", detail)
    return None


def check_bullet_lines(lines: Sequence[str], cfg: TextFilterConfig) -> FilterDecision | None:
    """Gopher: at most 90% of lines start with a bullet point."""
    if not lines:
        return None
    fraction = sum(1 for ln in lines if ln.startswith(_BULLETS)) / len(lines)
    if fraction > cfg.max_bullet_line_fraction:
        return _drop(
            "bullet_lines", f"bullet_lines={fraction:.3f} > {cfg.max_bullet_line_fraction}"
        )
    return None


def check_ellipsis_lines(lines: Sequence[str], cfg: TextFilterConfig) -> FilterDecision | None:
    """Gopher: at most 30% of lines end with an ellipsis."""
    if not lines:
        return None
    fraction = sum(1 for ln in lines if ln.endswith(_ELLIPSES)) / len(lines)
    if fraction > cfg.max_ellipsis_line_fraction:
        limit = cfg.max_ellipsis_line_fraction
        return _drop("ellipsis_lines", f"ellipsis_lines={fraction:.3f} > {limit}")
    return None


def check_alpha_words(tokens: Sequence[str], cfg: TextFilterConfig) -> FilterDecision | None:
    """Gopher: at least 80% of words contain an alphabetic character."""
    if not tokens:
        return None
    fraction = sum(1 for t in tokens if t.isalpha() or _HAS_ALPHA_RE.search(t)) / len(tokens)
    if fraction < cfg.min_alpha_word_fraction:
        limit = cfg.min_alpha_word_fraction
        return _drop("non_alpha_words", f"alpha_words={fraction:.3f} < {limit}")
    return None


def check_stop_words(
    words: Sequence[str], language: str, cfg: TextFilterConfig
) -> FilterDecision | None:
    """Gopher: at least 2 distinct stop words; skipped for languages without a list."""
    stop_words = stop_words_for(language)
    if stop_words is None:
        return None
    found = len(stop_words.intersection(words))
    if found < cfg.min_stop_words:
        return _drop("no_stop_words", f"stop_words={found} < {cfg.min_stop_words} ({language})")
    return None


def check_repetition(
    items: Sequence[str], unit: str, max_fraction: float, max_char_fraction: float
) -> FilterDecision | None:
    """Gopher: share of repeated `unit`s (lines or paragraphs), by count then by characters."""
    if not items:
        return None
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    fraction = dup_items / len(items)
    if fraction > max_fraction:
        return _drop(f"duplicate_{unit}s", f"duplicate_{unit}s={fraction:.3f} > {max_fraction}")
    char_fraction = dup_chars / sum(len(i) for i in items)
    if char_fraction > max_char_fraction:
        detail = f"duplicate_{unit}_chars={char_fraction:.3f} > {max_char_fraction}"
        return _drop(f"duplicate_{unit}_chars", detail)
    return None


def _ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return list(zip(*(words[i:] for i in range(n)), strict=False))  # shorter tails end it


def check_top_ngrams(
    words: Sequence[str], language: str, cfg: TextFilterConfig
) -> FilterDecision | None:
    """Gopher: the most frequent n-gram (n = 2..4) covers at most 20/18/16% of characters.

    Skipped for languages written without spaces: n-grams of single characters repeat
    far more than n-grams of words, so Gopher's limits do not transfer.
    """
    if language in cfg.no_space_languages:
        return None
    total = sum(len(w) for w in words)
    for n, limit in cfg.top_ngram_max_char_fraction:
        grams = _ngrams(words, n)
        if not grams:
            continue
        gram, count = Counter(grams).most_common(1)[0]
        fraction = sum(len(w) for w in gram) * count / total if count > 1 else 0.0
        if fraction > limit:
            return _drop("top_ngram_chars", f"top_{n}gram_chars={fraction:.3f} > {limit}")
    return None


def _duplicate_ngram_char_fraction(words: Sequence[str], n: int, total: int) -> float:
    """Share of characters in words covered by any n-gram seen twice (overlaps counted once)."""
    grams = _ngrams(words, n)
    counts = Counter(grams)
    if len(counts) == len(grams):
        return 0.0
    covered = bytearray(len(words))
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i : i + n] = b"\x01" * n
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c) / total


def check_duplicate_ngrams(
    words: Sequence[str], language: str, cfg: TextFilterConfig
) -> FilterDecision | None:
    """Gopher: characters in repeated n-grams (n = 5..10) stay under 15%..10%.

    Skipped for languages written without spaces, as `check_top_ngrams`.
    """
    if language in cfg.no_space_languages:
        return None
    total = sum(len(w) for w in words)
    limits = sorted(cfg.duplicate_ngram_max_char_fraction)
    for i, (n, limit) in enumerate(limits):
        fraction = _duplicate_ngram_char_fraction(words, n, total) if total else 0.0
        if fraction > limit:
            detail = f"duplicate_{n}gram_chars={fraction:.3f} > {limit}"
            return _drop("duplicate_ngram_chars", detail)
        # A word inside a repeated (n+1)-gram is inside a repeated n-gram, so the fraction
        # only falls as n grows: once under every remaining limit, no longer n can fail.
        if all(fraction <= rest for _, rest in limits[i + 1 :]):
            break
    return None


def _failures(
    stats: TextStats, cfg: TextFilterConfig, lang: LanguageConfig
) -> Iterator[FilterDecision]:
    """Every failing check, lazily, in the fixed order (cheap and decisive checks first)."""
    n_words = len(stats.words)
    line_limits = (cfg.max_duplicate_line_fraction, cfg.max_duplicate_line_char_fraction)
    paragraph_limits = (
        cfg.max_duplicate_paragraph_fraction,
        cfg.max_duplicate_paragraph_char_fraction,
    )
    checks = (
        lambda: check_lorem_ipsum(stats.lowered, cfg),
        lambda: check_boilerplate(stats.removed_lines, stats.total_lines, cfg),
        lambda: check_word_count(n_words, cfg),
        lambda: check_language(stats.language, stats.confidence, lang),
        lambda: check_mean_word_length(stats.words, stats.language, cfg),
        lambda: check_symbol_word_ratio(stats.text, n_words, cfg),
        lambda: check_bullet_lines(stats.lines, cfg),
        lambda: check_ellipsis_lines(stats.lines, cfg),
        lambda: check_alpha_words(stats.tokens, cfg),
        lambda: check_stop_words(stats.words, stats.language, cfg),
        lambda: check_repetition(stats.lines, "line", *line_limits),
        lambda: check_repetition(stats.paragraphs, "paragraph", *paragraph_limits),
        lambda: check_top_ngrams(stats.words, stats.language, cfg),
        lambda: check_duplicate_ngrams(stats.words, stats.language, cfg),
    )
    for check in checks:
        decision = check()
        if decision is not None:
            yield decision


def _prepare(doc: Document, cfg: TextFilterConfig) -> tuple[Document, TextStats]:
    """Remove boilerplate lines, identify the language, and measure what is left."""
    nodes, removed, total = remove_boilerplate(doc.nodes, cfg)
    cleaned = replace(doc, nodes=nodes) if nodes != doc.nodes else doc
    language, confidence = identify_language(cleaned.text)
    cleaned = replace(cleaned, language=language)
    return cleaned, measure_text(cleaned, doc.text, removed, total, confidence)


def apply_text_filters(
    doc: Document, cfg: TextFilterConfig | None = None, lang: LanguageConfig | None = None
) -> tuple[Document, FilterDecision]:
    """Clean boilerplate, set the language, and return the first failing check (or keep)."""
    cfg = cfg or TextFilterConfig()
    cleaned, stats = _prepare(doc, cfg)
    return cleaned, next(_failures(stats, cfg, lang or LanguageConfig()), KEEP)


def all_failures(
    doc: Document, cfg: TextFilterConfig | None = None, lang: LanguageConfig | None = None
) -> list[FilterDecision]:
    """Every check `doc` fails, in order (for diagnosis; the pipeline uses the first)."""
    cfg = cfg or TextFilterConfig()
    _, stats = _prepare(doc, cfg)
    return list(_failures(stats, cfg, lang or LanguageConfig()))
