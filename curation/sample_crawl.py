"""The bundled sample crawl: a small, realistic, deterministic WARC for the demo and the tests.

`make_sample_crawl(out_dir, seed)` writes

    out_dir/sample.warc.gz   one gzip member per record: a warcinfo record; for every page
                             and image a request then its response; a metadata record; a
                             damaged gzip member (good records follow it); a revisit record
    out_dir/mirror/<host>/<path>   the content images that are not in the WARC, laid out
                             as `wget --mirror` would (no query strings are used)
    out_dir/manifest.json    what each page is and what curation should make of it

About forty pages on six fictional sites under the reserved `.example` TLD (news, blog,
recipe, forum, product and wiki layouts; English, French, German, Spanish, Japanese),
with navigation, footers, ads, comments, tracking pixels, icons, lazy-loaded, `srcset`
and `<picture>` images, relative URLs and a `<base href>`, pages in windows-1252,
ISO-8859-1 and Shift_JIS, a page without images, a cookie wall and a lorem-ipsum page,
a CSS file, a PDF, an HTTP 404, a truncated JPEG, a too-small image, a strip with an
extreme aspect ratio, a decompression-bomb PNG, and two images on an unresolvable
`.invalid` host.

The pieces: sample_pages.py (the page table: every case above is a row), sample_plan.py
(renders rows to bytes and manifest entries), sample_layouts.py and sample_chrome.py (the
HTML), sample_text.py with sample_banks*.py (the prose), sample_images.py (the pictures
and the bad files), sample_manifest.py (the manifest types and their JSON).

Same seed, same bytes (on one installation: zlib, libjpeg and libwebp builds may encode
differently): every date and record id is derived from the seed and the record's
position, every random choice from a seeded generator. Files already in `out_dir` under
the same names are overwritten; others are left alone.
"""

from __future__ import annotations

import io
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curation.sample_manifest import (
    KEPT,
    MALFORMED_RECORD,
    SKIPPED_REVISIT,
    OtherRecord,
    PageExpectation,
    SampleManifest,
)
from curation.sample_pages import CORRUPT_AFTER, CORRUPT_URL
from curation.sample_plan import ImageAsset, PagePlan, decoy_payload, plan_crawl

WARC_NAME = "sample.warc.gz"
MIRROR_NAME = "mirror"
MANIFEST_NAME = "manifest.json"
# All records are dated from here, a few seconds apart, so the WARC never depends on the clock.
CRAWL_START = datetime(2024, 3, 18, 6, 0, 0, tzinfo=timezone.utc)
USER_AGENT = "interleaf-sample-crawler/1.0"
HTTP_REASONS = {200: "OK", 404: "Not Found"}


class SampleCrawlError(RuntimeError):
    """The generator could not produce what it promises (a bug, not bad input)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _WarcOut:
    """A WARC writer with deterministic record ids and dates, counting records by type."""

    def __init__(self, stream: io.BufferedIOBase, seed: int) -> None:
        self.stream = stream
        self.writer = WARCWriter(stream, gzip=True)
        self.seed = seed
        self.n = 0
        self.counts: Counter[str] = Counter()

    def next_headers(self, rtype: str, url: str) -> dict[str, str]:
        """WARC-Record-ID and WARC-Date for the next record (warcio keeps the ones it is
        given in `warc_headers_dict` instead of drawing a uuid4 and reading the clock)."""
        self.n += 1
        name = f"interleaf-sample/{self.seed}/{self.n}/{rtype}/{url}"
        date = CRAWL_START + timedelta(seconds=3 * self.n)
        return {
            "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}>",
            "WARC-Date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def write(self, record: Any) -> int:  # warcio's ArcWarcRecord
        """Append one record as its own gzip member; its byte offset."""
        offset = self.stream.tell()
        self.writer.write_record(record)
        self.counts[record.rec_type] += 1
        return offset

    def warcinfo(self) -> None:
        """The record that describes the file (always first)."""
        fields = (
            f"software: interleaf sample generator\r\nformat: WARC File Format 1.0\r\n"
            f"description: deterministic sample crawl, seed {self.seed}\r\n"
            f"robots: ignore (fictional .example sites)\r\n"
        ).encode()
        headers = {**self.next_headers("warcinfo", ""), "WARC-Filename": WARC_NAME}
        self.write(
            self.writer.create_warc_record(
                "",
                "warcinfo",
                payload=io.BytesIO(fields),
                length=len(fields),
                warc_content_type="application/warc-fields",
                warc_headers_dict=headers,
            )
        )

    def exchange(self, url: str, status: int, content_type: str, body: bytes) -> tuple[int, Any]:
        """A GET request record then its response; (response offset, response record)."""
        parts = urlsplit(url)
        request_ids, response_ids = (
            self.next_headers("request", url),
            self.next_headers("response", url),
        )
        request_ids["WARC-Concurrent-To"] = response_ids["WARC-Record-ID"]
        request = StatusAndHeaders(
            f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            [("Host", parts.netloc), ("User-Agent", USER_AGENT), ("Accept", "*/*")],
            is_http_request=True,
        )
        self.write(
            self.writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=request,
                warc_headers_dict=request_ids,
            )
        )
        date = datetime.strptime(response_ids["WARC-Date"], "%Y-%m-%dT%H:%M:%SZ")
        http = StatusAndHeaders(
            f"{status} {HTTP_REASONS[status]}",
            [
                ("Date", format_datetime(date.replace(tzinfo=timezone.utc), usegmt=True)),
                ("Server", "nginx"),
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
            ],
            protocol="HTTP/1.1",
        )
        response = self.writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict=response_ids,
        )
        return self.write(response), response

    def metadata(self, url: str, concurrent_to: str, outlinks: list[str]) -> None:
        """A crawler's metadata record about a response: the embeds it found (Heritrix style)."""
        fields = "".join(f"outlink: {link} E =EMBED_MISC\r\n" for link in outlinks).encode()
        headers = {**self.next_headers("metadata", url), "WARC-Concurrent-To": concurrent_to}
        self.write(
            self.writer.create_warc_record(
                url,
                "metadata",
                payload=io.BytesIO(fields),
                length=len(fields),
                warc_content_type="application/warc-fields",
                warc_headers_dict=headers,
            )
        )

    def revisit(self, original: Any) -> int:
        """A later fetch of the `original` response's URL with an identical payload."""
        url = original.rec_headers.get_header("WARC-Target-URI")
        http = original.http_headers
        record = self.writer.create_revisit_record(
            url,
            digest=original.rec_headers.get_header("WARC-Payload-Digest"),
            refers_to_uri=url,
            refers_to_date=original.rec_headers.get_header("WARC-Date"),
            http_headers=StatusAndHeaders(http.statusline, list(http.headers), "HTTP/1.1"),
            warc_headers_dict=self.next_headers("revisit", url),
        )
        return self.write(record)

    def damaged(self, url: str, body: bytes) -> int:
        """A good request record, then its response in a damaged gzip member; the offset."""
        scratch = io.BytesIO()
        side = _WarcOut(scratch, self.seed)
        side.n = self.n
        side.exchange(url, 200, "text/html; charset=utf-8", body)
        self.n = side.n
        data = scratch.getvalue()
        split = _first_member_end(data)
        self.stream.write(data[:split])
        self.counts["request"] += 1
        member = bytearray(data[split:])
        # Flip the bytes right after the 10-byte gzip header: the deflate block header and
        # Huffman tables live there, so zlib fails at once instead of inflating garbage.
        for i in range(10, 42):
            member[i] ^= 0xA5
        if _inflates(bytes(member)):
            raise SampleCrawlError("undamaged_member", f"flipped member of {url} still inflates")
        offset = self.stream.tell()
        self.stream.write(bytes(member))
        return offset


