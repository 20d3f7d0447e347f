"""Read WARC / ARC files (plain or gzipped, damaged or not) into HTML pages, images and rejections.

Input: `.warc`, `.warc.gz`, `.arc`, `.arc.gz` as written by Heritrix, wget, warcio, Common
Crawl and old Internet Archive crawls. Response and resource records with an HTML payload
become `RawPage`s, those with an image payload `WarcImage`s; every other record, and every
stretch of bytes that cannot be read, becomes a `Rejection(stage="read")`. Damage never stops
the reader: it resynchronises at the next gzip member or `WARC/1.x` line and goes on.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from curation.http_payload import (
    PayloadError,
    decode_body,
    is_html_body,
    parse_http_response,
    sniff_image_type,
)
from curation.warc_stream import Position, StreamDamage, WarcByteStream
from schemas.records import RawPage, Rejection, WarcImage

STAGE = "read"
DEFAULT_MAX_PAYLOAD_BYTES = 50 * 2**20  # larger than any real HTML page; caps memory per record

_MAX_HEADER_BYTES = 1 << 16  # a WARC header block is a few hundred bytes; 64 KiB means junk
_MAX_LINE = 1 << 13  # longest record header line (an ARC one holds the URL) we look at
_SCAN_WINDOW = 1 << 16
_FAST_HEADER_BYTES = 1 << 13  # most WARC header blocks fit; longer ones are read line by line
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_SPOOL_BYTES = 64 * 2**20  # a non-seekable input is copied to a temp file past this size
_BLANK = b" \t\r\n\x00"

# Not anchored at a line start: junk is often glued to the next record's first line.
_WARC_LINE = re.compile(rb"WARC/[0-9]\.[0-9]+\r?\n")
# ARC v1: URL IP date mime length; v2 adds result-code checksum location offset filename
# before the length. The URL may contain spaces, so fields are matched from the right.
_ARC_V1 = re.compile(rb"(\S.*?) (\S+) ([0-9]{12,18}) (\S*) (\S+)\r?\n?\Z")
_ARC_V2 = re.compile(rb"(\S.*?) (\S+) ([0-9]{12,18}) (\S*)(?: \S+){5} (\S+)\r?\n?\Z")
_ARC_CANDIDATE = re.compile(rb"(?m)^[A-Za-z][A-Za-z0-9+.\-]*:[^\n]* [0-9]{12,18} [^\n]*$")

_PAYLOAD_TYPES = ("response", "resource")
_SKIPPED = {
    "request": "skipped_request",
    "metadata": "skipped_metadata",
    "revisit": "skipped_revisit",
    "warcinfo": "skipped_warcinfo",
}
_HTML_TYPES = {"text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml"}
# Media types that say nothing reliable: the body decides (MIME sniffing, WHATWG §7).
_UNTYPED = {
    "",
    "application/octet-stream",
    "binary/octet-stream",
    "application/unknown",
    "unknown/unknown",
    "application/x-unknown-content-type",
    "text/plain",
    "text/xml",
    "application/xml",
    "*/*",
}


@dataclass(frozen=True)
class _Record:
    """One WARC/ARC record as framed in the file; `block` is None when not worth holding."""

    rtype: str
    url: str
    date: str
    content_type: str
    length: int
    block: bytes | None
    is_arc: bool


class _RecordError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def iter_warc(path: str, **kw: int) -> Iterator[RawPage | WarcImage | Rejection]:
    """Records of a local WARC/ARC file (gzipped or not, whatever its name says)."""
    with open(path, "rb") as f:
        yield from iter_warc_stream(f, path, **kw)


def iter_warc_stream(
    stream: BinaryIO, source: str, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> Iterator[RawPage | WarcImage | Rejection]:
    """Pages, images and rejections of one WARC/ARC byte stream; never raises on bad bytes."""
    if stream.seekable():
        yield from _iter_seekable(stream, source, max_payload_bytes)
        return
    # Resynchronising after damage re-reads earlier bytes, so a pipe is spooled first.
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.seek(0)
        yield from _iter_seekable(spool, source, max_payload_bytes)  # type: ignore[arg-type]


def _iter_seekable(
    stream: BinaryIO, source: str, max_bytes: int
) -> Iterator[RawPage | WarcImage | Rejection]:
    reader = WarcByteStream(stream, _looks_like_record)
    for item in _iter_records(reader, source, max_bytes):
        if isinstance(item, Rejection):
            yield item
        else:
            record, pos = item
            yield _classify(record, _key(source, pos, reader.gzipped), max_bytes)


def _key(source: str, pos: Position, gzipped: bool) -> str:
    """The record key: source#offset in the file as stored, source#member+inner mid-member."""
    member, inner = pos
    if not gzipped:
        return f"{source}#{inner}"
    return f"{source}#{member}" if inner == 0 else f"{source}#{member}+{inner}"


