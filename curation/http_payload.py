"""The HTTP message stored in a WARC response record: status, headers, and the decoded body."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from curation.sniff import sniff_content_type

_STATUS_LINE = re.compile(r"HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s|$)")
_MAX_HEAD = 1 << 17  # HTTP header block cap; real ones are a few KiB


class PayloadError(Exception):
    """The HTTP message in a record cannot give a usable body."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-cased names; the first value of a repeated header
    body: bytes  # as stored: transfer- and content-encoding not yet removed


def parse_http_response(block: bytes) -> HttpResponse:
    """Split a stored HTTP response into status, headers, body; PayloadError if it is not one."""
    end, sep = _header_end(block)
    if end < 0:
        raise PayloadError("bad_http_headers", f"no end of HTTP headers in {block[:60]!r}")
    lines = block[:end].decode("latin-1").splitlines()
    match = _STATUS_LINE.match(lines[0]) if lines else None
    if match is None:
        raise PayloadError("bad_http_headers", f"bad status line {block[:60]!r}")
    headers: dict[str, str] = {}
    last = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last:
            headers[last] += " " + line.strip()  # obsolete line folding (RFC 7230 §3.2.4)
            continue
        name, colon, value = line.partition(":")
        if colon and name.strip():
            last = name.strip().lower()
            headers.setdefault(last, value.strip())
    return HttpResponse(int(match.group(1)), headers, block[end + sep :])


def _header_end(block: bytes) -> tuple[int, int]:
    """Index and length of the blank line that ends the header block, (-1, 0) if none."""
    crlf, lf = block.find(b"\r\n\r\n", 0, _MAX_HEAD), block.find(b"\n\n", 0, _MAX_HEAD)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    # A response with headers only and no blank line after them (some crawlers cut it).
    if block.endswith(b"\r\n"):
        return len(block) - 2, 2
    return -1, 0


def decode_body(body: bytes, headers: dict[str, str], max_bytes: int) -> bytes:
    """Remove chunked transfer-encoding and gzip/deflate/br content-encoding where possible."""
    if not body.strip():
        return body  # nothing to decode: the caller rejects it as empty
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(body)
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
    for coding in reversed([c for c in codings if c and c not in ("identity", "none")]):
        try:
            body = decompress(body, coding, max_bytes)
        except PayloadError as err:
            # Many crawlers store the decoded body but keep the original header.
            if err.reason == "payload_too_large" or not looks_decoded(body):
                raise
    return body


def dechunk(body: bytes) -> bytes:
    """The body of a chunked message; the body itself when it is not actually chunked."""
    out = bytearray()
    i = 0
    while True:
        eol = body.find(b"\n", i, i + 1024)
        if eol < 0:
            break
        try:
            size = int(body[i:eol].split(b";")[0].strip(), 16)
        except ValueError:
            break
        if size == 0:
            return bytes(out)
        start = eol + 1
        out += body[start : start + size]
        i = start + size
        if i >= len(body):
            return bytes(out)  # cut short: keep what arrived
        i += 2 if body[i : i + 2] == b"\r\n" else 1 if body[i : i + 1] == b"\n" else 0
    # Crawlers often de-chunk but keep the header: no valid first chunk means a plain body.
    return bytes(out) if out else body


def decompress(body: bytes, coding: str, max_bytes: int) -> bytes:
    """Undo one content-coding under a size cap; PayloadError on failure."""
    if coding in ("gzip", "x-gzip"):
        out = _zlib(body, 32 + zlib.MAX_WBITS, max_bytes)  # 32: gzip or zlib header
    elif coding == "deflate":
        # "deflate" is zlib-wrapped by the RFC but raw deflate in many servers.
        try:
            out = _zlib(body, zlib.MAX_WBITS, max_bytes)
        except PayloadError:
            out = _zlib(body, -zlib.MAX_WBITS, max_bytes)
    elif coding == "br":
        out = _brotli(body, max_bytes)
    else:
        raise PayloadError("bad_content_encoding", f"unsupported content-encoding {coding!r}")
    if len(out) > max_bytes:
        raise PayloadError("payload_too_large", f"{coding} body inflates past {max_bytes} bytes")
    return out


def _zlib(body: bytes, wbits: int, max_bytes: int) -> bytes:
    dec = zlib.decompressobj(wbits)
    try:
        out = dec.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise PayloadError("bad_content_encoding", f"zlib: {exc}") from exc
    if not out and not dec.eof:
        raise PayloadError("bad_content_encoding", "compressed body too short")
    return out  # a body cut short in a capture still gives its first part: keep it


def _brotli(body: bytes, max_bytes: int) -> bytes:
    try:
        import brotli  # optional: only pages served with Content-Encoding: br need it
    except ImportError as exc:
        raise PayloadError("bad_content_encoding", "br body but brotli is not installed") from exc
    try:
        return brotli.Decompressor().process(body, output_buffer_limit=max_bytes + 1)
    except brotli.error as exc:
        raise PayloadError("bad_content_encoding", f"brotli: {exc}") from exc


def looks_decoded(body: bytes) -> bool:
    """Whether a body is already usable as is (markup or an image), whatever its headers say."""
    return sniff_content_type(body) is not None


def is_html_body(body: bytes) -> bool:
    """Whether the first bytes of an untyped body look like an HTML document."""
    return sniff_content_type(body) == "text/html"


def sniff_image_type(body: bytes) -> str | None:
    """The raster image type the magic bytes say (SVG excluded: it is markup), or None."""
    kind = sniff_content_type(body)
    if kind and kind.startswith("image/") and kind != "image/svg+xml":
        return kind
    return None
