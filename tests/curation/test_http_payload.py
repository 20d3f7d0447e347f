"""HTTP messages stored in WARC records: parsing, de-chunking and content decoding."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.http_payload import PayloadError, dechunk, decode_body, parse_http_response


def chunk(body: bytes, sizes: list[int]) -> bytes:
    out, i = b"", 0
    for n in sizes:
        part = body[i : i + n]
        if not part:
            break
        out += b"%x;ext=1\r\n%s\r\n" % (len(part), part)
        i += len(part)
    if i < len(body):
        out += b"%X\r\n%s\r\n" % (len(body) - i, body[i:])
    return out + b"0\r\n\r\n"


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.lists(st.integers(1, 500), max_size=10))
def test_dechunk_inverts_chunking(body: bytes, sizes: list[int]) -> None:
    assert dechunk(chunk(body, sizes)) == body


def test_dechunk_keeps_an_unchunked_body_and_a_cut_off_one() -> None:
    html = b"<html><body>not chunked</body></html>"
    assert dechunk(html) == html
    assert dechunk(b"5\r\nhello\r\n6\r\n wor") == b"hello wor"


def test_parse_http_response_headers() -> None:
    block = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html;\r\n charset=utf-8\r\n"
        b"X-A: 1\r\nX-A: 2\r\nbroken line\r\n\r\n<html>"
    )
    resp = parse_http_response(block)
    assert resp.status == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["x-a"] == "1"
    assert resp.body == b"<html>"
    assert parse_http_response(b"HTTP/2 404\n\nnope").status == 404


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 "]))
def test_parse_http_response_never_fails_other_than_with_payload_error(
    data: bytes, prefix: bytes
) -> None:
    try:
        resp = parse_http_response(prefix + data)
    except PayloadError as err:
        assert err.reason == "bad_http_headers"
    else:
        assert 100 <= resp.status <= 999


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["gzip", "deflate", "br", "zstd", "gzip, br"]))
def test_decode_body_fails_only_with_payload_error(data: bytes, coding: str) -> None:
    headers = {"content-encoding": coding, "transfer-encoding": "chunked"}
    try:
        out = decode_body(data, headers, 10_000)
    except PayloadError as err:
        assert err.reason in ("bad_content_encoding", "payload_too_large")
    else:
        assert len(out) <= 10_000


def test_decode_body_cap() -> None:
    body = gzip.compress(b"a" * 5000)
    assert decode_body(body, {"content-encoding": "gzip"}, 5000) == b"a" * 5000
    with pytest.raises(PayloadError, match="payload_too_large"):
        decode_body(body, {"content-encoding": "gzip"}, 4999)
