"""Page URL lists for the scraper: text files, a CSV/Parquet column, sitemap.xml (index, gz).

Everything here is pure: readers take bytes or an open binary file and yield URL strings;
`normalise_url` makes equal URLs compare equal, so a list can be deduplicated and a
crawl ledger matched against it.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

import pyarrow.parquet as pq
from lxml import etree

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # sitemaps.org: at most 50 MB (uncompressed) per file
MAX_SITEMAP_DEPTH = 3  # an index of indexes is already unusual; cycles must end


class UrlSourceError(ValueError):
    """A URL list that cannot be read; `reason` is a counter name, `detail` the value."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def normalise_url(url: str) -> str | None:
    """Canonical http(s) URL (lower-case scheme/host, no default port or fragment); None if not."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a bad port or IPv6 bracket
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username or parts.password:  # credentials in a list URL are a leak, never a page
        return None
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def host_key(url: str) -> str:
    """The politeness unit of a normalised URL: its host and port."""
    return urlsplit(url).netloc


def dedupe_urls(urls: Iterable[str]) -> tuple[list[str], list[str]]:
    """(unique normalised URLs in first-seen order, the inputs that are not http(s) URLs)."""
    seen: dict[str, None] = {}
    invalid = []
    for url in urls:
        norm = normalise_url(url)
        if norm is None:
            invalid.append(url)
        else:
            seen.setdefault(norm, None)
    return list(seen), invalid


def iter_text_urls(data: bytes) -> Iterator[str]:
    """One URL per line; blank lines and `#` comments skipped."""
    for line in data.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def iter_csv_urls(data: bytes, column: str) -> Iterator[str]:
    """The `column` of a CSV/TSV file with a header row (delimiter sniffed)."""
    text = data.decode("utf-8-sig", errors="replace")
    delimiter = (
        "\t" if text.split("\n", 1)[0].count("\t") > text.split("\n", 1)[0].count(",") else ","
    )
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if column not in (reader.fieldnames or []):
        raise UrlSourceError("missing_column", f"{column!r} not in {reader.fieldnames}")
    for row in reader:
        value = (row.get(column) or "").strip()
        if value:
            yield value


def iter_parquet_urls(f: BinaryIO, column: str) -> Iterator[str]:
    """The string `column` of a Parquet file, read one row group at a time."""
    pf = pq.ParquetFile(f)
    if column not in pf.schema_arrow.names:
        raise UrlSourceError("missing_column", f"{column!r} not in {pf.schema_arrow.names}")
    for i in range(pf.num_row_groups):
        for value in pf.read_row_group(i, columns=[column]).column(0).to_pylist():
            if isinstance(value, str) and value.strip():
                yield value.strip()


def parse_sitemap(data: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of a sitemap or sitemap index, gzip or not."""
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(MAX_SITEMAP_BYTES + 1)
        # Cut off in transfer, or not gzip after all: gzip raises all three.
        except (OSError, EOFError, zlib.error) as e:
            raise UrlSourceError("bad_gzip", f"{type(e).__name__}: {e}") from None
    if len(data) > MAX_SITEMAP_BYTES:
        raise UrlSourceError("sitemap_too_large", f"more than {MAX_SITEMAP_BYTES} bytes")
    # No entities, no network: a sitemap is untrusted input (XXE, billion laughs).
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise UrlSourceError("bad_sitemap", str(err)) from err
    if root is None:
        raise UrlSourceError("bad_sitemap", "no XML element")
    tag = etree.QName(root).localname
    locs = [
        (el.text or "").strip()
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "loc"
    ]
    locs = [loc for loc in locs if loc]
    if tag == "sitemapindex":
        return [], locs
    if tag == "urlset":
        return locs, []
    raise UrlSourceError("bad_sitemap", f"root element <{tag}>")


def expand_sitemap(
    data: bytes, load: Callable[[str], bytes], depth: int = MAX_SITEMAP_DEPTH
) -> Iterator[str]:
    """Page URLs of a sitemap, following an index's children through `load(url) -> bytes`."""
    pages, children = parse_sitemap(data)
    yield from pages
    if children and depth <= 0:
        raise UrlSourceError("sitemap_too_deep", f"{len(children)} children below the last level")
    for child in children:
        yield from expand_sitemap(load(child), load, depth - 1)


def source_kind(path: str) -> str:
    """The kind of a URL list from its name: txt, csv, tsv, parquet or sitemap."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(".xml"):
        return "sitemap"
    for kind in ("csv", "tsv", "parquet"):
        if name.endswith("." + kind):
            return "csv" if kind == "tsv" else kind
    return "txt"


def urls_from_bytes(
    data: bytes, kind: str, column: str = "url", load: Callable[[str], bytes] | None = None
) -> list[str]:
    """Every URL string of one list file (gzip undone), in file order; not yet normalised."""
    if kind == "sitemap":
        return list(expand_sitemap(data, load or _no_children))
    if data[:2] == b"\x1f\x8b" and kind != "parquet":
        data = gzip.decompress(data)
    if kind == "parquet":
        return list(iter_parquet_urls(io.BytesIO(data), column))
    if kind == "csv":
        return list(iter_csv_urls(data, column))
    return list(iter_text_urls(data))


def _no_children(url: str) -> bytes:
    raise UrlSourceError("sitemap_child_unreadable", f"no loader for child sitemap {url}")
