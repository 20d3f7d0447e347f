"""Tests of media-type sniffing from leading magic bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.sniff import sniff_content_type
from tests.fixtures import images as img_fx

JPEG = img_fx.jpeg_bytes(200, 160)
PNG = img_fx.png_bytes(200, 160)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (img_fx.gif_bytes(), "image/gif"),
        (img_fx.webp_bytes(), "image/webp"),
        (img_fx.bmp_bytes(), "image/bmp"),
        (img_fx.tiff_bytes(), "image/tiff"),
        (img_fx.ico_bytes(), "image/x-icon"),
        (img_fx.svg_bytes(), "image/svg+xml"),
        (b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (img_fx.pdf_bytes(), "application/pdf"),
        (img_fx.html_bytes(), "text/html"),
        (b"\n<html><body>x</body></html>", "text/html"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/avif"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video/mp4"),
        (b"\x1a\x45\xdf\xa3\x01\x00", "video/webm"),
        (b"BMW is a car brand, not a bitmap header", None),
        (b"plain text", None),
        (b"", None),
    ],
)
def test_sniff_content_type(data, expected):
    assert sniff_content_type(data) == expected


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_sniff_never_raises(data):
    result = sniff_content_type(data)
    assert result is None or "/" in result
