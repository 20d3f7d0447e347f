"""Read one saved HTML page from local disk (`.html`, `.htm`, `.html.gz`) as a `RawPage`."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from datetime import datetime, timezone
from pathlib import Path

from schemas.records import RawPage

DEFAULT_MAX_BYTES = 50 * 2**20  # same cap as a WARC payload (curation.warc)
_GZIP_MAGIC = b"\x1f\x8b"


class HtmlFileError(ValueError):
    """A local HTML file whose bytes cannot be used (corrupt gzip, empty, too large)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def read_html_file(
    path: str, base_url: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> RawPage:
    """The page in `path`, its URL `base_url` or else its file:// URI; OSError if unreadable."""
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
        mtime = os.fstat(f.fileno()).st_mtime
    if len(raw) > max_bytes:
        raise HtmlFileError("payload_too_large", f"{path}: more than {max_bytes} bytes")
    # Decide by the bytes, not the name: saved pages are often misnamed either way.
    content = _gunzip(raw, path, max_bytes) if raw.startswith(_GZIP_MAGIC) else raw
    if len(content) > max_bytes:
        raise HtmlFileError("payload_too_large", f"{path}: more than {max_bytes} bytes")
    if not content.strip():
        raise HtmlFileError("empty_payload", f"{path}: no content")
    return RawPage(
        url=base_url or Path(path).resolve().as_uri(),
        content=content,
        content_type="",
        fetch_time=datetime.fromtimestamp(mtime, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source=path,
    )


def _gunzip(raw: bytes, path: str, max_bytes: int) -> bytes:
    """Decompress a whole .gz file under the size cap; HtmlFileError(corrupt_gzip) if it is bad."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as g:
            return g.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        # BadGzipFile is an OSError; EOFError means the file was cut short.
        raise HtmlFileError("corrupt_gzip", f"{path}: {type(exc).__name__}: {exc}") from exc
