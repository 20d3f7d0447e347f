"""Caption filters for image-text pairs: each check passes or names why it drops a caption."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field

from curation.language import LanguageConfig, identify_language
from curation.text_filters import KEEP, FilterDecision, check_language

# Every reason a check can give, in check order: stable names for Beam counters.
REASONS = (
    "too_long",
    "empty_caption",
    "url_only",
    "file_name",
    "boilerplate_caption",
    "too_short",
    "too_few_words",
    "too_many_words",
    "repeated_characters",
    "all_caps",
    "repeated_words",
    "language_low_confidence",
    "language_not_kept",
)


@dataclass(frozen=True)
class CaptionFilterConfig:
    """Every threshold of the caption filters; the source of each default beside it."""

    # LAION-5B (Schuhmann et al. 2022), section 3.1: captions under 5 characters are dropped.
    min_chars: int = 5
    # Ours: a bound so one absurd alt-text (a pasted article) cannot reach the regexes below.
    max_chars: int = 1000
    # ALIGN (Jia et al. 2021), section 3: alt-texts of fewer than 3 unigrams are dropped.
    min_words: int = 3
    # ALIGN drops more than 20 unigrams, but LTIP (Flamingo, appendix A.3.3) keeps longer
    # descriptions, and news photo captions run 60-80 words; 128 keeps those and still
    # drops pasted paragraphs and keyword dumps (ours).
    max_words: int = 128
    # Ours: "!!!!!!", "aaaaaaa", "--------": a run this long of one non-digit character.
    max_char_run: int = 5
    # Ours: shouting junk ("BUY CHEAP WATCHES ONLINE"); judged only with this many letters.
    max_upper_fraction: float = 0.9
    min_letters_for_caps: int = 10
    # Ours: "cat cat cat cat dog"; judged only from this many words on.
    min_unique_word_ratio: float = 0.5
    min_words_for_repetition: int = 4
    # Language: keeps every language by default, as `curate m3w` does; DataComp keeps
    # English only (fastText), which is `--languages en` here.
    language: LanguageConfig = field(default_factory=LanguageConfig)


# Han, kana and Thai carry no spaces between words: each character counts as one word.
_NO_SPACE = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_RE = re.compile(rf"[{_NO_SPACE}]|[^\W_]+(?:['’\-.][^\W_]+)*")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACE_RE = re.compile(r"\s+")

_IMAGE_EXTENSIONS = (
    "jpg|jpeg|jpe|jfif|png|gif|webp|bmp|tif|tiff|heic|heif|avif|svg|ico|raw|cr2|nef|dng|arw"
)
_FILE_EXT_RE = re.compile(rf"\.(?:{_IMAGE_EXTENSIONS})$", re.IGNORECASE)
# Camera and phone file names: IMG_1234, DSC01234, P1010001, PXL_20230101_123456789,
# 20200101_123456, image001, GOPR0001 — a short letter prefix, then at least 3 digits.
_CAMERA_NAME_RE = re.compile(r"^[a-z_]{0,12}[-_ ]?\d{3,}[\w\-.~]*$", re.IGNORECASE)
_SCREENSHOT_RE = re.compile(r"^screen ?shot[\s_\-]*\d{2,4}", re.IGNORECASE)
# A URL slug or file stem: one token whose words are joined by at least two - or _.
_SLUG_RE = re.compile(r"^[^\W_]+(?:[-_]+[^\W_]+){2,}$")
_SCHEME_URL_RE = re.compile(r"^(?:(?:https?|ftp)://|www\.)\S+$", re.IGNORECASE)
_DOMAIN_RE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.([a-z]{2,24})(?:[/?#]\S*)?$", re.IGNORECASE)

# Alt-texts that say nothing about the picture (ours, from LAION/CC3M alt-text listings).
BOILERPLATE_CAPTIONS = frozenset(
    {
        "image", "images", "photo", "photos", "picture", "pictures", "pic", "img", "photograph",
        "untitled", "untitled image", "untitled design", "no title", "no description",
        "description", "image description", "thumbnail", "thumb", "placeholder", "logo",
        "icon", "banner", "avatar", "profile picture", "null", "none", "undefined", "nan",
        "n a", "na", "alt", "alt text", "default", "click here", "click to enlarge",
        "image not found", "image unavailable", "no image", "no image available",
        "loading", "spacer", "blank", "photo by", "stock photo", "featured image",
        "screenshot", "attachment", "photo credit", "caption", "gallery", "slide",
        "slideshow", "advertisement", "file", "download", "image of", "photo of",
        "picture of", "see caption", "enlarge", "zoom", "view image", "read more",
    }
)  # fmt: skip
_NUMBERED_BOILERPLATE_RE = re.compile(
    r"^(?:image|photo|picture|img|pic|figure|fig|slide|untitled|attachment|thumbnail|"
    r"screenshot|file|scan)\s*[#:.\-_]?\s*\d+$",
    re.IGNORECASE,
)


def clean_caption(text: str) -> str:
    """HTML entities decoded, control and zero-width characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub(" ", text)).strip()


def caption_words(caption: str) -> list[str]:
    """Words of a caption: letter/digit runs (with inner ' - .), one per Han/kana/Thai character."""
    return _WORD_RE.findall(caption.lower())


