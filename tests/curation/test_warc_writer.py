"""WARC written by WarcShardWriter, read back by warcio and by curation.warc.iter_warc."""

from __future__ import annotations

import base64
import datetime
import hashlib

from warcio.archiveiterator import ArchiveIterator

from curation.warc import iter_warc
from curation.warc_writer import Exchange, WarcShardWriter, warc_date
from schemas import RawPage, WarcImage

WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
PAGE = b"<html><body><p>Hello harbour, tide and ferry.</p></body></html>"


def _write(path, *exchanges: Exchange) -> None:
    with WarcShardWriter(open(path, "wb")) as writer:
        for ex in exchanges:
            writer.write_exchange(ex)
    assert writer.records == 2 * len(exchanges)


def _page(url: str = "http://site.test/a?b=1") -> Exchange:
    headers = {"content-type": "text/html", "content-encoding": "gzip", "content-length": "9"}
    request = {"User-Agent": "interleaf-test", "Host": "site.test"}
    return Exchange(url, PAGE, headers, request, fetched_at=WHEN)


def test_request_and_response_records_with_digests(tmp_path):
    path = tmp_path / "s.warc.gz"
    _write(path, _page())
    with open(path, "rb") as f:
        records, bodies = [], []
        for rec in ArchiveIterator(f):  # a record's body must be read before the next one
            records.append(rec)
            bodies.append(rec.content_stream().read())
    assert [r.rec_type for r in records] == ["request", "response"]
    request, response = records
    for rec in records:
        assert rec.rec_headers.get_header("WARC-Target-URI") == "http://site.test/a?b=1"
        assert rec.rec_headers.get_header("WARC-Date") == "2024-05-06T07:08:09Z"
    assert request.rec_headers.get_header("WARC-Concurrent-To") == response.rec_headers.get_header(
        "WARC-Record-ID"
    )
    assert request.http_headers.protocol == "GET"
    assert request.http_headers.statusline == "/a?b=1 HTTP/1.1"  # warcio splits off the method
    assert request.http_headers.get_header("User-Agent") == "interleaf-test"
    # The stored body is decoded: transfer headers must describe it, not the wire.
    assert response.http_headers.get_header("Content-Encoding") is None
    assert response.http_headers.get_header("Content-Length") == str(len(PAGE))
    digest = "sha1:" + base64.b32encode(hashlib.sha1(PAGE).digest()).decode()
    assert response.rec_headers.get_header("WARC-Payload-Digest") == digest
    assert bodies == [b"", PAGE]


def test_iter_warc_reads_pages_and_images(tmp_path):
    path = tmp_path / "s.warc.gz"
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 64
    image = Exchange(
        "http://site.test/i.jpg", jpeg, {"content-type": "image/jpeg"}, fetched_at=WHEN
    )
    _write(path, _page(), image)
    items = [r for r in iter_warc(str(path)) if isinstance(r, (RawPage, WarcImage))]
    assert [type(r) for r in items] == [RawPage, WarcImage]
    assert items[0].content == PAGE and items[0].url == "http://site.test/a?b=1"
    assert items[0].fetch_time.startswith("2024-05-06T07:08:09")
    assert items[1].content == jpeg


def test_warc_date_is_utc_seconds():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert warc_date(datetime.datetime(2024, 1, 1, 2, 0, 0, tzinfo=tz)) == "2024-01-01T00:00:00Z"
    assert warc_date().endswith("Z")
