"""Image references in HTML: pick the real URL (srcset, lazy-load, <picture>) and spot junk."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

# Attributes lazy-loading libraries (lazysizes, lozad, jQuery lazyload, WordPress plugins,
# Medium, …) put the real image in while `src` holds a placeholder; most specific first.
LAZY_SRCSET_ATTRS = ("data-srcset", "data-lazy-srcset", "data-original-set")
LAZY_SRC_ATTRS = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
    "data-full-src",
    "data-src-large",
    "data-echo",
    "data-img-src",
    "data-original-src",
    "data-image",
)

_SRCSET_SEPARATORS = re.compile(r"[\s,]*")
_SRCSET_URL = re.compile(r"\S*")
_URL_NOISE = re.compile(r"[\t\n\r]")
_SRCSET_DESCRIPTOR = re.compile(r"^(\d+(?:\.\d+)?)([wxh])$", re.I)
_DIMENSION = re.compile(r"^\s*(\d{1,6})(?:\.\d*)?\s*(?:px)?\s*$", re.I)
_STYLE_DIMENSION = re.compile(r"(?<![-\w])(width|height)\s*:\s*(\d{1,6})(?:\.\d*)?px", re.I)
# Placeholder file names shown until a lazy loader swaps in the real image: only these
# words, sizes and separators ("blank.gif", "lazy_placeholder.png", "1x1-transparent.gif").
# Each word must end at a separator so the pattern cannot backtrack exponentially on long
# digit runs ("1351332873_157836_….jpg" once took seconds with an optional separator);
# at least one placeholder word is required, so "123.jpg" is a real image.
_PLACEHOLDER_KEYWORD = (
    r"(?:blank|spacer|placeholder|transparent|lazy|load|loading|loader|pixel|empty|"
    r"grey|gray|white|clear|dot|1x1)"
)
_PLACEHOLDER_FILLER = rf"(?:{_PLACEHOLDER_KEYWORD}|\d+|img|image|px|\d+x\d+)"
_PLACEHOLDER_NAME = re.compile(
    rf"(?:{_PLACEHOLDER_FILLER}[-_.])*{_PLACEHOLDER_KEYWORD}(?:[-_.]{_PLACEHOLDER_FILLER})*"
    r"\.(?:gif|png|jpe?g|svg|webp)",
    re.I,
)
# URL path words of images that carry no content: site chrome, people's faces, counters.
# Whole words only (plural/digits allowed), so "/shared/" or "iconic.jpg" are not hits.
_JUNK_NAME = re.compile(
    r"(?:^|[^a-z])(?:logo|favicon|icon|avatar|gravatar|sprite|spacer|blank|pixel|"
    r"tracking|tracker|beacon|badge|button|emoji|emoticon|smiley|spinner|loader|loading|"
    r"placeholder|transparent|1x1|share|social|rss|arrow|bullet)s?(?=[^a-z]|$)",
    re.I,
)
_JUNK_NAME_LOWER = re.compile(_JUNK_NAME.pattern)
_JUNK_EXTENSIONS = (".svg", ".svgz", ".ico", ".cur", ".bmp")
# Analytics and ad hosts whose images are beacons, never content.
_TRACKER_HOSTS = (
    "doubleclick.net",
    "google-analytics.com",
    "googleadservices.com",
    "googlesyndication.com",
    "scorecardresearch.com",
    "quantserve.com",
    "pixel.wp.com",
    "stats.wp.com",
    "facebook.com",
    "bat.bing.com",
    "analytics.twitter.com",
    "t.co",
    "feeds.feedburner.com",
    "pixel.quantserve.com",
    "b.scorecardresearch.com",
    "sb.scorecardresearch.com",
    "adsystem.amazon.com",
    "gravatar.com",
    "chartbeat.net",
)

# The hosts' subdomains, for one str.endswith() call.
_TRACKER_SUBDOMAINS = tuple("." + h for h in _TRACKER_HOSTS)


@dataclass(frozen=True)
class ImageRefConfig:
    """When a referenced image is junk, judged from the HTML alone (before any fetch)."""

    # Tracking pixels are 1x1, spacers and icons a few px to 24 px: the "< 32 px".
    min_side: int = 32
    # Shown under 100x100 it is an avatar, a button or a gallery thumbnail (a duplicate of a
    # larger picture); the image stage keeps only >= 150 px sides anyway (OBELICS).
    min_area: int = 100 * 100
    # Extreme strips (dividers, 1000x5 borders) are decoration.
    max_aspect_ratio: float = 8.0
    # The same picture twice in a page (a <picture> fallback, a lightbox copy) is one image.
    dedupe: bool = True


def parse_srcset(srcset: str) -> list[tuple[str, float, str]]:
    """Parse a srcset into (url, value, unit) candidates; unit is "w", "x" (default 1x) or "h"."""
    out: list[tuple[str, float, str]] = []
    pos, n = 0, len(srcset)
    while pos < n:
        # Regexes skip character runs faster than a loop (\s is exactly str.isspace()).
        pos = _SRCSET_SEPARATORS.match(srcset, pos).end()  # type: ignore[union-attr]
        start = pos
        pos = _SRCSET_URL.match(srcset, pos).end()  # type: ignore[union-attr]
        url = srcset[start:pos]
        if not url:
            break
        descriptor = ""
        # HTML spec: a URL ending in commas has no descriptor (commas inside URLs are legal,
        # e.g. Cloudinary's "w_300,h_200").
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start = pos
            pos = _descriptor_end(srcset, pos)
            descriptor = srcset[start:pos].strip()
        value, unit = 1.0, "x"
        for token in descriptor.split():
            m = _SRCSET_DESCRIPTOR.match(token)
            if m:
                value, unit = float(m.group(1)), m.group(2).lower()
        if url:
            out.append((url, value, unit))
    return out


def _descriptor_end(srcset: str, pos: int) -> int:
    """Where the descriptor starting at pos ends: the next comma outside parentheses."""
    comma = srcset.find(",", pos)
    end = len(srcset) if comma < 0 else comma
    if "(" not in srcset[pos:end] and ")" not in srcset[pos:end]:
        return end  # the usual "300w": no parentheses to balance
    depth = 0
    while pos < len(srcset) and not (srcset[pos] == "," and depth == 0):
        depth += {"(": 1, ")": -1}.get(srcset[pos], 0)
        pos += 1
    return pos


def largest_candidate(srcsets: Iterable[str]) -> str | None:
    """The URL of the widest candidate over several srcsets (w beats x; larger value wins)."""
    best: tuple[int, float] | None = None
    best_url = None
    for srcset in srcsets:
        for url, value, unit in parse_srcset(srcset):
            if is_placeholder(url):
                continue
            key = (1 if unit == "w" else 0, value)
            if best is None or key > best:
                best, best_url = key, url
    return best_url


def is_placeholder(url: str) -> bool:
    """Whether a src is a lazy-load placeholder (data: URI, blank.gif, spinner) to skip."""
    url = url.strip()
    if url[:5].lower() == "data:":
        return True
    name = url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    return len(name) <= 80 and bool(_PLACEHOLDER_NAME.fullmatch(name))


def absolute_url(url: str, base_url: str) -> str | None:
    """Resolve url against base_url; None unless the result is an http(s) URL with a host."""
    # URL spec: tabs and newlines inside a URL are removed, outer spaces stripped.
    url = _URL_NOISE.sub("", url).strip()
    if not url or url.startswith("#"):
        return None
    try:
        joined = urljoin(base_url, url)
        parts = urlsplit(joined)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced IPv6 bracket in the host
        return None
    return joined if ok else None


def resolve_image_src(
    attrs: Mapping[str, str], base_url: str, source_srcsets: Iterable[str] = ()
) -> str | None:
    """The absolute URL of the best real image an <img> (and its <picture> sources) points to."""
    srcsets = [attrs.get(a, "") for a in LAZY_SRCSET_ATTRS]
    srcsets += [attrs.get("srcset", ""), *source_srcsets]
    candidates = [largest_candidate(s for s in srcsets if s)]
    candidates += [attrs.get(a) for a in LAZY_SRC_ATTRS]
    candidates.append(attrs.get("src"))
    for cand in candidates:
        if cand and not is_placeholder(cand):
            url = absolute_url(cand, base_url)
            if url is not None:
                return url
    return None


def declared_size(attrs: Mapping[str, str]) -> tuple[int | None, int | None]:
    """Width and height in px from the width/height attributes or the inline style."""
    size: dict[str, int | None] = {"width": None, "height": None}
    for key, value in _STYLE_DIMENSION.findall(attrs.get("style", "")):
        size[key.lower()] = int(value)
    for key in ("width", "height"):
        m = _DIMENSION.match(attrs.get(key, ""))
        if m:
            size[key] = int(m.group(1))
    return size["width"], size["height"]


def is_junk_image(
    url: str, width: int | None, height: int | None, cfg: ImageRefConfig = ImageRefConfig()
) -> str | None:
    """Why an image reference is junk (tracking pixel, icon, logo, svg …), or None to keep it."""
    if url.startswith("data:"):
        return "data_uri"
    parts = urlsplit(url)
    path = parts.path.lower()
    if path.endswith(_JUNK_EXTENSIONS):
        return "svg" if ".svg" in path else "icon_extension"
    host = (parts.hostname or "").lower()
    if host in _TRACKER_HOSTS or host.endswith(_TRACKER_SUBDOMAINS):
        return "tracker_host"
    if width is not None and height is not None:
        if min(width, height) < cfg.min_side:
            return "tiny_declared_size"
        if width * height < cfg.min_area:
            return "small_declared_area"
        if max(width, height) > cfg.max_aspect_ratio * max(min(width, height), 1):
            return "extreme_aspect_ratio"
    elif (width is not None and width < cfg.min_side) or (
        height is not None and height < cfg.min_side
    ):
        return "tiny_declared_size"
    # re.I is slow and only matters beyond ASCII (it equates "ı" with "i"): path is lowercased.
    if (_JUNK_NAME_LOWER if path.isascii() else _JUNK_NAME).search(path):
        return "junk_name"
    return None