def _iter_records(
    reader: WarcByteStream, source: str, max_bytes: int
) -> Iterator[tuple[_Record, Position] | Rejection]:
    """Every record with its position, and a rejection for every stretch that is not one."""
    arc: bool | None = None  # decided by the first record read
    resume: Position | None = None

    def key(pos: Position) -> str:
        return _key(source, pos, reader.gzipped)

    while True:
        pos, in_record = reader.tell(), False
        try:
            junk = ""
            if resume is not None:
                # The rest of a rejected record is covered by its rejection: no junk report.
                reader.seek(resume)
                resume = None
                reader.readline(_SCAN_WINDOW)  # a record starts at a line start
                _skip_to_record(reader, arc)
            else:
                pos = reader.tell()
                junk = _skip_to_record(reader, arc)
            yield from _drain_skipped(reader, source)
            if junk:
                yield Rejection(STAGE, "malformed_record", key(pos), junk)
            pos, in_record = reader.tell(), True
            if not reader.peek(1):
                return
            reader.mark()  # a bad record is searched again from its second byte
            record = _read_record(reader, max_bytes)
            arc = record.is_arc if arc is None else arc
            yield record, pos
        except _RecordError as err:
            yield Rejection(STAGE, err.reason, key(pos), err.detail)
            resume = (pos[0], pos[1] + 1)  # look for the next record inside this one's bytes
        except StreamDamage as damage:
            where = key(pos if in_record else (damage.member, 0))
            more = reader.recover(damage)
            # A member "cut off" with good members after it was damaged, not truncated.
            reason = "malformed_record" if more else damage.reason
            yield Rejection(STAGE, reason, where, damage.detail)
            yield from _drain_skipped(reader, source)


def _drain_skipped(reader: WarcByteStream, source: str) -> Iterator[Rejection]:
    """Rejections for junk the stream skipped between gzip members."""
    while reader.skipped:
        offset, length = reader.skipped.pop(0)
        detail = f"skipped {length} bytes that are not a gzip member"
        yield Rejection(STAGE, "malformed_record", f"{source}#{offset}", detail)


def _skip_to_record(reader: WarcByteStream, arc: bool | None) -> str:
    """Move to the next record start; describes the junk passed over ("" if only blanks)."""
    skipped, dirty = 0, False
    while head := reader.peek(_SCAN_WINDOW):
        blank = len(head) - len(head.lstrip(_BLANK))
        if blank:
            reader.skip(blank)
            skipped += blank
            continue
        start = _find_record_start(head, arc)
        if start == 0:
            break
        # Keep a line's worth of overlap so a header cut by the window is seen next time.
        n = start if start > 0 else len(head) if len(head) < _SCAN_WINDOW else len(head) - _MAX_LINE
        dirty = dirty or bool(head[:n].strip(_BLANK))
        skipped += reader.skip(n)
    return f"skipped {skipped} bytes that are not a WARC record" if dirty else ""


