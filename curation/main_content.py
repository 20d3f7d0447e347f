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
    hint_weight,
    hints,
    link_density,
    text_length,
)

_PARAGRAPH_TAGS = frozenset({"p", "pre", "td", "section", "h2", "h3", "h4", "h5", "h6"})
_LOOSE_HOLDERS = frozenset({"div", "section", "article", "main", "td"})
_VOTING_TAGS = tuple(_PARAGRAPH_TAGS | _LOOSE_HOLDERS)
# A container with one of these children is not itself a paragraph (Readability's DIV_TO_P).
_PARAGRAPH_BREAKERS = frozenset(
    {"p", "div", "table", "ul", "ol", "dl", "pre", "blockquote", "img", "picture", "figure",
     "section"}
)  # fmt: skip
# Readability.js _initializeNode: how much a container's tag says "article" before votes.
_TAG_SCORE = {
    "div": 5, "pre": 3, "td": 3, "blockquote": 3, "address": -3, "ol": -3, "ul": -3,
    "dl": -3, "dd": -3, "dt": -3, "li": -3, "form": -3, "h1": -5, "h2": -5, "h3": -5,
    "h4": -5, "h5": -5, "h6": -5, "th": -5,
}  # fmt: skip
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


def paragraph_votes(root: etree._Element, min_chars: int) -> list[tuple[etree._Element, str]]:
    """(parent, text) of each paragraph: <p>, <pre>, <td>, <section>, <h2>-<h6>, a <div>
    without block children, and prose written straight into a container between blocks."""
    votes: list[tuple[etree._Element, str]] = []
    # lxml's tag-filtered iter() beats an equivalent XPath union by ~3x here.
    for el in root.iter(*_VOTING_TAGS):
        tag = el.tag
        has_blocks = tag in _LOOSE_HOLDERS and any(c.tag in _PARAGRAPH_BREAKERS for c in el)
        if tag in _PARAGRAPH_TAGS or (tag == "div" and not has_blocks):
            votes.append((el.getparent(), " ".join(element_text(el).split())))
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
    return length > 0 and density == 0 and bool(re.search(r"\.( |$)", element_text(sib)))


def semantic_content(
    root: etree._Element, cfg: BoilerplateConfig, article_bodies: list[etree._Element] | None
) -> etree._Element | None:
    """The page's own article marker (schema.org articleBody, else the largest <article>)
    when it holds enough text to be the article rather than a teaser."""
    if article_bodies is None:
        article_bodies = _ARTICLE_BODY(root)
    for marked in (article_bodies, list(root.iter("article"))):
        if marked:
            length, best = max(((text_length(m), -i) for i, m in enumerate(marked)))
            if length >= cfg.semantic_min_chars:
                return marked[-best]
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
        return [marked]
    scores = score_candidates(root, cfg, weigh_hints)
    top = _best_candidate(scores, body, cfg)
    parent = top.getparent()
    if top is body or parent is None:
        return [top]
    return [sib for sib in parent if sib is top or _joins_top(sib, top, scores, cfg)]
