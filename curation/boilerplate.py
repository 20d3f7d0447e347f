"""Boilerplate on an lxml HTML tree: strip page chrome, prune link lists and stock lines.

Chrome is what never is the article (scripts, nav/header/footer/aside, hidden elements,
regions whose class/id/role say comments, ads, share bars …); inside the chosen article
(main_content.py), containers that look like link lists, forms or image strips are pruned
as Mozilla's Readability.js does. Everything works on lxml directly: bs4 tree building
alone costs more than the whole extraction budget (see bench/extract.py).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree

# Always removed with their content: code, styling, embeds, and the page chrome the issue
# names (nav/header/footer/aside/form …). <head> holds no body text.
REMOVED_TAGS = (
    "head", "script", "style", "noscript", "iframe", "frame", "frameset", "svg", "math",
    "template", "button", "select", "option", "textarea", "input", "label", "nav", "header",
    "footer", "aside", "object", "embed", "applet", "canvas", "audio", "video", "map",
    "dialog", "link", "meta",
)  # fmt: skip
# Elements that start a new text block (a line break in rendered text).
BLOCK_TAGS = frozenset(
    {"address", "article", "blockquote", "body", "center", "dd", "details", "dir", "div", "dl",
     "dt", "fieldset", "figcaption", "figure", "form", "h1", "h2", "h3", "h4", "h5", "h6",
     "hgroup", "hr", "html", "li", "main", "menu", "ol", "p", "pre", "section", "summary",
     "table", "tbody", "thead", "tfoot", "tr", "caption", "legend", "ul"}
)  # fmt: skip
# Roles of whole regions that are never the article (WAI-ARIA landmark/widget roles).
_CHROME_ROLES = frozenset(
    {"navigation", "menu", "menubar", "complementary", "contentinfo", "banner", "alert",
     "alertdialog", "dialog"}
)  # fmt: skip
# Elements that can be a page region worth removing by its class/id. Inline markup (span,
# a, img, b …) is left alone: it is half of all classed elements and holds little text;
# html/body/article/main are never chrome.
_REGION_TAGS = frozenset(
    {"div", "section", "ul", "ol", "li", "table", "tr", "td", "p", "dl", "figure", "form",
     "center"}
)  # fmt: skip
_TEXT_LEN = etree.XPath("string-length(normalize-space(.))")
_STRING = etree.XPath("string(.)", smart_strings=False)
_LINK_TEXT = etree.XPath(".//a//text()", smart_strings=False)
_LINK_HASH_TEXT = etree.XPath(".//a[starts-with(@href, '#')]//text()", smart_strings=False)
_COUNTS = etree.XPath("concat(count(.//p), ' ', count(.//img), ' ', count(.//li))")
# An image strip worth removing is a row of links (ads, "related" thumbnails); plain or
# captioned (<figure>) pictures are a gallery, content.
_LINKED_IMAGES = etree.XPath("count(.//a//img[not(ancestor::figure)])")
_HEADING_TEXT = etree.XPath(
    ".//*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5]//text()", smart_strings=False
)
_LIST_TEXT = etree.XPath("(.//ul | .//ol)//text()", smart_strings=False)
_STYLE_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

# class/id words. Matching is on word starts (a preceding non-alphanumeric), so "nav" hits
# "site-nav" and "navbar" but not "canvas"; short words must also end there ("ad" ≠ "add").
# (One regex per vocabulary: ~3x faster than splitting the class into words.)
_NEGATIVE = re.compile(
    r"(?<![a-z0-9])(?:comment|discuss|disqus|repl(?:y|ies)|sidebar|widget|foot|masthead|"
    r"banner|nav|menu|breadcrumb|share|sharing|social|related|recommend|promo|sponsor|"
    r"advert|cookie|consent|gdpr|newsletter|subscri|signup|popup|modal|overlay|byline|"
    r"author|toolbar|pagination|pager|outbrain|taboola|skyscraper|shopping|login|hidden|"
    r"print|(?:ads?|tags?|meta|rss|tools?|more|links)(?![a-z]))"
)
_POSITIVE = re.compile(
    r"(?<![a-z0-9])(?:article|body|content|entry|main|post|text|blog|story|prose|hentry|"
    r"page(?![a-z]))"
)
# Removed before scoring: regions whose hints say chrome unless they also say content.
_UNLIKELY = re.compile(
    r"(?<![a-z0-9])(?:comment|disqus|repl(?:y|ies)|sidebar|footer|masthead|banner|nav|"
    r"menu|breadcrumb|share|sharing|social|related|recommend|promo|sponsor|advert|cookie|"
    r"consent|gdpr|newsletter|subscri|signup|popup|modal|pagination|pager|outbrain|"
    r"taboola|skyscraper|community|header|byline|author|signature|user-?(?:info|stats)|"
    r"(?:ads?|rss)(?![a-z]))"
)
_UNLIKELY_EXCEPT = re.compile(r"(?<![a-z0-9])(?:article|body|column|content|main)")
# MediaWiki's chrome inside #content (tagline, edit links, navboxes, category bar): the
# wiki engine behind Wikipedia and most wikis, so common enough to name. Beats exceptions.
_MEDIAWIKI_CHROME = re.compile(
    r"(?<![a-z0-9-])(?:sitesub|contentsub|jump-to-nav|mw-jump-link|mw-editsection|catlinks|"
    r"printfooter|noprint|navbox)(?![a-z0-9-])"
)
# Stock lines of page furniture that survive inside article containers.
_BOILERPLATE_LINE = re.compile(
    r"advertisements?|advertising|sponsored( content)?|ads?|share( this( article| story"
    r"| post| page)?)?( on \w+)?|tweet|email|print|read more|continue reading|"
    r"click here.*|skip to (main )?content|subscribe( now| today)?|sign up.*newsletter.*|"
    r"follow us( on \w+)?|related( articles| stories| posts| content)?|recommended( for you)?|"
    r"you (may|might) also like|more from .{0,40}|\d* ?comments?( \(\d+\))?|"
    r"leave a (comment|reply)|back to top|loading\W*|all rights reserved|"
    r"(©|\(c\)|copyright) .{0,80}"
)
# Containers Readability.js cleans conditionally (plus <ol>, <dl>, <section>).
_CLEANED_TAGS = frozenset({"form", "fieldset", "table", "ul", "ol", "dl", "div", "section"})


@dataclass(frozen=True)
class BoilerplateConfig:
    """Thresholds of main-content detection and boilerplate pruning; defaults from
    Mozilla's Readability.js unless noted."""

    min_paragraph_chars: int = 25  # Readability.js: shorter paragraphs cast no vote
    chars_per_point: int = 100  # Readability.js: +1 point per 100 chars of a paragraph …
    max_length_points: int = 3  # … up to 3
    ancestor_levels: int = 5  # Readability.js: a paragraph votes for 5 ancestors
    hint_weight: int = 25  # Readability.js _getClassWeight: ±25 per class/id hint
    top_candidates: int = 5  # Readability.js DEFAULT_N_TOP_CANDIDATES
    shared_ancestor_ratio: float = 0.75  # Readability.js: near-equal candidates …
    min_shared_candidates: int = 3  # … this many under one ancestor move the top up
    sibling_fraction: float = 0.2  # Readability.js: siblings scoring 20% of the top join
    min_sibling_score: float = 10.0  # Readability.js
    sibling_paragraph_chars: int = 80  # Readability.js: long low-link <p> siblings join
    sibling_paragraph_link_density: float = 0.25  # Readability.js
    max_link_density: float = 0.2  # Readability.js _cleanConditionally, neutral hints
    max_link_density_positive: float = 0.5  # Readability.js, containers hinted as content
    min_commas_to_keep: int = 10  # Readability.js: a container with 10 commas is prose
    min_container_chars: int = 25  # Readability.js: shorter link/image blocks are removed
    min_text_chars: int = 500  # Readability.js DEFAULT_CHAR_THRESHOLD: retry below this
    # Only blocks up to a line long are matched against stock furniture phrases; a longer
    # block that starts "Copyright …" is prose about copyright.
    max_boilerplate_line_chars: int = 100
    # An articleBody/<article> marker is trusted (no scoring) from 250 chars of text
    # (trafilatura's MIN_EXTRACTED_SIZE); below that it is more often a teaser card.
    semantic_min_chars: int = 250
    # … and when it holds over half the text of all such markers (nested ones count twice,
    # so an article with <article> comments inside still qualifies).
    semantic_share: float = 0.5
    # The article's root may move up this many levels to take in nearby images, if that
    # adds at most this share of its text (a caption, a price; not a sidebar). Our own
    # choice for interleaved data; Readability leaves galleries outside.
    image_context_levels: int = 3
    image_context_text_share: float = 0.25