def _find_record_start(head: bytes, arc: bool | None) -> int:
    """Index of the first record header line in `head`, -1 if none."""
    found = []
    if arc is not True:
        m = _WARC_LINE.search(head)
        if m:
            found.append(m.start())
    if arc is not False:
        for m in _ARC_CANDIDATE.finditer(head):
            if _parse_arc_header(m.group(0)) is not None:
                found.append(m.start())
                break
    return min(found, default=-1)


def _looks_like_record(head: bytes) -> bool:
    """Whether bytes begin with a WARC version line or an ARC record header line."""
    if head.startswith(b"WARC/"):
        return _WARC_LINE.match(head) is not None
    eol = head.find(b"\n")
    return eol > 0 and _parse_arc_header(head[: eol + 1]) is not None


def _read_record(reader: WarcByteStream, max_bytes: int) -> _Record:
    """Read one record at the current position; _RecordError if it is not well framed."""
    first = reader.readline(_MAX_LINE)
    if first.startswith(b"WARC/"):
        headers = _read_warc_headers(reader)
        length = _parse_length(headers.get("content-length"))
        rtype = headers.get("warc-type", "")
        url = headers.get("warc-target-uri", "").strip().strip("<>").strip().replace(" ", "%20")
        record = _Record(
            rtype=rtype,
            url=url,
            date=headers.get("warc-date", ""),
            content_type=headers.get("content-type", ""),
            length=length,
            block=None,
            is_arc=False,
        )
    else:
        arc = _parse_arc_header(first)
        if arc is None:
            raise _RecordError("malformed_record", f"not a WARC or ARC header: {first[:80]!r}")
        record = arc
    keep = record.rtype in _PAYLOAD_TYPES and record.length <= max_bytes
    block = _read_block(reader, record.length, keep)
    _check_record_end(reader, record.length, record.is_arc)
    return replace(record, block=block)


def _read_warc_headers(reader: WarcByteStream) -> dict[str, str]:
    """Named fields up to the blank line, names lower-cased; continuation lines folded in."""
    # Fast path: the whole header block is in the buffer, one regex finds its end.
    head = reader.peek(_FAST_HEADER_BYTES, cross=False)
    m = _BLANK_LINE.search(b"\n" + head)
    if m is not None:
        reader.skip(m.end() - 1)
        return _parse_header_lines(head[: max(m.start() - 1, 0)].split(b"\n"))
    lines, total = [], 0
    while True:
        line = reader.readline(_MAX_HEADER_BYTES - total)
        total += len(line)
        if not line.endswith(b"\n"):
            if total >= _MAX_HEADER_BYTES:
                raise _RecordError("malformed_record", "WARC header block longer than 64 KiB")
            raise _RecordError("truncated_record", "file ends inside the WARC headers")
        if not line.strip(b"\r\n"):
            return _parse_header_lines(lines)
        lines.append(line)


def _parse_header_lines(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = ""
    for line in lines:
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if text[:1] in (" ", "\t") and last:
            headers[last] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        if not colon:
            raise _RecordError(
                "malformed_record", f"WARC header line without a colon: {text[:80]!r}"
            )
        last = name.strip().lower()
        headers.setdefault(last, value.strip())
    return headers


def _parse_length(value: str | None) -> int:
    if value is None:
        raise _RecordError("malformed_record", "no Content-Length")
    if not value.isdigit():
        raise _RecordError("malformed_record", f"bad Content-Length {value[:40]!r}")
    return int(value)


def _parse_arc_header(line: bytes) -> _Record | None:
    """An ARC v1/v2 record header line as a record without its block; None if it is not one."""
    m = _ARC_V2.match(line) or _ARC_V1.match(line)
    if m is None or not m.group(5).isdigit():
        return None
    url = m.group(1).decode("utf-8", "replace").replace(" ", "%20")
    date = m.group(3).decode()[:14].ljust(14, "0")
    iso = f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[8:10]}:{date[10:12]}:{date[12:14]}Z"
    rtype = "warcinfo" if url.startswith("filedesc:") else "response"
    mime = m.group(4).decode("latin-1")
    return _Record(rtype, url, iso, mime, length=int(m.group(5)), block=None, is_arc=True)


