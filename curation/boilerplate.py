"""Main-content detection on an lxml HTML tree: strip page chrome, score, prune boilerplate.

The scoring follows the idea of Arc90 Readability (as in Mozilla's Readability.js):
paragraphs vote for their ancestors, links and class/id hints weigh the votes, the best
ancestor and its good siblings are the article, and containers inside it that look like
link lists, forms or image strips are pruned. Everything runs on lxml (C-level XPath)
because bs4 tree building alone costs more than the whole extraction budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

# Always removed with their content: code, styling, embeds, and the page chrome the issue
# names (nav/header/footer/aside/form …). <head> holds no body text.
REMOVED_TAGS = (
    "head", "script", "style", "noscript", "iframe", "frame", "frameset", "svg", "math",
    "template", "button", "select", "option", "textarea", "input", "label", "nav", "header",
    "footer", "aside", "object", "embed", "applet", "canvas", "audio", "video", "map",
    "dialog", "link", "meta",
)  # fmt: skip
BLOCK_TAGS = frozenset(
    "address article blockquote body center dd details dir div dl dt fieldset figcaption "
    "figure form h1 h2 h3 h4 h5 h6 hgroup hr html li main menu ol p pre section summary "
    "table tbody thead tfoot tr caption legend ul".split()
)
# Roles of whole regions that are never the article (WAI-ARIA landmark/widget roles).
_CHROME_ROLES = frozenset(
    "navigation menu menubar complementary contentinfo banner alert alertdialog dialog".split()
)
_PARAGRAPH_TAGS = frozenset("p pre td section h2 h3 h4 h5 h6".split())
_LOOSE_HOLDERS = frozenset("div section article main td".split())
_VOTING_TAGS = tuple(_PARAGRAPH_TAGS | _LOOSE_HOLDERS)
# A container with one of these children is not itself a paragraph (Readability's DIV_TO_P).
_PARAGRAPH_BREAKERS = frozenset(
    "p div table ul ol dl pre blockquote img picture figure section".split()
)
_TEXT_LEN = etree.XPath("string-length(normalize-space(.))")
_ARTICLE_BODY = etree.XPath("//*[contains(concat(' ', @itemprop, ' '), ' articleBody ')]")
_STRING = etree.XPath("string(.)", smart_strings=False)
_LINK_TEXT = etree.XPath(".//a//text()", smart_strings=False)
_LINK_HASH_TEXT = etree.XPath(".//a[starts-with(@href, '#')]//text()", smart_strings=False)
_COUNTS = etree.XPath("concat(count(.//p), ' ', count(.//img), ' ', count(.//li))")
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
    r"taboola|skyscraper|community|header|(?:ads?|rss)(?![a-z]))"
)
_UNLIKELY_EXCEPT = re.compile(r"(?<![a-z0-9])(?:article|body|column|content|main)")
_TAG_SCORE = {
    "div": 5, "pre": 3, "td": 3, "blockquote": 3, "address": -3, "ol": -3, "ul": -3,
    "dl": -3, "dd": -3, "dt": -3, "li": -3, "form": -3, "h1": -5, "h2": -5, "h3": -5,
    "h4": -5, "h5": -5, "h6": -5, "th": -5,
}  # fmt: skip
_CLEANED_TAGS = frozenset("form fieldset table ul ol dl div section".split())


@dataclass(frozen=True)
class BoilerplateConfig:
    """Thresholds of main-content detection; defaults from Readability.js unless noted."""

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
    # An articleBody/<article> marker is trusted (no scoring) from Readability's 500 chars
    # of text; below that it is more often a teaser card than the article.
    semantic_min_chars: int = 500


def hints(el: etree._Element) -> str:
    """The lowercased class and id of an element, the text the hint regexes look at."""
    return f"{el.get('class') or ''} {el.get('id') or ''}".lower()


def hint_weight(hint: str, weight: int = 25) -> int:
    """Readability-style class weight: -weight for chrome words, +weight for content words."""
    if not hint.strip():
        return 0
    return weight * ((_POSITIVE.search(hint) is not None) - (_NEGATIVE.search(hint) is not None))


def is_unlikely(hint: str, role: str = "") -> bool:
    """Whether class/id/role mark an element as chrome (navigation, comments, ads …)."""
    if role and role.strip().lower() in _CHROME_ROLES:
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
    """Length of text pieces joined and whitespace-normalised (as string-length(normalize-space()))."""
    return len(" ".join("".join(texts).split()))


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


def _is_unlikely_region(el: etree._Element) -> bool:
    """is_unlikely() on an element, sparing the article markers and table/code internals."""
    cls, ident, role = el.get("class"), el.get("id"), el.get("role")
    if not (cls or ident or role) or el.tag in ("html", "body", "article", "main", "a"):
        return False
    if not is_unlikely(f"{cls or ''} {ident or ''}".lower(), role or ""):
        return False
    if "articleBody" in (el.get("itemprop") or ""):
        return False
    # Inside tables and code, class names describe layout and syntax, not page regions.
    return not any(True for _ in el.iterancestors("table", "code"))


def strip_chrome(root: etree._Element, unlikely: bool = True) -> None:
    """Remove tags that never hold article text, hidden elements and small forms, and with
    `unlikely` also regions whose class/id/role say navigation, comments, ads, share bars …"""
    etree.strip_elements(root, *REMOVED_TAGS, with_tail=False)
    # One Python pass over elements with attributes serves both removals (3x faster than
    # an XPath attribute query); drop after iterating, as lxml forbids mutating mid-iter.
    doomed = [
        el
        for el in root.iter()
        if el.attrib and (is_hidden(el) or (unlikely and _is_unlikely_region(el)))
    ]
    for el in doomed:
        drop(el)
    forms = list(root.iter("form"))
    if forms:
        # Some sites (ASP.NET) wrap the whole page in one <form>: keep a form holding most text.
        body_len = text_length(root)
        for form in forms:
            if text_length(form) < 0.5 * body_len:
                drop(form)


def _paragraph_score(text: str, cfg: BoilerplateConfig) -> float:
    """A paragraph's vote: 1 + its commas + 1 per 100 chars (capped at 3)."""
    commas = text.count(",") + text.count("\uff0c") + text.count("\u3001")
    return 1 + commas + min(len(text) // cfg.chars_per_point, cfg.max_length_points)


class CandidateScores:
    """Paragraph votes per ancestor, weighted by (1 - link density) when first read.

    Link density costs a subtree scan, so it is computed lazily: only the few candidates
    that can still reach the top are ever weighed (a weight never raises a score >= 0).
    """

    def __init__(self) -> None:
        self.raw: dict[etree._Element, float] = {}
        self._final: dict[etree._Element, float] = {}

    def __contains__(self, el: etree._Element) -> bool:
        return el in self.raw

    def __getitem__(self, el: etree._Element) -> float:
        score = self._final.get(el)
        if score is None:
            score = self._final[el] = self.raw[el] * (1 - link_density(el))
        return score

    def get(self, el: etree._Element, default: float = 0.0) -> float:
        return self[el] if el in self.raw else default

    def top(self, n: int, ratio: float) -> list[etree._Element]:
        """Among the n best candidates, those scoring at least ratio x the best; best first."""
        weighed: list[tuple[float, int, etree._Element]] = []
        best = float("-inf")
        order = sorted(self.raw.items(), key=lambda kv: kv[1], reverse=True)
        for i, (el, raw) in enumerate(order):
            if weighed and max(raw, 0.0) < ratio * max(best, 0.0):
                break  # weighing only lowers a score: no later candidate can qualify
            score = self[el]
            best = max(best, score)
            weighed.append((score, -i, el))
        weighed.sort(key=lambda t: (t[0], t[1]), reverse=True)
        return [el for score, _, el in weighed[:n] if el is weighed[0][2] or score >= ratio * best]


def paragraph_votes(root: etree._Element, min_chars: int) -> list[tuple[etree._Element, str]]:
    """(parent, text) of each paragraph: <p>, <pre>, <td>, <section>, <h2>-<h6>, a <div>
    without block children, and prose written straight into a container between blocks."""
    votes: list[tuple[etree._Element, str]] = []
    # lxml's tag-filtered iter() beats an equivalent XPath union by ~3x here.
    for el in root.iter(*_VOTING_TAGS):
        tag = el.tag
        has_blocks = tag in _LOOSE_HOLDERS and any(c.tag in _PARAGRAPH_BREAKERS for c in el)
        if tag in _PARAGRAPH_TAGS or (tag == "div" and not has_blocks):
            votes.append((el.getparent(), " ".join(_STRING(el).split())))
        if has_blocks:  # "<div>text<p>…</p>more text</div>": the loose text votes too
            for piece in (el.text, *(child.tail for child in el)):
                if piece and len(piece) >= min_chars:
                    votes.append((el, " ".join(piece.split())))
    return votes


def score_candidates(
    root: etree._Element, cfg: BoilerplateConfig, weigh_hints: bool = True
) -> CandidateScores:
    """Let every paragraph vote for its ancestors (Readability's scoring)."""
    scores = CandidateScores()
    raw = scores.raw
    for parent, text in paragraph_votes(root, cfg.min_paragraph_chars):
        if parent is None or len(text) < cfg.min_paragraph_chars:
            continue
        vote = _paragraph_score(text, cfg)
        ancestor, level = parent, 0
        while ancestor is not None and level < cfg.ancestor_levels:
            if not isinstance(ancestor.tag, str) or ancestor.tag == "html":
                break
            if ancestor not in raw:
                raw[ancestor] = _TAG_SCORE.get(ancestor.tag, 0) + (
                    hint_weight(hints(ancestor), cfg.hint_weight) if weigh_hints else 0
                )
            raw[ancestor] += vote / (1 if level == 0 else 2 if level == 1 else level * 3)
            ancestor, level = ancestor.getparent(), level + 1
    return scores


def _is_ancestor(anc: etree._Element, el: etree._Element) -> bool:
    """Whether anc is a proper ancestor of el."""
    return any(a is anc for a in el.iterancestors())


def _best_candidate(
    scores: CandidateScores, body: etree._Element, cfg: BoilerplateConfig
) -> etree._Element:
    """The top-scoring ancestor, moved up when near-equal rivals share a parent with it."""
    ranked = scores.top(cfg.top_candidates, cfg.shared_ancestor_ratio)
    if not ranked or ranked[0] is body:
        return body
    top, rivals = ranked[0], ranked[1:]
    if len(rivals) >= cfg.min_shared_candidates:
        for parent in top.iterancestors():
            if parent is body or parent.tag == "html":
                break
            if sum(_is_ancestor(parent, r) for r in rivals) >= cfg.min_shared_candidates:
                top = parent
                break
    # Climb while the parent scores about as well: the article spans several containers.
    last = scores.get(top, 0.0)
    threshold = last / 3
    for parent in top.iterancestors():
        if parent is body or parent.tag == "html":
            break
        if parent not in scores:
            continue
        if scores[parent] < threshold:
            break
        if scores[parent] > last:
            top = parent
            break
        last = scores[parent]
    while (parent := top.getparent()) is not None and parent is not body and len(parent) == 1:
        top = parent
    return top


def _joins_top(
    sib: etree._Element,
    top: etree._Element,
    scores: CandidateScores,
    cfg: BoilerplateConfig,
) -> bool:
    """Whether a sibling of the top candidate is part of the article too."""
    top_score = scores.get(top, 0.0)
    threshold = max(cfg.min_sibling_score, top_score * cfg.sibling_fraction)
    bonus = 0.0
    if top.get("class") and sib.get("class") == top.get("class"):
        bonus = top_score * cfg.sibling_fraction
    if sib in scores and scores[sib] + bonus >= threshold:
        return True
    if sib.tag != "p":
        return False
    length = text_length(sib)
    density = link_density(sib, length)
    if length > cfg.sibling_paragraph_chars:
        return density < cfg.sibling_paragraph_link_density
    return 0 < length and density == 0 and bool(re.search(r"\.( |$)", _STRING(sib)))


def semantic_content(root: etree._Element, cfg: BoilerplateConfig) -> etree._Element | None:
    """The page's own article marker (schema.org articleBody, else the largest <article>)
    when it holds enough text to be the article rather than a teaser."""
    for marked in (_ARTICLE_BODY(root), root.findall(".//article")):
        if marked:
            length, best = max(((text_length(m), -i) for i, m in enumerate(marked)))
            if length >= cfg.semantic_min_chars:
                return marked[-best]
            return None
    return None


def find_content(
    root: etree._Element, cfg: BoilerplateConfig, weigh_hints: bool = True
) -> list[etree._Element]:
    """The elements (in document order) that make up the main content of the page."""
    body = root.find("body")
    if body is None:
        body = root
    marked = semantic_content(root, cfg)
    if marked is not None:
        return [marked]
    scores = score_candidates(root, cfg, weigh_hints)
    top = _best_candidate(scores, body, cfg)
    parent = top.getparent()
    if top is body or parent is None:
        return [top]
    return [sib for sib in parent if sib is top or _joins_top(sib, top, scores, cfg)]


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


def looks_like_boilerplate(el: etree._Element, weigh_hints: bool, cfg: BoilerplateConfig) -> bool:
    """Readability's conditional cleaning: link lists, forms, image strips, tiny blocks."""
    weight = hint_weight(hints(el), cfg.hint_weight) if weigh_hints else 0
    if weight < 0:
        return True
    text = " ".join(_STRING(el).split())
    if text.count(",") >= cfg.min_commas_to_keep:
        return False
    length = len(text)
    paragraphs, images, items = (int(x) for x in _COUNTS(el).split())
    # Readability.js subtracts 100 so only lists, not a few stray <li>, count; inputs are
    # already stripped with their forms, so its "inputs > p/3" test never fires here.
    items -= 100
    density = link_density(el, length)
    in_figure = any(True for _ in el.iterancestors("figure"))
    if (images > 1 and paragraphs / images < 0.5 and not in_figure) or (
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
            and not in_figure
            and _joined_length(_HEADING_TEXT(el)) < 0.9 * max(length, 1)
        )
    )
    if not non_list_remove:
        return False
    # The tests above do not apply to lists (nor to blocks that are 90% list text).
    if el.tag in ("ul", "ol") or (length and _joined_length(_LIST_TEXT(el)) > 0.9 * length):
        return False
    return True


def clean_conditionally(content: etree._Element, cfg: BoilerplateConfig, weigh_hints: bool) -> None:
    """Prune containers inside the content that look like boilerplate (innermost first)."""
    data_tables = {t for t in content.iter("table") if is_data_table(t)}
    for el in reversed([e for e in content.iter(*_CLEANED_TAGS) if e is not content]):
        if el in data_tables or any(a in data_tables for a in el.iterancestors("table")):
            continue
        if any(True for _ in el.iterancestors("code", "pre")):
            continue
        if el.getparent() is not None and looks_like_boilerplate(el, weigh_hints, cfg):
            drop(el)


def clean_headings(content: etree._Element, cfg: BoilerplateConfig) -> None:
    """Drop headings whose class/id say chrome ("related-heading", "comments-title")."""
    for h in list(content.iter("h1", "h2", "h3")):
        if hint_weight(hints(h), cfg.hint_weight) < 0:
            drop(h)