def hint_weight(hint: str, weight: int = 25) -> int:
    """Readability-style class weight: -weight for chrome words, +weight for content words."""
    if not hint.strip():
        return 0
    return weight * ((_POSITIVE.search(hint) is not None) - (_NEGATIVE.search(hint) is not None))


def element_weight(el: etree._Element, weight: int = 25) -> int:
    """hint_weight() of an element's class and id."""
    return _weight_cached(el.get("class"), el.get("id"), weight)


@functools.lru_cache(maxsize=8192)
def _weight_cached(cls: str | None, ident: str | None, weight: int) -> int:
    # Pages repeat the same few hundred class strings; the regexes are the cost.
    return hint_weight(f"{cls or ''} {ident or ''}".lower(), weight)


def is_unlikely(hint: str, role: str = "") -> bool:
    """Whether class/id/role mark an element as chrome (navigation, comments, ads …)."""
    if role and role.strip().lower() in _CHROME_ROLES:
        return True
    if _MEDIAWIKI_CHROME.search(hint) is not None:
        return True
    return _UNLIKELY.search(hint) is not None and _UNLIKELY_EXCEPT.search(hint) is None


def text_length(el: etree._Element) -> int:
    """Length of the whitespace-normalised text under el."""
    return int(_TEXT_LEN(el))


