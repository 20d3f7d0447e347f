"""WARC/ARC reading on well-formed files: which records become pages, images or rejections."""

from __future__ import annotations

import gzip
import io
import zlib

import brotli
import pytest

from curation.warc import iter_warc, iter_warc_stream
from schemas.records import RawPage, Rejection, WarcImage
from tests.fixtures.warcs import (
    WARC_DATE,
    Rec,
    build_arc,
    build_warc,
    html_body,
    http_response,
    image,
    mixed_records,
    page,
    pages,
    png_bytes,
    raw_record,
)

SRC = "crawl/t.warc.gz"


def read(data: bytes, **kw: int) -> list[RawPage | WarcImage | Rejection]:
    return list(iter_warc_stream(io.BytesIO(data), SRC, **kw))


def only(items: list, cls: type) -> list:
    return [x for x in items if isinstance(x, cls)]


def reasons(items: list) -> list[tuple[str, str]]:
    return [(r.key, r.reason) for r in only(items, Rejection)]


def one(rec: Rec, **kw: int) -> RawPage | WarcImage | Rejection:
    """The single output of a WARC holding just `rec`."""
    data, _ = build_warc([rec])
    (item,) = read(data, **kw)
    return item


def rejection_of(rec: Rec, **kw: int) -> Rejection:
    item = one(rec, **kw)
    assert isinstance(item, Rejection), item
    assert item.stage == "read"
    return item


@pytest.mark.parametrize("gz", [True, False])
def test_mixed_crawl_gives_pages_images_and_skips_in_file_order(gz: bool) -> None:
    data, spans = build_warc(mixed_records(), gzip_members=gz)
    items = read(data)
    key = {id(s.rec): f"{SRC}#{s.start}" for s in spans}
    assert [x.source if not isinstance(x, Rejection) else x.key for x in items] == [
        key[id(s.rec)] for s in spans
    ]
    got_pages = only(items, RawPage)
    assert [p.url for p in got_pages] == [f"http://example.com/page{i}.html" for i in range(3)]
    for i, p in enumerate(got_pages):
        assert p.content == html_body(i)
        assert p.content_type == "text/html; charset=utf-8"
        assert p.fetch_time == WARC_DATE
    (img,) = only(items, WarcImage)
    assert (img.url, img.content, img.content_type) == (
        "http://example.com/img0.png",
        png_bytes(4, 3),
        "image/png",
    )
    by_kind = {s.rec.kind + s.rec.url: f"{SRC}#{s.start}" for s in spans}
    assert reasons(items) == [
        (by_kind["warcinfo"], "skipped_warcinfo"),
        (by_kind["requesthttp://example.com/page0.html"], "skipped_request"),
        (by_kind["metadatahttp://example.com/page0.html"], "skipped_metadata"),
        (by_kind["requesthttp://example.com/page1.html"], "skipped_request"),
        (by_kind["revisithttp://example.com/page0.html"], "skipped_revisit"),
    ]


def test_resource_records_are_read_like_responses() -> None:
    recs = [
        Rec("resource", "http://example.com/r.html", html_body(7), "text/html"),
        Rec("resource", "http://example.com/r.png", png_bytes(), "image/png"),
        Rec("resource", "metadata://wget/log.txt", b"wget log line\n", "text/plain"),
    ]
    items = read(build_warc(recs)[0])
    assert isinstance(items[0], RawPage) and items[0].content == html_body(7)
    assert items[0].content_type == "text/html"
    assert isinstance(items[1], WarcImage) and items[1].content == png_bytes()
    assert isinstance(items[2], Rejection) and items[2].reason == "not_html"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/pdf", b"%PDF-1.4 binary"),
        ("application/javascript", b"var x = 1;"),
        ("text/css; charset=utf-8", b"body { color: red }"),
        ("application/json", b'{"a": 1}'),
        ("text/plain", b"just some words"),
        ("", b"\x00\x01 binary blob"),
    ],
)
def test_non_html_payloads_are_rejected_with_their_type(content_type: str, body: bytes) -> None:
    rej = rejection_of(Rec("response", "http://example.com/x", body, content_type))
    assert rej.reason == "not_html"
    assert (content_type.split(";")[0] or "no content type") in rej.detail


