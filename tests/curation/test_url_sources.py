"""URL lists: normalising, text/CSV/Parquet columns, sitemaps (index, gzip, hostile XML)."""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.url_sources import (
    UrlSourceError,
    dedupe_urls,
    expand_sitemap,
    host_key,
    normalise_url,
    parse_sitemap,
    source_kind,
    urls_from_bytes,
)

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(*urls: str) -> bytes:
    items = "".join(f"<url><loc> {u} </loc><lastmod>2024-01-01</lastmod></url>" for u in urls)
    return f'<?xml version="1.0"?><urlset {NS}>{items}</urlset>'.encode()


def index(*urls: str) -> bytes:
    items = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return f"<sitemapindex {NS}>{items}</sitemapindex>".encode()


@pytest.mark.parametrize(
    ("url", "norm"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("https://example.com:443/a?b=1#frag", "https://example.com/a?b=1"),
        ("http://example.com:8080/A", "http://example.com:8080/A"),
        ("  http://[::1]:81/x ", "http://[::1]:81/x"),
        ("ftp://example.com/", None),
        ("mailto:a@b.c", None),
        ("http://user:pw@example.com/", None),
        ("http://example.com:99999/", None),
        ("not a url", None),
    ],
)
def test_normalise_url(url, norm):
    assert normalise_url(url) == norm


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_normalise_is_idempotent_and_never_crashes(text):
    norm = normalise_url(text)
    if norm is not None:
        assert normalise_url(norm) == norm
        assert host_key(norm)


def test_dedupe_keeps_first_seen_order():
    unique, invalid = dedupe_urls(["http://b/", "http://A/x", "HTTP://b", "javascript:x"])
    assert unique == ["http://b/", "http://a/x"]
    assert invalid == ["javascript:x"]


def test_text_list_skips_blanks_and_comments_and_gzip():
    data = b"# list\nhttp://a/1\n\n  http://a/2  \n"
    assert urls_from_bytes(data, "txt") == ["http://a/1", "http://a/2"]
    assert urls_from_bytes(gzip.compress(data), "txt") == ["http://a/1", "http://a/2"]


def test_csv_and_tsv_column():
    assert urls_from_bytes(b"id,link\n1,http://a/1\n2,\n3,http://a/3\n", "csv", "link") == [
        "http://a/1",
        "http://a/3",
    ]
    assert urls_from_bytes(b"link\tid\nhttp://a/1\t1\n", "csv", "link") == ["http://a/1"]
    with pytest.raises(UrlSourceError) as err:
        urls_from_bytes(b"id\n1\n", "csv", "url")
    assert err.value.reason == "missing_column"


def test_parquet_column():
    buf = io.BytesIO()
    pq.write_table(pa.table({"url": ["http://a/1", None, "http://a/2"], "n": [1, 2, 3]}), buf)
    assert urls_from_bytes(buf.getvalue(), "parquet") == ["http://a/1", "http://a/2"]
    with pytest.raises(UrlSourceError):
        urls_from_bytes(buf.getvalue(), "parquet", "link")


def test_sitemap_urlset_and_gzip():
    data = urlset("http://a/1", "http://a/2")
    assert parse_sitemap(data) == (["http://a/1", "http://a/2"], [])
    assert parse_sitemap(gzip.compress(data)) == (["http://a/1", "http://a/2"], [])


def test_sitemap_index_follows_children_through_the_loader():
    children = {
        "http://a/s1.xml": urlset("http://a/1"),
        "http://a/s2.xml.gz": gzip.compress(urlset("http://a/2")),
    }
    data = index(*children)
    assert list(expand_sitemap(data, children.__getitem__)) == ["http://a/1", "http://a/2"]
    assert urls_from_bytes(data, "sitemap", load=children.__getitem__) == [
        "http://a/1",
        "http://a/2",
    ]


def test_sitemap_index_cycle_ends():
    loop = index("http://a/loop.xml")
    with pytest.raises(UrlSourceError) as err:
        list(expand_sitemap(loop, lambda url: loop))
    assert err.value.reason == "sitemap_too_deep"


def test_sitemap_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file://{secret}">]>'
        f"<urlset {NS}><url><loc>http://a/&x;</loc></url></urlset>"
    ).encode()
    pages, _ = parse_sitemap(xxe)
    assert not any("TOP-SECRET" in p for p in pages)


# A gzip sitemap cut off in transfer.
GZ_CUT = gzip.compress(b"<urlset>" + b"<url><loc>https://a.example/</loc></url>" * 50)[:-20]


@pytest.mark.parametrize("data", [b"", b"<html></html>", b"\x00\x01garbage"])
def test_bad_sitemaps_raise_a_reason(data):
    with pytest.raises(UrlSourceError) as err:
        parse_sitemap(data)
    assert err.value.reason == "bad_sitemap"


@pytest.mark.parametrize("data", [b"\x1f\x8b", b"\x1f\x8b\x08\x00garbage", GZ_CUT])
def test_broken_gzip_sitemaps_raise_a_reason(data):
    with pytest.raises(UrlSourceError) as err:
        parse_sitemap(data)
    assert err.value.reason == "bad_gzip"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=500))
def test_sitemap_parser_raises_only_url_source_errors(data):
    try:
        pages, children = parse_sitemap(data)
    except UrlSourceError:
        return
    assert all(isinstance(u, str) and u for u in pages + children)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("a.txt", "txt"),
        ("a.csv.gz", "csv"),
        ("a.TSV", "csv"),
        ("x.parquet", "parquet"),
        ("sitemap.xml.gz", "sitemap"),
        ("list", "txt"),
    ],
)
def test_source_kind(path, kind):
    assert source_kind(path) == kind
