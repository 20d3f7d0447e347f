"""Choosing the article: semantic markers, paragraph scoring, siblings, nearby images."""

from __future__ import annotations

from lxml import etree

from curation.boilerplate import BoilerplateConfig, strip_chrome
from curation.html import parse_html
from curation.main_content import find_content, paragraph_votes, score_candidates
from tests.fixtures.pages import paragraph

CFG = BoilerplateConfig()


def content_of(body: str, cfg: BoilerplateConfig = CFG) -> list[etree._Element]:
    root = parse_html(f"<html><body>{body}</body></html>")
    bodies = strip_chrome(root)
    return find_content(root, cfg, True, bodies)


def ids(elements: list[etree._Element]) -> list[str | None]:
    return [e.get("id") for e in elements]


def paras(*seeds: int) -> str:
    return "".join(f"<p>{paragraph(s)}</p>" for s in seeds)


def test_the_densest_block_wins_over_link_lists():
    links = "".join(f"<p><a href='/{i}'>{paragraph(i)}</a></p>" for i in range(6))
    body = f"<div id='links'>{links}</div><div id='story'>{paras(1, 2, 3)}</div>"
    assert ids(content_of(body)) == ["story"]


def test_schema_org_article_body_is_trusted():
    body = (
        f"<div id='other'>{paras(1, 2, 3, 4, 5, 6)}</div>"
        f"<div id='marked' itemprop='articleBody'>{paras(7, 8)}</div>"
    )
    assert ids(content_of(body)) == ["marked"]


def test_a_teaser_article_is_not_trusted():
    teaser = "<article id='teaser'><p>Short teaser text.</p></article>"
    body = f"{teaser}<div id='main'>{paras(1, 2, 3)}</div>"
    assert ids(content_of(body)) == ["main"]


def test_a_thread_of_article_posts_is_scored_as_a_whole():
    posts = "".join(f"<article id='msg{i}'>{paras(i, i + 10)}</article>" for i in range(4))
    got = content_of(f"<div id='thread'>{posts}</div><div id='other'><p>Page 1 of 1</p></div>")
    assert ids(got) == ["thread"]


def test_siblings_of_the_top_candidate_join_it():
    body = (
        f"<div id='wrap'><div id='part1' class='text'>{paras(1, 2, 3)}</div>"
        f"<p id='lone'>{paragraph(4)}</p>"
        f"<div id='part2' class='text'>{paras(5, 6)}</div>"
        "<div id='nav'><a href='/a'>Home</a> <a href='/b'>About</a></div></div>"
    )
    assert ids(content_of(body)) == ["part1", "lone", "part2"]


def test_single_paragraph_wrappers_join_like_paragraphs():
    lead = "A lead paragraph without commas that scores too little on its own to join the rest"
    body = (
        f"<div id='wrap'><div id='first'><p>{lead} of the story.</p></div>"
        f"<div id='rest'>{paras(2, 3, 4, 5)}</div>"
        "<div id='links'><p><a href='/a'>A link that is long enough to be a paragraph, yes</a>"
        "</p></div></div>"
    )
    assert ids(content_of(body)) == ["first", "rest"]


def test_nearby_images_are_taken_in_when_they_add_little_text():
    gallery = "".join(f"<figure><img src='/p{i}.jpg'></figure>" for i in range(3))
    body = (
        f"<div id='product'><div id='gallery'>{gallery}</div>"
        f"<div id='info'><h1>Lantern</h1><div id='desc'>{paras(1, 2, 3)}</div></div></div>"
    )
    assert ids(content_of(body)) == ["product"]
    narrow = BoilerplateConfig(image_context_levels=0)
    assert ids(content_of(body, narrow)) == ["desc"]


def test_paragraph_votes_cover_divs_used_as_paragraphs_and_loose_text():
    root = parse_html(
        "<html><body><div id='a'>A div used as a paragraph, with enough words in it.</div>"
        "<div id='b'>Loose text before a block, long enough to count as prose.<p>x</p></div>"
        "</body></html>"
    )
    votes = {
        (parent.tag, parent.get("id"), text[:10]) for parent, text in paragraph_votes(root, 25)
    }
    assert ("body", None, "A div used") in votes
    assert ("div", "b", "Loose text") in votes


def test_scores_follow_commas_and_length():
    body = f"<div id='x'>{paras(1, 2)}</div><div id='y'><p>short, one.</p></div>"
    root = parse_html(f"<html><body>{body}</body></html>")
    scores = score_candidates(root, CFG)
    x, y = root.find(".//div[@id='x']"), root.find(".//div[@id='y']")
    assert scores[x] > 10
    assert y not in scores  # its only paragraph is under 25 chars: no vote