def _read_block(reader: WarcByteStream, length: int, keep: bool) -> bytes | None:
    """The record block (None when not kept); _RecordError when the file ends inside it."""
    block = reader.read(length) if keep else None
    got = len(block) if block is not None else reader.skip(length)
    if got < length:
        raise _RecordError(
            "truncated_record", f"file ends {length - got} bytes into the {length}-byte block"
        )
    return block


def _check_record_end(reader: WarcByteStream, length: int, is_arc: bool) -> None:
    """After a block come blank lines, then a record, the end of the gzip member, or EOF."""
    if reader.at_member_end():
        return
    pad = reader.peek(4, cross=False)
    if pad == b"\r\n\r\n" and not is_arc:
        # The WARC trailer right where Content-Length says (ISO 28500 §4): the length is
        # right, and junk after it is reported on its own without costing this record.
        reader.skip(4)
        reader.at_member_end()  # makes zlib check the member's CRC before the record is used
        return
    reader.skip(len(pad) - len(pad.lstrip(b"\r\n")))
    if reader.at_member_end():
        return
    head = reader.peek(_MAX_LINE, cross=False).lstrip(b"\r\n \t")
    if head and not _looks_like_record(head):
        raise _RecordError(
            "malformed_record",
            f"Content-Length {length} does not end at a record boundary (next: {head[:16]!r})",
        )


def _classify(record: _Record, key: str, max_bytes: int) -> RawPage | WarcImage | Rejection:
    """A framed record → page, image, or the reason it is neither."""
    if record.rtype in _SKIPPED:
        return Rejection(STAGE, _SKIPPED[record.rtype], key, record.url)
    if record.rtype not in _PAYLOAD_TYPES:
        detail = f"WARC-Type {record.rtype!r}" if record.rtype else "no WARC-Type"
        return Rejection(STAGE, "skipped_other_record_type", key, detail)
    if record.block is None:
        detail = f"{record.url}: {record.length}-byte block > {max_bytes}"
        return Rejection(STAGE, "payload_too_large", key, detail)
    if not record.url:
        return Rejection(STAGE, "malformed_record", key, "no WARC-Target-URI")
    try:
        content_type, body = _payload(record, max_bytes)
    except PayloadError as err:
        return Rejection(STAGE, err.reason, key, f"{record.url}: {err.detail}")
    image_type = sniff_image_type(body)
    mime = content_type.split(";")[0].strip().lower()
    if image_type or mime.startswith("image/"):
        # A mislabelled or untyped image gets the type its magic bytes say.
        declared = content_type if mime.startswith("image/") else image_type or ""
        return WarcImage(record.url, body, declared, source=key)
    if mime in _HTML_TYPES or (mime in _UNTYPED and is_html_body(body)):
        return RawPage(record.url, body, content_type, record.date, source=key)
    return Rejection(STAGE, "not_html", key, f"{record.url}: {mime or 'no content type'}")


def _payload(record: _Record, max_bytes: int) -> tuple[str, bytes]:
    """(Content-Type, decoded body) of a response or resource record; PayloadError if unusable."""
    block = record.block or b""
    if record.rtype == "resource":
        content_type, body = record.content_type, block
    elif block.startswith(b"HTTP/") or record.url.lower().startswith(("http:", "https:")):
        response = parse_http_response(block)
        if not 200 <= response.status < 300:
            raise PayloadError("http_status", str(response.status))
        content_type = response.headers.get("content-type", "")
        body = decode_body(response.body, response.headers, max_bytes)
    else:
        # dns:, ftp: … responses of Heritrix crawls carry no HTTP message and no page.
        raise PayloadError("not_html", f"non-HTTP response ({record.content_type})")
    if not body.strip():
        raise PayloadError("empty_payload", f"{len(body)}-byte body")
    return content_type, body
