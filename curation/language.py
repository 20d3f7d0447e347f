"""Offline language identification with the model bundled in py3langid (no download)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Code returned when the text carries no letters to judge (ISO 639-2 "undetermined").
UNDETERMINED = "und"

# How much text the identifier reads. Character n-gram Naive Bayes saturates after a few
# hundred characters; two windows (start and middle) guard against a page whose first
# block is a stray line in another language, while bounding the cost of huge documents.
DEFAULT_SAMPLE_CHARS = 4000

_identifier: LanguageIdentifier | None = None
_identifier_lock = threading.Lock()


@dataclass(frozen=True)
class LanguageConfig:
    """Which languages a filter keeps and how sure the identifier must be."""

    # Empty keeps every language (and skips the confidence check): the M3W recipe in the
    # Flamingo paper does not restrict language; `--languages en,...` narrows it.
    languages: tuple[str, ...] = ()
    # Normalised probability below which a kept-language decision is not trusted; 0.5 is
    # the usual "more likely than all others together" cut (ours, not from a paper).
    min_confidence: float = 0.5


def _get_identifier() -> LanguageIdentifier:
    """The process-wide identifier, loaded on first use (the model load takes ~0.5 s)."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def load_language_model() -> None:
    """Load the identifier now (for `DoFn.setup()`), instead of on the first document."""
    _get_identifier()


def language_sample(text: str, max_chars: int = DEFAULT_SAMPLE_CHARS) -> str:
    """A bounded sample of `text`: all of it, or a window from the start and one from the middle."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    middle = len(text) // 2
    return text[:half] + "\n" + text[middle : middle + half]


def identify_language(text: str, max_chars: int = DEFAULT_SAMPLE_CHARS) -> tuple[str, float]:
    """The language of `text` as (ISO 639-1 code, probability in [0, 1]).

    Codes are ISO 639-1 where the language has one and the model's ISO 639-3 code otherwise
    (e.g. "yue"); text without any letter gives ("und", 0.0).
    """
    sample = language_sample(text, max_chars)
    if not any(ch.isalpha() for ch in sample):
        return UNDETERMINED, 0.0
    code, probability = _get_identifier().classify(sample)
    # Clamp: float32 softmax can land a hair outside [0, 1].
    return str(code), min(1.0, max(0.0, float(probability)))