def _drop(reason: str, detail: str) -> FilterDecision:
    return FilterDecision(keep=False, reason=reason, detail=detail)


def is_url_only(caption: str) -> bool:
    """True when every token is a URL or a bare domain ("example.com/a", "www.x.org")."""
    tokens = caption.split()
    return bool(tokens) and all(_is_url_token(t.strip("<>()[]\"'")) for t in tokens)


def _is_url_token(token: str) -> bool:
    if _SCHEME_URL_RE.match(token):
        return True
    m = _DOMAIN_RE.match(token)
    # "photo.jpg" has the shape of a domain; an image extension makes it a file name.
    return m is not None and not _FILE_EXT_RE.search("." + m.group(1))


def is_file_name(caption: str) -> bool:
    """True for a file name or camera default name standing in for a caption."""
    if _FILE_EXT_RE.search(caption.rstrip(" .")) or _SCREENSHOT_RE.match(caption):
        return True
    if any(ch.isspace() for ch in caption):
        return False
    return bool(_CAMERA_NAME_RE.match(caption) or _SLUG_RE.match(caption))


def is_boilerplate(caption: str) -> bool:
    """True for alt-texts like "image", "Photo 3", "untitled-1", "click to enlarge"."""
    if _NUMBERED_BOILERPLATE_RE.match(caption):
        return True
    words = " ".join(caption_words(caption.replace("/", " ")))
    return words in BOILERPLATE_CAPTIONS or (not words and bool(caption))


def longest_char_run(caption: str) -> int:
    """Length of the longest run of one repeated non-digit, non-space character."""
    best, run, prev = 0, 0, ""
    for ch in caption:
        run = run + 1 if ch == prev else 1
        prev = ch
        if not (ch.isdigit() or ch.isspace()):
            best = max(best, run)
    return best


def upper_fraction(caption: str) -> tuple[float, int]:
    """(fraction of cased letters that are upper case, number of cased letters)."""
    cased = [ch for ch in caption if ch.isupper() or ch.islower()]
    if not cased:
        return 0.0, 0
    return sum(ch.isupper() for ch in cased) / len(cased), len(cased)


def check_patterns(caption: str) -> FilterDecision | None:
    """URL-only, file-name and boilerplate captions."""
    if is_url_only(caption):
        return _drop("url_only", caption[:200])
    if is_file_name(caption):
        return _drop("file_name", caption[:200])
    if is_boilerplate(caption):
        return _drop("boilerplate_caption", caption[:200])
    return None


def check_length(caption: str, words: list[str], cfg: CaptionFilterConfig) -> FilterDecision | None:
    """Characters and words within the configured bounds."""
    if len(caption) < cfg.min_chars:
        return _drop("too_short", f"chars={len(caption)} < {cfg.min_chars}: {caption!r}")
    if len(words) < cfg.min_words:
        return _drop("too_few_words", f"words={len(words)} < {cfg.min_words}: {caption!r}")
    if len(words) > cfg.max_words:
        return _drop("too_many_words", f"words={len(words)} > {cfg.max_words}")
    return None


def check_junk(caption: str, words: list[str], cfg: CaptionFilterConfig) -> FilterDecision | None:
    """Repeated characters, all-caps shouting and repeated words."""
    run = longest_char_run(caption)
    if run > cfg.max_char_run:
        return _drop("repeated_characters", f"run={run} > {cfg.max_char_run}: {caption[:200]!r}")
    upper, letters = upper_fraction(caption)
    if letters >= cfg.min_letters_for_caps and upper > cfg.max_upper_fraction:
        detail = f"upper={upper:.2f} > {cfg.max_upper_fraction}: {caption[:200]!r}"
        return _drop("all_caps", detail)
    if len(words) >= cfg.min_words_for_repetition:
        ratio = len(set(words)) / len(words)
        if ratio < cfg.min_unique_word_ratio:
            detail = f"unique={ratio:.2f} < {cfg.min_unique_word_ratio}: {caption[:200]!r}"
            return _drop("repeated_words", detail)
    return None


def filter_caption(
    text: str | None, cfg: CaptionFilterConfig | None = None
) -> tuple[str, FilterDecision]:
    """(cleaned caption, keep/drop decision); checks run cheapest and most specific first."""
    cfg = cfg or CaptionFilterConfig()
    raw = text or ""
    if len(raw) > 4 * cfg.max_chars:  # judge huge inputs by their raw size, before any work
        return clean_caption(raw[: cfg.max_chars]), _drop(
            "too_long", f"chars={len(raw)} > {cfg.max_chars}"
        )
    caption = clean_caption(raw)
    if len(caption) > cfg.max_chars:
        return caption, _drop("too_long", f"chars={len(caption)} > {cfg.max_chars}")
    if not caption:
        return caption, _drop("empty_caption", repr(raw[:200]))
    words = caption_words(caption)
    decision = (
        check_patterns(caption)
        or check_length(caption, words, cfg)
        or check_junk(caption, words, cfg)
    )
    if decision is None and cfg.language.languages:
        decision = check_language(*identify_language(caption), cfg.language)
    return caption, decision or KEEP