def link_density(el: etree._Element, total: int | None = None) -> float:
    """Share of el's text inside links (in-page #anchors count 30%, as Readability.js does)."""
    total = text_length(el) if total is None else total
    if total == 0:
        return 0.0
    links = _joined_length(_LINK_TEXT(el))
    if not links:
        return 0.0
    anchors = _joined_length(_LINK_HASH_TEXT(el))
    return min(1.0, (links - 0.7 * anchors) / total)


def _joined_length(texts: list[str]) -> int:
    """Length of text pieces joined, whitespace-normalised (like XPath normalize-space)."""
    return len(" ".join("".join(texts).split()))


def element_text(el: etree._Element) -> str:
    """The whitespace-normalised text under el."""
    return " ".join(_STRING(el).split())


def drop(el: etree._Element) -> None:
    """Remove el and its subtree but keep its tail text in place."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def is_hidden(el: etree._Element) -> bool:
    """Whether the element is not rendered (hidden attribute, aria-hidden, display:none)."""
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    style = el.get("style")
    return bool(style and _STYLE_HIDDEN.search(style))


@functools.lru_cache(maxsize=8192)
def _unlikely_cached(cls: str | None, ident: str | None, role: str | None) -> bool:
    # Pages repeat the same few hundred class strings; the regexes are the cost.
    return is_unlikely(f"{cls or ''} {ident or ''}".lower(), role or "")


def _is_unlikely_region(el: etree._Element) -> bool:
    """is_unlikely() on an element, sparing the article markers and table/code internals."""
    if el.tag not in _REGION_TAGS:
        return False
    if not _unlikely_cached(el.get("class"), el.get("id"), el.get("role")):
        return False
    # Inside tables and code, class names describe layout and syntax, not page regions.
    return not any(True for _ in el.iterancestors("table", "code"))


def _is_attached(el: etree._Element, root: etree._Element) -> bool:
    """Whether el is still in root's tree (not inside a dropped subtree)."""
    top = el
    for ancestor in el.iterancestors():
        top = ancestor
    return top is root


def strip_chrome(root: etree._Element, unlikely: bool = True) -> list[etree._Element]:
    """Remove tags that never hold article text, hidden elements and small forms, and with
    `unlikely` also regions whose class/id/role say navigation, comments, ads, share bars …

    Returns the elements marked itemprop=articleBody that are left, found on the way.
    """
    etree.strip_elements(root, *REMOVED_TAGS, with_tail=False)
    # One Python pass over elements with attributes serves every check (~3x faster than
    # XPath attribute queries); drop after iterating, as lxml forbids mutating mid-iter.
    doomed, bodies = [], []
    for el in root.iter():
        keys = el.keys()
        if not keys:
            continue
        if ("style" in keys or "hidden" in keys or "aria-hidden" in keys) and is_hidden(el):
            doomed.append(el)
        elif "itemprop" in keys and "articleBody" in el.get("itemprop", "").split():
            bodies.append(el)
        elif (
            unlikely
            and ("class" in keys or "id" in keys or "role" in keys)
            and _is_unlikely_region(el)
        ):
            doomed.append(el)
    for el in doomed:
        drop(el)
    forms = list(root.iter("form"))
    if forms:
        # Some sites (ASP.NET) wrap the whole page in one <form>: keep a form holding most text.
        body_len = text_length(root)
        for form in forms:
            if text_length(form) < 0.5 * body_len:
                drop(form)
    return [b for b in bodies if _is_attached(b, root)]


def is_boilerplate_line(text: str, cfg: BoilerplateConfig) -> bool:
    """Whether one extracted text block is a stock line of page furniture left inside the
    content ("Advertisement", "Share this", "Read more", "© 2024 …")."""
    if len(text) > cfg.max_boilerplate_line_chars:
        return False
    return _BOILERPLATE_LINE.fullmatch(text.lower().strip(" :.!|»›>-–")) is not None


def is_data_table(table: etree._Element) -> bool:
    """Whether a <table> holds data (kept whole) rather than page layout."""
    if table.get("role") == "presentation" or table.get("datatable") == "0":
        return False
    if table.get("summary") or table.find("caption") is not None:
        return True
    if table.find(".//table") is not None:
        return False
    if any(table.find(f".//{tag}") is not None for tag in ("th", "thead", "tfoot", "colgroup")):
        return True
    rows = table.findall(".//tr")
    cols = max((len(r) for r in rows), default=0)
    return len(rows) >= 10 or cols > 4 or len(rows) * cols > 10


