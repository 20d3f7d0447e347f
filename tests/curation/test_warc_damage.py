"""WARC reading on damaged files: bad records end as rejections, every good one is still read."""

from __future__ import annotations

import gzip
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation import warc_stream
from curation.warc import iter_warc_stream
from schemas.records import RawPage, Rejection, WarcImage
from tests.fixtures.warcs import (
    Span,
    build_warc,
    content_length,
    flip,
    html_body,
    image,
    insert,
    pages,
    patch_record,
    truncate,
)

SRC = "t.warc.gz"


def read(data: bytes) -> list[RawPage | WarcImage | Rejection]:
    return list(iter_warc_stream(io.BytesIO(data), SRC))


def page_urls(items: list) -> list[str]:
    return [x.url for x in items if isinstance(x, RawPage)]


def rejections(items: list) -> list[tuple[str, str]]:
    return [(r.key, r.reason) for r in items if isinstance(r, Rejection)]


def urls_of(spans: list[Span], skip: tuple[int, ...] = ()) -> list[str]:
    return [s.rec.url for i, s in enumerate(spans) if i not in skip]


def at(span: Span, shift: int = 0) -> str:
    return f"{SRC}#{span.start + shift}"


@pytest.mark.parametrize("gz", [True, False])
def test_file_truncated_mid_record(gz: bool) -> None:
    data, spans = build_warc(pages(5), gzip_members=gz)
    cut = (spans[3].start + spans[3].end) // 2
    items = read(truncate(data, cut))
    assert page_urls(items) == urls_of(spans[:3])
    assert rejections(items) == [(at(spans[3]), "truncated_record")]


def test_file_truncated_inside_the_gzip_trailer_is_not_trusted() -> None:
    # The record bytes are all there, but without the CRC nothing vouches for them.
    data, spans = build_warc(pages(3))
    items = read(truncate(data, len(data) - 3))
    assert page_urls(items) == urls_of(spans[:2])
    assert rejections(items) == [(at(spans[2]), "truncated_record")]


