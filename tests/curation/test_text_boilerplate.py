"""Tests of C4-style boilerplate line detection and removal."""

from __future__ import annotations

import pytest

from curation.text_boilerplate import is_boilerplate_line, remove_boilerplate
from curation.text_filters import TextFilterConfig
from schemas.records import ImageNode, TextNode

COOKIE_BANNER = (
    "We use cookies to improve your experience. By continuing you accept our cookie policy."
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Please enable JavaScript to use this site.", True),
        ("JavaScript is disabled in your browser.", True),
        ("This website uses cookies.", True),
        ("Privacy Policy", True),
        ("JavaScript was created in ten days in 1995.", False),
        ("We baked cookies for the school fair.", False),
        ("We use cookies " + "and explain at length why " * 20, False),  # too long to be a banner
    ],
)
def test_is_boilerplate_line(line: str, expected: bool) -> None:
    assert is_boilerplate_line(line, TextFilterConfig()) is expected


def test_remove_boilerplate_counts_lines() -> None:
    nodes = (
        TextNode(f"{COOKIE_BANNER}\nA real line.\n\n"),
        TextNode("Privacy Policy | Terms of Use"),
    )
    kept, removed, total = remove_boilerplate(nodes, TextFilterConfig())
    assert kept == (TextNode("A real line.\n\n"),)
    assert (removed, total) == (2, 3)


def test_remove_boilerplate_keeps_images_and_untouched_nodes() -> None:
    image = ImageNode(src="https://example.org/a.png")
    clean = TextNode("A real line.")
    kept, removed, total = remove_boilerplate(
        (image, TextNode("Privacy Policy"), clean), TextFilterConfig()
    )
    assert kept == (image, clean) and kept[1] is clean  # an untouched node is not rebuilt
    assert (removed, total) == (1, 2)


def test_boilerplate_line_word_limit_comes_from_the_config() -> None:
    line = "This website uses cookies to count visits."  # seven words
    assert is_boilerplate_line(line, TextFilterConfig(max_boilerplate_line_words=7))
    assert not is_boilerplate_line(line, TextFilterConfig(max_boilerplate_line_words=6))
