"""Where the article is: Readability-style scoring of candidate containers on an lxml tree.

Following Arc90 Readability (as in Mozilla's Readability.js): paragraphs vote for their
ancestors, links and class/id hints weigh the votes, and the best ancestor together with
its good siblings is the article. A page's own marker (schema.org articleBody, <article>)
is trusted first, as trafilatura and goose do.
"""

from __future__ import annotations

import re

from lxml import etree

from curation.boilerplate import (
    BoilerplateConfig,
    element_text,
    element_weight,
    link_density,
    text_length,
)

_PARAGRAPH_TAGS = frozenset({"p", "pre", "td", "section", "h2", "h3", "h4", "h5", "h6"})
_LOOSE_HOLDERS = frozenset({"div", "section", "article", "main", "td"})
_VOTING_TAGS = tuple(_PARAGRAPH_TAGS | _LOOSE_HOLDERS)
# A container with one of these inside is not itself a paragraph (Readability's DIV_TO_P
# elements, checked on all descendants as its _hasChildBlockElement does, plus sectioning).
_PARAGRAPH_BREAKERS = (
    "p", "div", "table", "ul", "ol", "dl", "pre", "blockquote", "img", "picture", "figure",
    "section", "article", "main",
)  # fmt: skip
# Readability.js _initializeNode: how much a container's tag says "article" before votes.
_TAG_SCORE = {
    "div": 5, "pre": 3, "td": 3, "blockquote": 3, "address": -3, "ol": -3, "ul": -3,
    "dl": -3, "dd": -3, "dt": -3, "li": -3, "form": -3, "h1": -5, "h2": -5, "h3": -5,
    "h4": -5, "h5": -5, "h6": -5, "th": -5,
}  # fmt: skip
_COUNT_IMAGES = etree.XPath("count(.//img)")
_ARTICLE_BODY = etree.XPath("//*[contains(concat(' ', @itemprop, ' '), ' articleBody ')]")


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


def _block_holders(root: etree._Element) -> set[etree._Element]:
    """Every element with a block element (a paragraph breaker) among its descendants."""
    holders: set[etree._Element] = set()
    for block in root.iter(*_PARAGRAPH_BREAKERS):
        for ancestor in block.iterancestors():
            if ancestor in holders:
                break  # marked before, and so are all its ancestors
            holders.add(ancestor)
    return holders


def paragraph_votes(root: etree._Element, min_chars: int) -> list[tuple[etree._Element, str]]:
    """(parent, text) of each paragraph: <p>, <pre>, <td>, <section>, <h2>-<h6>, a <div>
    without block descendants, and prose written straight into a container between blocks."""
    votes: list[tuple[etree._Element, str]] = []
    holders = _block_holders(root)
    # lxml's tag-filtered iter() beats an equivalent XPath union by ~3x here.
    for el in root.iter(*_VOTING_TAGS):
        tag = el.tag
        has_blocks = el in holders
        if tag in _PARAGRAPH_TAGS or (tag == "div" and not has_blocks):
            votes.append((el.getparent(), element_text(el)))
        if has_blocks and tag in _LOOSE_HOLDERS:  # "<div>text<p>…</p>more</div>": votes too
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
    # Sibling paragraphs vote for the same ancestors: walk up once per parent.
    chains: dict[etree._Element, list[tuple[etree._Element, int]]] = {}
    for parent, text in paragraph_votes(root, cfg.min_paragraph_chars):
        if parent is None or len(text) < cfg.min_paragraph_chars:
            continue
        vote = _paragraph_score(text, cfg)
        chain = chains.get(parent)
        if chain is None:
            chain = chains[parent] = _voted_ancestors(parent, cfg.ancestor_levels)
        for ancestor, divisor in chain:
            if ancestor not in raw:
                raw[ancestor] = _TAG_SCORE.get(ancestor.tag, 0) + (
                    element_weight(ancestor, cfg.hint_weight) if weigh_hints else 0
                )
            raw[ancestor] += vote / divisor
    return scores


def _voted_ancestors(parent: etree._Element, levels: int) -> list[tuple[etree._Element, int]]:
    """The ancestors a paragraph under parent votes for, each with its vote's divisor."""
    chain = []
    ancestor, level = parent, 0
    while ancestor is not None and level < levels:
        if not isinstance(ancestor.tag, str) or ancestor.tag == "html":
            break
        chain.append((ancestor, 1 if level == 0 else 2 if level == 1 else level * 3))
        ancestor, level = ancestor.getparent(), level + 1
    return chain


def _count_images(el: etree._Element) -> int:
    return int(_COUNT_IMAGES(el))


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


def _single_paragraph(el: etree._Element) -> bool:
    """A <div> holding one <p> and nothing else: judged as that <p> when it is a sibling of
    the top candidate (Readability.js only looks at bare <p> siblings)."""
    return len(el) == 1 and el[0].tag == "p" and not (el.text or "").strip()


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
    if sib.tag != "p" and not (sib.tag == "div" and _single_paragraph(sib)):
        return False
    length = text_length(sib)
    density = link_density(sib, length)
    if length > cfg.sibling_paragraph_chars:
        return density < cfg.sibling_paragraph_link_density
    return length > 0 and density == 0 and bool(re.search(r"\.( |$)", element_text(sib)))


def semantic_content(
    root: etree._Element, cfg: BoilerplateConfig, article_bodies: list[etree._Element] | None
) -> etree._Element | None:
    """The page's own article marker (schema.org articleBody, else <article>) when one holds
    enough text to be the article rather than a teaser, and most of the marked text: a forum
    thread of <article> posts is left to scoring, which finds the container of them all."""
    if article_bodies is None:
        article_bodies = _ARTICLE_BODY(root)
    for marked in (article_bodies, list(root.iter("article"))):
        if marked:
            lengths = [text_length(m) for m in marked]
            length = max(lengths)
            if length >= cfg.semantic_min_chars and length >= cfg.semantic_share * sum(lengths):
                return marked[lengths.index(length)]
            return None
    return None


def find_content(
    root: etree._Element,
    cfg: BoilerplateConfig,
    weigh_hints: bool = True,
    article_bodies: list[etree._Element] | None = None,
) -> list[etree._Element]:
    """The elements (in document order) that make up the main content of the page.

    article_bodies: the itemprop=articleBody elements if already known (strip_chrome).
    """
    body = root.find("body")
    if body is None:
        body = root
    marked = semantic_content(root, cfg, article_bodies)
    if marked is not None:
        return [_widen_for_images(marked, body, cfg)]
    scores = score_candidates(root, cfg, weigh_hints)
    top = _best_candidate(scores, body, cfg)
    widened = _widen_for_images(top, body, cfg)
    parent = top.getparent()
    if widened is not top or top is body or parent is None:
        return [widened]
    return [sib for sib in parent if sib is top or _joins_top(sib, top, scores, cfg)]


def _widen_for_images(top: etree._Element, body: etree._Element, cfg: BoilerplateConfig):
    """An ancestor of the article that adds its pictures (a product gallery, a lead figure)
    but little text, else the article itself: interleaved data wants the article's images,
    which text-only extractors leave outside the text block they pick."""
    top_len: int | None = None
    best, best_images = top, _count_images(top)
    for level, parent in enumerate(top.iterancestors()):
        if level >= cfg.image_context_levels or parent is body or parent.tag == "html":
            break
        images = _count_images(parent)
        if images <= best_images:
            continue  # text only grows going up: measure it where it could matter
        top_len = text_length(top) if top_len is None else top_len
        if text_length(parent) - top_len > cfg.image_context_text_share * top_len:
            break
        best, best_images = parent, images
    return best