def _is_image_list(el: etree._Element) -> bool:
    """A list whose every item is one image (a gallery): kept despite having no text."""
    items = [li for li in el if li.tag == "li"]
    return bool(items) and all(len(li.findall(".//img")) == 1 for li in items)


class ContainerStats(NamedTuple):
    """What conditional cleaning looks at in a container."""

    text: str  # whitespace-normalised
    paragraphs: int
    images: int
    items: int  # <li> descendants
    density: float  # link density


def container_stats(el: etree._Element, cfg: BoilerplateConfig) -> ContainerStats:
    """Text, counts and link density of a container (a few subtree scans)."""
    text = element_text(el)
    if text.count(",") >= cfg.min_commas_to_keep:
        return ContainerStats(text, 0, 0, 0, 0.0)  # prose: kept on its commas alone
    paragraphs, images, items = (int(x) for x in _COUNTS(el).split())
    return ContainerStats(text, paragraphs, images, items, link_density(el, len(text)))


def looks_like_boilerplate(
    el: etree._Element,
    weigh_hints: bool,
    cfg: BoilerplateConfig,
    stats: ContainerStats | None = None,
) -> bool:
    """Readability's conditional cleaning: link lists, forms, image strips, tiny blocks."""
    weight = element_weight(el, cfg.hint_weight) if weigh_hints else 0
    if weight < 0:
        return True
    text, paragraphs, images, items, density = stats or container_stats(el, cfg)
    if text.count(",") >= cfg.min_commas_to_keep:
        return False
    length = len(text)
    linked_images = int(_LINKED_IMAGES(el)) if images > 1 else 0
    # Readability.js subtracts 100 so only lists, not a few stray <li>, count; inputs are
    # already stripped with their forms, so its "inputs > p/3" test never fires here.
    items -= 100
    if (linked_images > 1 and paragraphs / linked_images < 0.5 and not _in_figure(el)) or (
        weight >= cfg.hint_weight and density > cfg.max_link_density_positive
    ):
        return not _is_image_list(el)
    non_list_remove = (
        items > paragraphs
        or (weight < cfg.hint_weight and density > cfg.max_link_density)
        or (
            length < cfg.min_container_chars
            and (images == 0 or images > 2)
            and density > 0
            and not _in_figure(el)
            and _joined_length(_HEADING_TEXT(el)) < 0.9 * max(length, 1)
        )
    )
    if not non_list_remove:
        return False
    # The tests above do not apply to lists (nor to blocks that are 90% list text).
    is_list = el.tag in ("ul", "ol") or (
        length > 0 and _joined_length(_LIST_TEXT(el)) > 0.9 * length
    )
    return not is_list


def _in_figure(el: etree._Element) -> bool:  # asked last: an ancestor walk per container
    return any(True for _ in el.iterancestors("figure"))


def _wrapped(el: etree._Element) -> etree._Element | None:
    """The only child of a container that adds no text of its own, else None."""
    if len(el) != 1 or (el.text and not el.text.isspace()):
        return None
    child = el[0]
    return None if child.tail and not child.tail.isspace() else child


def clean_conditionally(content: etree._Element, cfg: BoilerplateConfig, weigh_hints: bool) -> None:
    """Prune containers inside the content that look like boilerplate (innermost first)."""
    if any(True for _ in content.iterancestors("code", "pre")):
        return  # all of it is code, kept whole
    # Data tables and code are kept whole. Collected once: dropping a container (innermost
    # first) never changes the ancestors of the containers still to be judged.
    kept: set[etree._Element] = set()
    for el in content.iter("table", "code", "pre"):
        if el not in kept and (el.tag != "table" or is_data_table(el)):
            kept.update(el.iter(*_CLEANED_TAGS))
    # A wrapper <div> around one kept container has that container's stats: reuse them
    # (a quarter of the containers in real articles are such wrappers).
    known: dict[etree._Element, ContainerStats] = {}
    for el in reversed([e for e in content.iter(*_CLEANED_TAGS) if e is not content]):
        if el in kept or el.getparent() is None:
            continue
        child = _wrapped(el)
        stats = known.get(child) if child is not None else None
        stats = known[el] = stats or container_stats(el, cfg)
        if looks_like_boilerplate(el, weigh_hints, cfg, stats):
            drop(el)


def clean_headings(content: etree._Element, cfg: BoilerplateConfig) -> None:
    """Drop headings whose class/id say chrome ("related-heading", "comments-title")."""
    for h in list(content.iter("h1", "h2", "h3")):
        if element_weight(h, cfg.hint_weight) < 0:
            drop(h)
