"""Decode an HTML payload to text: BOM, HTTP charset, <meta> charset, detection, then UTF-8."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

# WHATWG Encoding Standard §4.2 prescans 1024 bytes; real pages often put a long <head>
# (inline scripts, preloads) before the <meta>, so look a little further.
META_SCAN_BYTES = 4096
# Detection on a prefix is as good as on the whole page and bounded in time.
DETECT_BYTES = 65536
# A declared multi-byte charset that yields more than this fraction of U+FFFD is wrong
# (mislabelled page), not merely carrying a few corrupt bytes.
MAX_REPLACEMENT_FRACTION = 0.01

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Labels browsers decode with a superset codec (WHATWG Encoding Standard, "Encodings"
# table): latin-1 and ascii pages are really windows-1252, gb2312 is GBK ⊂ gb18030, etc.
_WHATWG_SUPERSET = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "utf-16": "utf-16-le",
}
# Labels WHATWG maps to "replacement" or does not support, plus Python-only codecs that
# are not text encodings; a page declaring one of these falls through to the next step.
_REFUSED = {"utf-7", "utf-32", "utf-32-le", "utf-32-be", "rot-13", "hex", "base64", "uu"}

# WHATWG encodings, as charset_normalizer names them, most used on the web first.
_DETECTABLE = (
    "utf_8", "cp1252", "cp1251", "cp1250", "shift_jis", "gb18030", "euc_kr", "big5",
    "euc_jp", "iso2022_jp", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "cp874", "koi8_r", "koi8_u", "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_5",
    "iso8859_6", "iso8859_7", "iso8859_8", "iso8859_10", "iso8859_13", "iso8859_14",
    "iso8859_15", "iso8859_16", "cp866", "mac_roman", "mac_cyrillic",
)  # fmt: skip
_SCRIPT_OR_STYLE = re.compile(rb"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(rb"<[^>]*>")
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+\-]+)", re.I)
_META_CHARSET = re.compile(
    rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+\-]+)", re.I | re.S
)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.:\-]+)", re.I)


def normalize_label(label: str) -> str | None:
    """The Python codec a browser would use for an encoding label, or None if unusable."""
    label = label.strip().strip("\"'").lower()
    if label in ("iso-8859-8-i", "csiso88598i"):  # logical-order Hebrew, same bytes
        label = "iso-8859-8"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return _WHATWG_SUPERSET.get(info.name, info.name)


def bom_encoding(content: bytes) -> str | None:
    """The encoding named by a byte order mark, if the payload starts with one."""
    for bom, name in _BOMS:
        if content.startswith(bom):
            return name
    return None


def header_charset(content_type: str) -> str | None:
    """The usable charset parameter of an HTTP Content-Type header, if any."""
    m = _HEADER_CHARSET.search(content_type or "")
    return normalize_label(m.group(1)) if m else None


def meta_charset(content: bytes) -> str | None:
    """The usable charset of a <meta> (or XML declaration) in the first bytes of the page."""
    head = content[:META_SCAN_BYTES]
    for pattern in (_META_CHARSET, _XML_ENCODING):
        m = pattern.search(head)
        if m is None:
            continue
        name = normalize_label(m.group(1).decode("ascii", "replace"))
        # WHATWG: a <meta> can never switch to UTF-16 (it was read as ASCII-compatible).
        if name is not None and name.startswith("utf-16"):
            return "utf-8"
        if name is not None:
            return name
    return None


def _decode_declared(content: bytes, encoding: str) -> str | None:
    """Decode with a declared encoding, or None when the label evidently does not fit."""
    try:
        return content.decode(encoding)
    except UnicodeDecodeError:
        pass
    text = content.decode(encoding, errors="replace")
    # Single-byte codecs only fail on a few unassigned bytes: the label still fits.
    if codecs.lookup(encoding).name.startswith(("cp", "iso8859", "koi8", "mac")):
        return text
    if text.count("\ufffd") <= MAX_REPLACEMENT_FRACTION * max(len(text), 1):
        return text
    return None


def _visible_bytes(content: bytes) -> bytes:
    """The page's text bytes without markup, scripts and styles (ASCII-compatible pages)."""
    text = _SCRIPT_OR_STYLE.sub(b" ", content)
    return _TAG.sub(b" ", text)


def detect_encoding(content: bytes) -> str | None:
    """Guess the encoding of undeclared bytes with charset_normalizer (None if it cannot).

    Detection looks at the text only (ASCII markup drowns the few telling bytes of a
    Spanish or French page) and only among the encodings browsers support (WHATWG), so a
    windows-1252 page is not read as DOS cp852.
    """
    sample = _visible_bytes(content[: 4 * DETECT_BYTES])[:DETECT_BYTES]
    if not sample.strip():
        sample = content[:DETECT_BYTES]
    matches = list(charset_normalizer.from_bytes(sample, cp_isolation=list(_DETECTABLE)))
    if not matches:
        return None
    # Least mess first, then the most coherent language, then the commoner web encoding.
    best = min(
        matches,
        key=lambda m: (m.chaos, -m.coherence, _DETECTABLE.index(m.encoding)),
    )
    return normalize_label(best.encoding)


def decode_html(content: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode an HTML payload; returns (text, Python codec name used)."""
    bom = bom_encoding(content)
    if bom is not None:
        # WHATWG "BOM sniff": a BOM overrides every declaration.
        body = content[len(codecs.BOM_UTF8) if bom == "utf-8" else 2 :]
        return body.decode(bom, errors="replace"), bom
    for declared in (header_charset(content_type), meta_charset(content)):
        if declared is None:
            continue
        text = _decode_declared(content, declared)
        if text is not None:
            return text, codecs.lookup(declared).name
    # Undeclared: valid UTF-8 is UTF-8 (most of the web, and ASCII is a subset); only
    # otherwise pay for statistical detection.
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    detected = detect_encoding(content)
    if detected is not None:
        return content.decode(detected, errors="replace"), codecs.lookup(detected).name
    return content.decode("utf-8", errors="replace"), "utf-8"