@pytest.mark.parametrize(
    "content_type", ["", "application/octet-stream", "text/plain", "application/xml"]
)
def test_untyped_payload_that_looks_like_html_is_a_page(content_type: str) -> None:
    item = one(Rec("response", "http://example.com/u", html_body(3), content_type))
    assert isinstance(item, RawPage) and item.content == html_body(3)
    assert item.content_type == content_type


def test_xhtml_is_a_page() -> None:
    body = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><p>x</p></html>'
    item = one(Rec("response", "http://example.com/x", body, "application/xhtml+xml"))
    assert isinstance(item, RawPage)


@pytest.mark.parametrize(
    ("content_type", "expected_type"),
    [
        ("application/octet-stream", "image/png"),  # sniffed
        ("text/html", "image/png"),  # mislabelled: the magic bytes win
        ("image/png", "image/png"),
    ],
)
def test_image_payloads_by_header_or_magic_bytes(content_type: str, expected_type: str) -> None:
    item = one(Rec("response", "http://example.com/i", png_bytes(), content_type))
    assert isinstance(item, WarcImage)
    assert (item.content, item.content_type) == (png_bytes(), expected_type)


def test_declared_image_with_unknown_bytes_is_still_an_image() -> None:
    # The image stage decodes and rejects it with a precise reason; the reader does not guess.
    item = one(Rec("response", "http://example.com/i.svg", b"<svg></svg>", "image/svg+xml"))
    assert isinstance(item, WarcImage) and item.content_type == "image/svg+xml"


@pytest.mark.parametrize("status", [301, 404, 500, 204])
def test_non_2xx_status_is_rejected_with_the_code(status: int) -> None:
    if status == 204:
        rej = rejection_of(Rec("response", "http://example.com/a", b"", status=status))
        assert rej.reason == "empty_payload"
        return
    rej = rejection_of(Rec("response", "http://example.com/a", html_body(1), status=status))
    assert rej.reason == "http_status"
    assert rej.detail.endswith(str(status))


@pytest.mark.parametrize("body", [b"", b"  \r\n\t "])
@pytest.mark.parametrize("headers", [(), (("Content-Encoding", "gzip"),)])
def test_empty_payload(body: bytes, headers: tuple) -> None:
    rec = Rec("response", "http://example.com/e", body, http_headers=headers)
    assert rejection_of(rec).reason == "empty_payload"


def test_payload_too_large_skips_only_payload_records() -> None:
    recs = [Rec("request", "http://example.com/page0.html"), page(0), image(0)]
    data, spans = build_warc(recs)
    items = read(data, max_payload_bytes=300)
    assert [type(x).__name__ for x in items] == ["Rejection", "Rejection", "WarcImage"]
    assert [r.reason for r in only(items, Rejection)] == ["skipped_request", "payload_too_large"]
    assert items[1].key == f"{SRC}#{spans[1].start}"  # the 4x3 PNG record is under 300 bytes


def _gzip(b: bytes) -> bytes:
    return gzip.compress(b, mtime=0)


def _chunked(b: bytes, size: int = 50) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(b[i : i + size]), b[i : i + size]) for i in range(0, len(b), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def _raw_deflate(b: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(b) + c.flush()


@pytest.mark.parametrize(
    ("headers", "encode"),
    [
        ((("Transfer-Encoding", "chunked"),), _chunked),
        ((("Content-Encoding", "gzip"),), _gzip),
        ((("Content-Encoding", "x-gzip"),), _gzip),
        ((("Content-Encoding", "deflate"),), zlib.compress),
        ((("Content-Encoding", "deflate"),), _raw_deflate),
        ((("Content-Encoding", "br"),), brotli.compress),
        (
            (("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")),
            lambda b: _chunked(_gzip(b)),
        ),
        ((("Content-Encoding", "deflate, gzip"),), lambda b: _gzip(zlib.compress(b))),
    ],
)
def test_transfer_and_content_encodings_are_removed(headers, encode) -> None:
    rec = Rec("response", "http://example.com/enc", encode(html_body(5)), http_headers=headers)
    item = one(rec)
    assert isinstance(item, RawPage)
    assert item.content == html_body(5)


def test_body_stored_decoded_despite_its_headers_is_kept() -> None:
    # Crawlers often store the decoded body but keep the original headers.
    headers = (("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"))
    item = one(Rec("response", "http://example.com/d", html_body(2), http_headers=headers))
    assert isinstance(item, RawPage) and item.content == html_body(2)


def test_truncated_gzip_body_keeps_what_arrived() -> None:
    body = _gzip(html_body(4) * 20)
    rec = Rec(
        "response",
        "http://example.com/t",
        body[: len(body) // 2],
        http_headers=(("Content-Encoding", "gzip"),),
    )
    item = one(rec)
    assert isinstance(item, RawPage)
    assert (html_body(4) * 20).startswith(item.content) and len(item.content) > 100


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"\x1f\x8b\x08\x00broken gzip \xff\xfe\x00\x01"),
        ("zstd", b"\x28\xb5\x2f\xfd\x00\x01"),
    ],
)
def test_undecodable_content_encoding(coding: str, body: bytes) -> None:
    rec = Rec(
        "response", "http://example.com/b", body, http_headers=(("Content-Encoding", coding),)
    )
    rej = rejection_of(rec)
    assert rej.reason == "bad_content_encoding"
    assert "http://example.com/b" in rej.detail


