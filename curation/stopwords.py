"""Small per-language stop-word lists for the Gopher stop-word filter."""

from __future__ import annotations

# English is the list of the Gopher paper (Rae et al. 2021, appendix A.1.1): a document
# must contain at least two of these. The other lists are ours: the same kind of words
# (articles, "to be", "to have", "of", "to", "and", "that", "with") in each language, so
# the test means "this reads like running prose" everywhere it applies.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "fr": frozenset(
        {"le", "la", "les", "un", "une", "être", "est", "à", "de", "et", "que", "avoir", "avec"}
    ),
    "de": frozenset(
        {"der", "die", "das", "ein", "eine", "sein", "ist", "zu", "von", "und", "dass", "mit"}
    ),
    "es": frozenset(
        {"el", "la", "los", "las", "un", "una", "ser", "es", "de", "y", "que", "haber", "con"}
    ),
    "it": frozenset(
        {"il", "lo", "la", "gli", "le", "un", "una", "essere", "è", "di", "e", "che", "con"}
    ),
    "pt": frozenset({"o", "os", "as", "um", "uma", "ser", "é", "de", "e", "que", "ter", "com"}),
    "nl": frozenset({"de", "het", "een", "zijn", "is", "te", "van", "en", "dat", "hebben", "met"}),
}


def stop_words_for(language: str) -> frozenset[str] | None:
    """The stop-word list of `language` (ISO 639-1), or None when we have none."""
    return STOP_WORDS.get(language)