@pytest.mark.parametrize("where", ["deflate_data", "crc", "isize"])
def test_corrupt_gzip_member_in_the_middle(where: str) -> None:
    data, spans = build_warc(pages(5))
    s = spans[2]
    pos = {"deflate_data": (s.start + s.end) // 2, "crc": s.end - 6, "isize": s.end - 2}[where]
    items = read(flip(data, [pos]))
    assert page_urls(items) == urls_of(spans, skip=(2,))
    got = rejections(items)
    assert got and {k for k, _ in got} == {at(s)}
    assert {r for _, r in got} == {"malformed_record"}


def test_gzip_header_destroyed_is_skipped_as_junk() -> None:
    data, spans = build_warc(pages(5))
    items = read(flip(data, [spans[2].start, spans[2].start + 1]))
    assert page_urls(items) == urls_of(spans, skip=(2,))
    (rej,) = [x for x in items if isinstance(x, Rejection)]
    assert (rej.key, rej.reason) == (at(spans[2]), "malformed_record")
    assert "not a gzip member" in rej.detail


def test_first_gzip_member_destroyed() -> None:
    data, spans = build_warc(pages(3))
    items = read(flip(data, [0, 1]))
    assert page_urls(items) == urls_of(spans, skip=(0,))
    assert rejections(items) == [(at(spans[0]), "malformed_record")]


@pytest.mark.parametrize("gz", [True, False])
def test_garbage_between_records(gz: bool) -> None:
    data, spans = build_warc(pages(5), gzip_members=gz)
    junk = b"GARBAGE\x00\xff" * 10
    items = read(insert(data, spans[2].start, junk))
    assert page_urls(items) == urls_of(spans)
    assert rejections(items) == [(at(spans[2]), "malformed_record")]
    assert [p.source for p in items if isinstance(p, RawPage)][2:] == [
        at(s, len(junk)) for s in spans[2:]
    ]


@pytest.mark.parametrize("gz", [True, False])
def test_garbage_at_start_and_end_of_file(gz: bool) -> None:
    data, spans = build_warc(pages(3), gzip_members=gz)
    items = read(b"junk at start\n" + data + b"\x8b trailing junk")
    assert page_urls(items) == urls_of(spans)
    assert [r for _, r in rejections(items)] == ["malformed_record", "malformed_record"]
    assert rejections(items)[0][0] == f"{SRC}#0"


def test_blank_padding_between_records_is_not_junk() -> None:
    gz, gz_spans = build_warc(pages(3))
    items = read(insert(gz, gz_spans[1].start, b"\x00" * 64 + b"\r\n"))
    assert page_urls(items) == urls_of(gz_spans) and rejections(items) == []
    plain, spans = build_warc(pages(3), gzip_members=False)
    items = read(insert(plain, spans[1].start, b"\r\n\r\n"))
    assert page_urls(items) == urls_of(spans) and rejections(items) == []


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("delta", [-7, +7, +200, -200])
def test_wrong_content_length(gz: bool, delta: int) -> None:
    data, spans = build_warc(pages(5), gzip_members=gz)
    bad = patch_record(data, spans[2], content_length(lambda n: n + delta), gzip_members=gz)
    items = read(bad)
    assert page_urls(items) == urls_of(spans, skip=(2,))
    assert rejections(items) == [(at(spans[2]), "malformed_record")]


@pytest.mark.parametrize("gz", [True, False])
def test_content_length_past_end_of_file_loses_nothing_after_it(gz: bool) -> None:
    data, spans = build_warc(pages(4), gzip_members=gz)
    bad = patch_record(data, spans[1], content_length(lambda n: n + 10**6), gzip_members=gz)
    items = read(bad)
    assert page_urls(items) == urls_of(spans, skip=(1,))
    assert [k for k, _ in rejections(items)] == [at(spans[1])]


@pytest.mark.parametrize(
    ("patch", "detail"),
    [
        (lambda r: r.replace(b"Content-Length:", b"X-Length:", 1), "no Content-Length"),
        (lambda r: r.replace(b"Content-Length: ", b"Content-Length: x", 1), "bad Content-Length"),
        (lambda r: r.replace(b"WARC-Type:", b"WARC-Type no colon", 1), "without a colon"),
    ],
)
def test_damaged_headers_in_the_middle_of_a_plain_warc(patch, detail: str) -> None:
    data, spans = build_warc(pages(5), gzip_members=False)
    items = read(patch_record(data, spans[2], patch, gzip_members=False))
    assert page_urls(items) == urls_of(spans, skip=(2,))
    (rej,) = [x for x in items if isinstance(x, Rejection)]
    assert (rej.key, rej.reason) == (at(spans[2]), "malformed_record")
    assert detail in rej.detail


def test_whole_file_in_one_gzip_member() -> None:
    plain, spans = build_warc([*pages(3), image(0)], gzip_members=False)
    items = read(gzip.compress(plain, mtime=0))
    assert [x.url for x in items] == urls_of(spans)
    assert [x.source for x in items] == [f"{SRC}#0"] + [f"{SRC}#0+{s.start}" for s in spans[1:]]


def test_whole_file_gzip_with_a_bad_record_inside() -> None:
    plain, spans = build_warc(pages(4), gzip_members=False)
    plain = patch_record(plain, spans[1], content_length(lambda n: n - 5), gzip_members=False)
    items = read(gzip.compress(plain, mtime=0))
    assert page_urls(items) == urls_of(spans, skip=(1,))
    assert rejections(items) == [(f"{SRC}#0+{spans[1].start}", "malformed_record")]


def test_bad_record_too_big_to_keep_in_memory_is_searched_by_decompressing_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(warc_stream, "_MAX_KEPT", 100)
    plain, spans = build_warc(pages(4), gzip_members=False)
    plain = patch_record(plain, spans[2], content_length(lambda n: n - 5), gzip_members=False)
    items = read(gzip.compress(plain, mtime=0))
    assert page_urls(items) == urls_of(spans, skip=(2,))
    assert rejections(items) == [(f"{SRC}#0+{spans[2].start}", "malformed_record")]


def test_record_split_across_gzip_members() -> None:
    plain, spans = build_warc(pages(3), gzip_members=False)
    members = [plain[: spans[1].start], plain[spans[1].start : spans[1].start + 300]]
    members += [plain[spans[1].start + 300 :]]
    data = b"".join(gzip.compress(m, mtime=0) for m in members)
    items = read(data)
    assert page_urls(items) == urls_of(spans)
    assert items[1].content == html_body(1)


class _Pipe(io.RawIOBase):
    """A non-seekable stream, like a pipe or an HTTP body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:
        chunk = self._data.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_non_seekable_stream_still_recovers_from_damage() -> None:
    data, spans = build_warc(pages(4))
    bad = flip(data, [(spans[1].start + spans[1].end) // 2])
    items = list(iter_warc_stream(_Pipe(bad), SRC))
    assert page_urls(items) == urls_of(spans, skip=(1,))
    assert [k for k, _ in rejections(items)] == [at(spans[1])]


# ---------------------------------------------------------------- properties

_GZ, _GZ_SPANS = build_warc([*pages(5), image(1), *pages(2, start=5)])
_PLAIN, _PLAIN_SPANS = build_warc([*pages(5), image(1), *pages(2, start=5)], gzip_members=False)
_ORIGINAL = {(s.rec.url, s.rec.body) for s in _GZ_SPANS}


def _untouched(spans: list[Span], positions: set[int]) -> list[Span]:
    return [s for s in spans if not any(s.start <= p < s.end for p in positions)]


_flips = st.lists(st.tuples(st.integers(0, len(_GZ) - 1), st.integers(1, 255)), max_size=6)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_flips)
def test_random_corruption_of_gzip_members(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_GZ)
    for p, x in flips:
        data[p] ^= x
    items = read(bytes(data))
    produced = {(x.url, x.content) for x in items if not isinstance(x, Rejection)}
    # Every record in an untouched member is read, byte for byte …
    for s in _untouched(_GZ_SPANS, {p for p, _ in flips}):
        assert (s.rec.url, s.rec.body) in produced
    # … and a corrupted member never yields altered bytes: the gzip CRC guards them.
    assert produced <= _ORIGINAL


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_PLAIN) - 1), st.integers(1, 255)), max_size=6))
def test_random_corruption_of_a_plain_warc(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_PLAIN)
    for p, x in flips:
        data[p] ^= x
    items = read(bytes(data))
    produced = {(x.url, x.content) for x in items if not isinstance(x, Rejection)}
    # No CRC here, so a damaged record may come out altered; the untouched ones must all come.
    for s in _untouched(_PLAIN_SPANS, {p for p, _ in flips}):
        assert (s.rec.url, s.rec.body) in produced


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([b"", b"WARC/1.0\r\n", b"\x1f\x8b\x08\x00", _PLAIN[:600], _GZ[:300]]),
    st.binary(max_size=2000),
)
def test_arbitrary_bytes_never_raise(prefix: bytes, body: bytes) -> None:
    items = read(prefix + body)
    assert all(isinstance(x, RawPage | WarcImage | Rejection) for x in items)
    assert all(x.stage == "read" for x in items if isinstance(x, Rejection))
