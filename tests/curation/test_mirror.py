"""Tests of the `wget --mirror` layout and of reading resources from a mirror tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.fetch import FetchError
from curation.mirror import mirror_path, read_from_mirror
from tests.fixtures import images as img_fx

JPEG = img_fx.jpeg_bytes(200, 160)


@pytest.mark.parametrize(
    ("url", "relative"),
    [
        ("http://Example.com/img/a.jpg", "example.com/img/a.jpg"),
        ("https://example.com/", "example.com/index.html"),
        ("https://example.com", "example.com/index.html"),
        ("http://example.com/dir/", "example.com/dir/index.html"),
        ("http://example.com:8080/a.png", "example.com:8080/a.png"),
        ("https://example.com:443/a.png", "example.com/a.png"),
        ("http://example.com/a.jpg?w=100&h=1/2", "example.com/a.jpg?w=100&h=1%2F2"),
        ("http://example.com/a%20b.jpg", "example.com/a b.jpg"),
        ("http://example.com/x/../../../etc/passwd", "example.com/etc/passwd"),
        ("http://example.com/a%2F..%2F..%2Fb", "example.com/b"),
    ],
)
def test_mirror_path_layout(tmp_path, url, relative):
    assert mirror_path(str(tmp_path), url) == tmp_path / relative


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_mirror_path_stays_inside_the_mirror(path):
    root = Path("/mirror")
    try:
        result = mirror_path(str(root), "http://example.com/" + path)
    except FetchError:
        return
    assert result.parts[:3] == ("/", "mirror", "example.com") and ".." not in result.parts


def test_read_from_mirror(tmp_path):
    target = tmp_path / "example.com" / "img" / "a.jpg?v=2"
    target.parent.mkdir(parents=True)
    target.write_bytes(JPEG)
    assert read_from_mirror(str(tmp_path), "http://example.com/img/a.jpg?v=2") == JPEG
    assert read_from_mirror(str(tmp_path), "http://example.com/img/a.jpg") is None
    assert read_from_mirror(str(tmp_path), "http://example.com/img/") is None
    assert read_from_mirror(str(tmp_path), "http:///nohost") is None
    assert read_from_mirror(str(tmp_path), "http://example.com/" + "x" * 300) is None