def test_content_encoding_bomb_is_too_large() -> None:
    bomb = _gzip(b"<html>" + b" " * 2_000_000)
    rec = Rec(
        "response", "http://example.com/bomb", bomb, http_headers=(("Content-Encoding", "gzip"),)
    )
    assert rejection_of(rec, max_payload_bytes=100_000).reason == "payload_too_large"


@pytest.mark.parametrize(
    "block",
    [
        b"this is not an HTTP message\r\n\r\n<html></html>",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html",  # headers never end
        b"HTTP/1.1 2xx OK\r\n\r\n<html></html>",
    ],
)
def test_bad_http_headers(block: bytes) -> None:
    rej = rejection_of(Rec("raw", "http://example.com/h", raw_block=block))
    assert rej.reason == "bad_http_headers"


def test_other_record_types_and_missing_fields() -> None:
    data = b"".join(
        [
            build_warc([Rec("conversion", "http://example.com/c")], gzip_members=False)[0],
            raw_record("http://example.com/n", b"x", rtype=""),
            raw_record("", http_response(html_body(1))),
            raw_record("dns:example.com", b"20240501 example.com 93.184.216.34\n"),
        ]
    )
    items = read(data)
    assert [r.reason for r in items] == [
        "skipped_other_record_type",
        "skipped_other_record_type",
        "malformed_record",
        "not_html",
    ]
    assert "conversion" in items[0].detail and "no WARC-Type" in items[1].detail


def test_target_uri_in_angle_brackets_or_with_spaces_is_cleaned() -> None:
    data = raw_record("<http://example.com/a b.html>", http_response(html_body(1)))
    (item,) = read(data)
    assert isinstance(item, RawPage) and item.url == "http://example.com/a%20b.html"


@pytest.mark.parametrize("gz", [False, True])
def test_arc_files(gz: bool) -> None:
    recs = [page(0), Rec("response", "http://example.com/a page.html", html_body(1)), image(2)]
    data, spans = build_arc(recs, gzip_members=gz)
    items = read(data)
    assert isinstance(items[0], Rejection) and items[0].reason == "skipped_warcinfo"
    got = only(items, RawPage)
    assert [p.url for p in got] == [
        "http://example.com/page0.html",
        "http://example.com/a%20page.html",
    ]
    assert [p.content for p in got] == [html_body(0), html_body(1)]
    assert {p.fetch_time for p in got} == {"2024-05-01T12:00:00Z"}
    assert [p.source for p in got] == [f"{SRC}#{spans[0].start}", f"{SRC}#{spans[1].start}"]
    assert [i.url for i in only(items, WarcImage)] == ["http://example.com/img2.png"]


def test_iter_warc_reads_a_local_file_whatever_its_name(tmp_path) -> None:
    plain, spans = build_warc(pages(3), gzip_members=False)
    gz, gz_spans = build_warc(pages(3))
    (tmp_path / "plain-named.warc.gz").write_bytes(plain)
    (tmp_path / "gz-named.warc").write_bytes(gz)
    for name, sp in (("plain-named.warc.gz", spans), ("gz-named.warc", gz_spans)):
        path = str(tmp_path / name)
        got = list(iter_warc(path))
        assert [p.source for p in got] == [f"{path}#{s.start}" for s in sp]
        assert all(isinstance(p, RawPage) for p in got)


def test_missing_file_raises_file_not_found(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.warc\.gz"):
        list(iter_warc(str(tmp_path / "nope.warc.gz")))


def test_empty_input_gives_nothing() -> None:
    assert read(b"") == []
    assert read(b"\r\n\r\n") == []
