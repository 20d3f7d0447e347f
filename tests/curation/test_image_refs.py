"""Image reference rules: srcset parsing, lazy-load attributes, URL resolution, junk."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.image_refs import (
    ImageRefConfig,
    absolute_url,
    declared_size,
    is_junk_image,
    is_placeholder,
    largest_candidate,
    parse_srcset,
    resolve_image_src,
)

BASE = "https://site.example/blog/post.html"


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.jpg 300w, b.jpg 600w", [("a.jpg", 300, "w"), ("b.jpg", 600, "w")]),
        ("a.jpg, b.jpg 2x", [("a.jpg", 1, "x"), ("b.jpg", 2, "x")]),
        ("a.jpg 1.5x", [("a.jpg", 1.5, "x")]),
        # Commas inside a URL (Cloudinary transformations) are part of the URL.
        (
            "https://c.example/w_300,h_200/a.jpg 300w, https://c.example/w_900,h_600/a.jpg 900w",
            [
                ("https://c.example/w_300,h_200/a.jpg", 300, "w"),
                ("https://c.example/w_900,h_600/a.jpg", 900, "w"),
            ],
        ),
        ("  a.jpg,,  b.jpg   640w  ,", [("a.jpg", 1, "x"), ("b.jpg", 640, "w")]),
        ("", []),
        (" , , ", []),
    ],
)
def test_parse_srcset(srcset, expected):
    assert parse_srcset(srcset) == expected


def test_largest_candidate_prefers_width_descriptors_then_the_largest():
    assert largest_candidate(["a.jpg 2x, b.jpg 3x", "c.jpg 400w, d.jpg 200w"]) == "c.jpg"
    assert largest_candidate(["a.jpg 2x, b.jpg 3x"]) == "b.jpg"
    assert largest_candidate(["data:image/gif;base64,xx 2000w, real.jpg 10w"]) == "real.jpg"
    assert largest_candidate([""]) is None


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"src": "a.jpg"}, "https://site.example/blog/a.jpg"),
        ({"src": "a.jpg", "srcset": "b.jpg 2x"}, "https://site.example/blog/b.jpg"),
        ({"src": "/x/blank.gif", "data-src": "/real.jpg"}, "https://site.example/real.jpg"),
        (
            {"src": "data:image/gif;base64,R0l", "data-srcset": "s.jpg 100w, l.jpg 999w"},
            "https://site.example/blog/l.jpg",
        ),
        ({"data-original": "//cdn.example/o.png"}, "https://cdn.example/o.png"),
        ({"src": " \n https://h.example/a\tb.jpg \n"}, "https://h.example/ab.jpg"),
        ({"src": "javascript:alert(1)"}, None),
        ({"src": "ftp://h.example/a.jpg"}, None),
        ({"src": "#top"}, None),
        ({"src": "http://[::1"}, None),
        ({"src": "data:image/png;base64,AAAA"}, None),
        ({}, None),
    ],
)
def test_resolve_image_src(attrs, expected):
    assert resolve_image_src(attrs, BASE) == expected


def test_picture_sources_compete_with_the_img():
    attrs = {"src": "small.jpg", "srcset": "small.jpg 320w"}
    got = resolve_image_src(attrs, BASE, ["big.webp 1280w, mid.webp 640w"])
    assert got == "https://site.example/blog/big.webp"


def test_relative_src_needs_an_http_base():
    assert resolve_image_src({"src": "a.jpg"}, "") is None
    assert resolve_image_src({"src": "https://h.example/a.jpg"}, "") == "https://h.example/a.jpg"


@pytest.mark.parametrize(
    ("url", "placeholder"),
    [
        ("data:image/gif;base64,R0lGOD", True),
        ("/img/blank.gif", True),
        ("/lazy_placeholder.png?v=2", True),
        ("/1x1-transparent.gif", True),
        ("/assets/grey-placeholder-300x200.png", True),
        ("/photos/123.jpg", False),
        ("/photos/lazy-dog.jpg", False),
        ("/photos/placeholder-text-in-an-article-about-placeholders-extra-long-name.jpg", False),
    ],
)
def test_is_placeholder(url, placeholder):
    assert is_placeholder(url) is placeholder


def test_placeholder_check_is_linear_on_long_digit_names():
    # A regression: an optional separator made this backtrack for seconds per image.
    assert not is_placeholder("/i/" + "1351332873_157836_" * 4 + "noticia_normal.jpg")
    assert not is_placeholder("/i/" + "1" * 5000 + "x.jpg")


@pytest.mark.parametrize(
    ("attrs", "size"),
    [
        ({"width": "640", "height": "480"}, (640, 480)),
        ({"width": " 640px ", "height": "480.5"}, (640, 480)),
        ({"width": "100%", "height": "auto"}, (None, None)),
        ({"style": "border:0; width: 300px;height:200px"}, (300, 200)),
        ({"style": "max-width: 900px"}, (None, None)),
        ({"style": "width: 300px", "width": "250"}, (250, None)),
    ],
)
def test_declared_size(attrs, size):
    assert declared_size(attrs) == size


@pytest.mark.parametrize(
    ("url", "width", "height", "reason"),
    [
        ("data:image/gif;base64,R0l", None, None, "data_uri"),
        ("https://h.example/icons/star.svg", None, None, "svg"),
        ("https://h.example/favicon.ico", None, None, "icon_extension"),
        ("https://www.google-analytics.com/collect?x=1", None, None, "tracker_host"),
        ("https://h.example/p.gif", 1, 1, "tiny_declared_size"),
        ("https://h.example/p.jpg", 600, None, None),
        ("https://h.example/p.jpg", 20, None, "tiny_declared_size"),
        ("https://h.example/p.jpg", 80, 80, "small_declared_area"),
        ("https://h.example/divider.png", 1000, 40, "extreme_aspect_ratio"),
        ("https://h.example/img/site-logo.png", 300, 100, "junk_name"),
        ("https://h.example/avatars/u1.png", None, None, "junk_name"),
        ("https://h.example/img/spacer.gif", None, None, "junk_name"),
        ("https://h.example/shared/iconic-photo.jpg", 800, 600, None),
        ("https://upload.example/commons/thumb/a/ab/Heron.jpg/220px-Heron.jpg", 220, 160, None),
    ],
)
def test_is_junk_image(url, width, height, reason):
    assert is_junk_image(url, width, height) == reason


def test_junk_thresholds_come_from_the_config():
    cfg = ImageRefConfig(min_side=10, min_area=0)
    assert is_junk_image("https://h.example/p.jpg", 20, 20, cfg) is None
    assert is_junk_image("https://h.example/p.jpg", 20, 20) == "tiny_declared_size"


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["src", "srcset", "data-src", "data-srcset", "data-original", "x"]),
        st.text(max_size=60),
    ),
    st.sampled_from([BASE, "", "http://[bad", "mailto:x@y"]),
)
def test_resolved_sources_are_absolute_http_urls_or_none(attrs, base):
    url = resolve_image_src(attrs, base)
    assert url is None or absolute_url(url, "") == url
