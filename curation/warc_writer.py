"""Writing fetched pages (and their images) as standard WARC/1.0 request + response records.

One `WarcShardWriter` owns one ``.warc.gz`` file (one gzip member per record, so a
crash loses at most the record being written). warcio fills in WARC-Record-ID,
Content-Length and the block and payload SHA-1 digests; we set WARC-Date to the fetch
time and link each response to its request with WARC-Concurrent-To.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Headers describing a transfer we already undid: the stored body is the decoded payload.
_TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class Exchange:
    """One GET and its answer, as the fetcher saw it."""

    url: str
    body: bytes
    response_headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    request_headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    reason: str = "OK"
    fetched_at: datetime.datetime | None = None  # UTC; None = now


def warc_date(when: datetime.datetime | None = None) -> str:
    """ISO 8601 UTC with seconds, as WARC/1.0 wants (WARC-Date)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def response_head(ex: Exchange) -> StatusAndHeaders:
    """The HTTP status line and headers stored for the decoded body."""
    headers = [(k.title(), v) for k, v in ex.response_headers.items() if k not in _TRANSFER_HEADERS]
    headers.append(("Content-Length", str(len(ex.body))))
    return StatusAndHeaders(f"{ex.status} {ex.reason}", headers, protocol="HTTP/1.1")


def request_head(ex: Exchange, target: str) -> StatusAndHeaders:
    """The HTTP request line and headers of the GET."""
    return StatusAndHeaders(
        f"GET {target} HTTP/1.1", list(ex.request_headers.items()), is_http_request=True
    )


class WarcShardWriter:
    """Appends request/response pairs to one gzipped WARC file."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._writer = WARCWriter(stream, gzip=True)
        self.records = 0

    def write_exchange(self, ex: Exchange) -> None:
        """A request record then its response record, both dated at the fetch time."""
        parts = urlsplit(ex.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        date = warc_date(ex.fetched_at)
        response = self._writer.create_warc_record(
            ex.url,
            "response",
            payload=io.BytesIO(ex.body),
            warc_headers_dict={"WARC-Date": date},
            http_headers=response_head(ex),
        )
        request = self._writer.create_warc_record(
            ex.url,
            "request",
            payload=io.BytesIO(b""),
            warc_headers_dict={
                "WARC-Date": date,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
            http_headers=request_head(ex, target),
        )
        self._writer.write_record(request)
        self._writer.write_record(response)
        self._stream.flush()
        self.records += 2

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> WarcShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
