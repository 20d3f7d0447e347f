"""Boilerplate pruning on lxml trees: hints, chrome stripping, conditional cleaning, lines."""

from __future__ import annotations

import pytest
from lxml import etree

from curation.boilerplate import (
    BoilerplateConfig,
    clean_conditionally,
    clean_headings,
    drop,
    hint_weight,
    is_boilerplate_line,
    is_data_table,
    is_unlikely,
    link_density,
    strip_chrome,
    text_length,
)
from curation.html import parse_html
from tests.fixtures.pages import paragraph

CFG = BoilerplateConfig()


def tree(body: str) -> etree._Element:
    return parse_html(f"<html><body>{body}</body></html>")


def body_text(root: etree._Element) -> str:
    return " ".join(" ".join(root.itertext()).split())


@pytest.mark.parametrize(
    ("hint", "weight"),
    [
        ("site-nav", -25),
        ("navbar", -25),
        ("canvas", 0),  # "nav" only at a word start
        ("ad", -25),
        ("ads-top", -25),
        ("add-to-cart", 0),
        ("comments", -25),
        ("article-body", 25),
        ("entry-content", 25),
        ("post-comments", 0),  # both: they cancel out
        ("", 0),
    ],
)
def test_hint_weight(hint, weight):
    assert hint_weight(hint) == weight


@pytest.mark.parametrize(
    ("hint", "role", "unlikely"),
    [
        ("sidebar-left", "", True),
        ("comment-list", "", True),
        ("share-buttons", "", True),
        ("cookie-banner", "", True),
        ("post-author", "", True),
        ("main-content sidebar", "", False),  # "content"/"main" override
        ("article-related", "", False),
        ("story", "navigation", True),
        ("sitesub", "", True),  # MediaWiki tagline
        ("story-body", "", False),
    ],
)
def test_is_unlikely(hint, role, unlikely):
    assert is_unlikely(hint, role) is unlikely


def test_strip_chrome_removes_tags_hidden_and_unlikely_regions_but_keeps_tails():
    root = tree(
        "<div>keep one<script>x()</script> keep two<span style='display:none'>HIDE</span>"
        " keep three</div><div class='sidebar'>SIDE</div><article class='sidebar'>ARTICLE"
        "</article><table><tr><td class='menu'>CELL</td></tr></table>"
        "<div itemprop='articleBody'>BODY</div>"
    )
    bodies = strip_chrome(root)
    text = body_text(root)
    assert "keep one keep two keep three" in text
    assert "HIDE" not in text and "SIDE" not in text and "x()" not in text
    assert "ARTICLE" in text  # an <article> is never chrome
    assert "CELL" in text  # class names inside tables describe layout
    assert [b.text for b in bodies] == ["BODY"]


def test_strip_chrome_without_unlikely_keeps_hinted_regions():
    root = tree("<div class='sidebar'>SIDE</div>")
    strip_chrome(root, unlikely=False)
    assert "SIDE" in body_text(root)


def test_small_forms_go_but_a_page_wide_form_stays():
    root = tree(f"<form><input name=q> search</form><form><p>{paragraph(1)}</p></form>")
    strip_chrome(root)
    assert body_text(root) == paragraph(1)


def test_link_density_counts_anchor_links_at_30_percent():
    root = tree("<div id='d'><a href='/x'>aaaa</a> bbbb <a href='#y'>cccccccccc</a></div>")
    div = root.find(".//div")
    total = text_length(div)
    assert link_density(div) == pytest.approx((4 + 0.3 * 10) / total)
    assert link_density(tree("<div></div>").find(".//div")) == 0.0


def test_drop_keeps_the_tail_text():
    root = tree("<p>a<b>B</b> tail1<i>I</i> tail2</p>")
    for el in list(root.iter("b", "i")):
        drop(el)
    assert body_text(root) == "a tail1 tail2"


def _cleaned(body: str) -> str:
    root = tree(f"<div id='content'>{body}</div>")
    content = root.find(".//div[@id='content']")
    clean_conditionally(content, CFG, weigh_hints=True)
    return body_text(content)


def test_link_lists_are_pruned_and_prose_is_kept():
    links = "".join(f"<a href='/l{i}'>Another story number {i}</a> " for i in range(6))
    got = _cleaned(f"<p>{paragraph(1)}</p><div>{links}</div><div><p>{paragraph(2)}</p></div>")
    assert got == f"{paragraph(1)} {paragraph(2)}"


def test_negative_hints_prune_containers_inside_the_content():
    got = _cleaned(f"<div class='promo'>Buy now</div><div><p>{paragraph(3)}</p></div>")
    assert got == paragraph(3)


def test_prose_with_many_commas_survives_links():
    prose = ", ".join(["one clause"] * 12)
    got = _cleaned(f"<div><a href='/x'>{prose}</a> and more text</div>")
    assert prose in got


def test_linked_image_strips_go_but_galleries_stay():
    strip = "".join(f"<a href='/r{i}'><img src='/t{i}.jpg'></a>" for i in range(3))
    gallery = "".join(f"<figure><img src='/g{i}.jpg'></figure>" for i in range(3))
    root = tree(
        f"<div id='content'><p>{paragraph(1)}</p><div class='x'>{strip}</div>"
        f"<div class='y'>{gallery}</div></div>"
    )
    content = root.find(".//div[@id='content']")
    clean_conditionally(content, CFG, weigh_hints=True)
    images = [img.get("src") for img in content.iter("img")]
    assert images == ["/g0.jpg", "/g1.jpg", "/g2.jpg"]


def test_data_tables_are_kept_whole():
    rows = "".join(
        f"<tr><td><a href='/y{i}'>{2000 + i}</a></td><td>{i}</td></tr>" for i in range(12)
    )
    table = f"<table><tr><th>Year</th><th>N</th></tr>{rows}</table>"
    root = tree(f"<div id='content'><p>{paragraph(1)}</p>{table}</div>")
    content = root.find(".//div[@id='content']")
    assert is_data_table(content.find(".//table"))
    clean_conditionally(content, CFG, weigh_hints=True)
    assert "2011" in body_text(content)


def test_layout_tables_are_not_data_tables():
    assert not is_data_table(tree("<table><tr><td>a</td><td>b</td></tr></table>").find(".//table"))
    nested = tree("<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>")
    assert not is_data_table(nested.find(".//table"))


def test_clean_headings_drops_chrome_headings():
    root = tree("<div><h2 class='related-title'>Related</h2><h2>History</h2></div>")
    clean_headings(root.find(".//div"), CFG)
    assert body_text(root) == "History"


@pytest.mark.parametrize(
    ("line", "boilerplate"),
    [
        ("Advertisement", True),
        ("Share this article:", True),
        ("Read more »", True),
        ("© 2024 Harbor News. All rights reserved.", True),
        ("12 comments", True),
        ("Follow us on Mastodon", True),
        ("The harbour reopened after the storm, and the ferry resumed service.", False),
        ("Copyright law changed in 1998 and " + "x" * 100, False),  # too long to be a line
    ],
)
def test_is_boilerplate_line(line, boilerplate):
    assert is_boilerplate_line(line, CFG) is boilerplate