def _first_member_end(data: bytes) -> int:
    """Where the first gzip member of `data` ends."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    inflater.decompress(data)
    return len(data) - len(inflater.unused_data)


def _inflates(member: bytes) -> bool:
    try:
        zlib.decompress(member, zlib.MAX_WBITS | 16)
    except zlib.error:
        return False
    return True


def mirror_path(mirror_dir: Path, url: str) -> Path:
    """Where `wget --mirror` puts `url` (no query strings are used in the sample)."""
    parts = urlsplit(url)
    return mirror_dir / parts.netloc / parts.path.lstrip("/")


def _write_images(
    out: _WarcOut, page: PagePlan, images: dict[str, ImageAsset], done: set[str], mirror: Path
) -> None:
    """The page's content images (into the WARC or the mirror) and decoys, first use only."""
    for entry in page.expectation.content_images:
        asset = images[entry.url]
        if asset.url in done or asset.where == "missing":
            continue
        done.add(asset.url)
        payload = asset.payload(out.seed)
        if asset.where == "mirror":
            path = mirror_path(mirror, asset.url)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
        else:
            out.exchange(asset.url, 200, asset.content_type, payload)
    for url in page.expectation.decoy_images:
        fetched = decoy_payload(url, out.seed)
        if url not in done and fetched is not None:
            done.add(url)
            out.exchange(url, 200, fetched[1], fetched[0])


def make_sample_crawl(out_dir: str | Path, seed: int = 0) -> SampleManifest:
    """Write the sample WARC, image mirror and manifest.json into `out_dir`; the manifest."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    mirror = root / MIRROR_NAME
    plan = plan_crawl(seed)
    pages: list[PageExpectation] = []
    others: list[OtherRecord] = []
    done: set[str] = set()
    first: Any = None  # the first page's response record, which the revisit refers to
    with open(root / WARC_NAME, "wb") as stream:
        out = _WarcOut(stream, seed)
        out.warcinfo()
        for i, page in enumerate(plan.pages):
            if i == CORRUPT_AFTER:
                offset = out.damaged(CORRUPT_URL, plan.pages[0].body)
                others.append(OtherRecord("corrupt", CORRUPT_URL, offset, MALFORMED_RECORD))
            exp = page.expectation
            offset, response = out.exchange(exp.url, page.http_status, page.content_type, page.body)
            if i == 0:
                first = response
                record_id = response.rec_headers.get_header("WARC-Record-ID")
                out.metadata(exp.url, record_id, [c.url for c in exp.content_images])
            pages.append(replace(exp, warc_offset=offset))
            _write_images(out, page, plan.images, done, mirror)
        offset = out.revisit(first)
        others.append(OtherRecord("revisit", pages[0].url, offset, SKIPPED_REVISIT))
    manifest = SampleManifest(
        seed,
        WARC_NAME,
        MIRROR_NAME,
        tuple(pages),
        tuple(others),
        dict(sorted(out.counts.items())),
        root=str(root),
    )
    (root / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def sample_texts(seed: int = 0) -> Iterator[str]:
    """The title and prose of every page the pipeline should keep (tokenizer training text)."""
    for page in plan_crawl(seed).pages:
        if page.expectation.expect == KEPT:
            yield "\n\n".join(page.prose)
