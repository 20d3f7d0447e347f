"""HTML page → interleaved Document: main content as text blocks and images in DOM order."""

from __future__ import annotations

import re
import threading
from codecs import BOM_UTF8
from dataclasses import dataclass, field

from lxml import etree

from curation import boilerplate
from curation.boilerplate import BLOCK_TAGS, BoilerplateConfig
from curation.charset import decode_html
from curation.image_refs import (
    LAZY_SRC_ATTRS,
    LAZY_SRCSET_ATTRS,
    ImageRefConfig,
    absolute_url,
    declared_size,
    is_junk_image,
    is_placeholder,
    resolve_image_src,
)
from curation.main_content import find_content
from schemas.records import Document, ImageNode, Node, RawPage, TextNode, make_doc_id

# Markers inside a block's raw text until normalisation: a <br> (source newlines are mere
# whitespace outside <pre>) and a table-cell boundary.
_BREAK = "\x1e"
_CELL = "\x1f"
_IMAGE_TAGS = frozenset(("img", "amp-img"))
_IMAGE_SOURCE_ATTRS = ("src", "srcset", *LAZY_SRC_ATTRS, *LAZY_SRCSET_ATTRS)
_NOT_HTML_TYPES = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip")
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f]")


@dataclass(frozen=True)
class ExtractConfig:
    """How a page becomes a Document."""

    boilerplate: BoilerplateConfig = field(default_factory=BoilerplateConfig)
    images: ImageRefConfig = field(default_factory=ImageRefConfig)
    # trafilatura's MAX_FILE_SIZE is 20 MB; pages past 5 MB are dumps, not articles, and
    # parsing them would stall a worker, so only their start is kept.
    max_html_bytes: int = 5_000_000
    # Binary payloads mislabelled text/html decode to many C0 controls; real HTML has ~0.
    max_control_fraction: float = 0.05
    # Retry with less aggressive cleaning (Readability.js's flags) when the first pass keeps
    # fewer than BoilerplateConfig.min_text_chars; False keeps the first pass always.
    retry_short: bool = True


class ExtractionError(Exception):
    """A page that yields no Document; `reason` is the Beam counter / rejection reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


_LOCAL = threading.local()


def _parser() -> etree.HTMLParser:
    """This thread's parser: an lxml parser must not be used by two threads at once (Beam
    runs DoFns on a thread pool)."""
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        # huge_tree lifts libxml2's nesting limit from 256 to ~2048 levels: old forum pages
        # never close their <div>s or <font>s, and everything past the limit would be lost.
        parser = _LOCAL.parser = etree.HTMLParser(
            remove_comments=True,
            remove_pis=True,
            no_network=True,
            encoding="utf-8",
            default_doctype=False,
            huge_tree=True,
            # No code here looks elements up by id: skip libxml2's id hash table.
            collect_ids=False,
        )
    return parser


def to_utf8(html: str) -> bytes:
    """The bytes lxml is fed: UTF-8 (lxml refuses str carrying an XML encoding declaration;
    lone surrogates cannot be encoded strictly)."""
    return html.encode("utf-8", errors="replace")


def check_payload(data: bytes, cfg: ExtractConfig = ExtractConfig()) -> bytes:
    """The part of a UTF-8 payload to parse; ExtractionError if it is empty or not HTML."""
    if not data or data.isspace():
        raise ExtractionError("empty_page", "no bytes or only whitespace")
    data = data[: cfg.max_html_bytes]
    if b"<" not in data:
        raise ExtractionError("not_html", f"no markup in {len(data)} bytes")
    sample = data[:20000]
    if len(_CONTROL.findall(sample)) > cfg.max_control_fraction * len(sample):
        raise ExtractionError("not_html", "binary payload (control characters)")
    return data


def parse_html(html: str | bytes, cfg: ExtractConfig = ExtractConfig()) -> etree._Element:
    """Parse (possibly broken) HTML, str or valid UTF-8 bytes, into an lxml tree."""
    data = check_payload(html if isinstance(html, bytes) else to_utf8(html), cfg)
    return _parse(data)


def _parse(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser())
    except etree.ParserError as e:  # libxml2 found no element at all
        raise ExtractionError("parse_error", str(e)[:200]) from e
    if root is None:
        raise ExtractionError("parse_error", "no root element")
    return root


def base_url_of(root: etree._Element, url: str) -> str:
    """The URL relative references resolve against: <base href> (itself resolved) or url."""
    for base in root.iter("base"):
        href = base.get("href")
        if href:
            resolved = absolute_url(href, url)
            if resolved is not None:
                return resolved
    return url


def _has_real_source(img: etree._Element) -> bool:
    return any(
        (value := img.get(attr)) and not is_placeholder(value) for attr in _IMAGE_SOURCE_ATTRS
    )


def unwrap_noscript_images(root: etree._Element) -> None:
    """Put the image of a <noscript> fallback in place of the source-less lazy <img> just
    before it (Medium and many lazy-load plugins), as Readability.js does."""
    for noscript in list(root.iter("noscript")):
        images = list(noscript.iter("img"))
        prev = noscript.getprevious()
        if len(images) != 1 or prev is None or prev.tag != "img" or _has_real_source(prev):
            continue
        image = images[0]
        image.tail = prev.tail
        prev.getparent().replace(prev, image)


def _normalise_block(raw: str, pre: bool) -> str:
    """A block's joined text pieces: whitespace collapsed per line, cells joined by ' | '."""
    if pre:
        lines = [line.rstrip() for line in raw.replace(_BREAK, "\n").split("\n")]
        return "\n".join(lines).strip("\n").replace(_CELL, " | ")
    if _BREAK not in raw and _CELL not in raw:
        return " ".join(raw.split())
    lines = []
    for line in raw.split(_BREAK):
        cells = [" ".join(c.split()) for c in line.split(_CELL)]
        text = " | ".join(c for c in cells if c)
        if text:
            lines.append(text)
    return "\n".join(lines)


class _Walker:
    """Collects text blocks and images of content elements in document order."""

    def __init__(self, base_url: str, cfg: ImageRefConfig, bcfg: BoilerplateConfig) -> None:
        self.base_url = base_url
        self.cfg = cfg
        self.bcfg = bcfg
        self.nodes: list[Node] = []
        self.seen: set[str] = set()
        self.parts: list[str] = []
        self.pre_depth = 0

    def flush(self) -> None:
        raw = "".join(self.parts)
        self.parts.clear()  # cleared in place: walk() holds a reference to the list
        if not raw or raw.isspace():
            return  # most flushes: the indentation between two blocks
        text = _normalise_block(raw, self.pre_depth > 0)
        if text and (self.pre_depth or not boilerplate.is_boilerplate_line(text, self.bcfg)):
            self.nodes.append(TextNode(text))

    def image(self, el: etree._Element) -> None:
        sources: list[str] = []
        # libxml2 does not know <source> is void, so the <img> may sit inside one.
        picture = next(el.iterancestors("picture", "figure", "p", "div"), None)
        if picture is not None and picture.tag == "picture":
            for src in picture.iter("source"):
                if "svg" not in src.get("type", ""):
                    sources += [src.get("srcset", ""), src.get("data-srcset", "")]
        attrs = dict(el.attrib)
        url = resolve_image_src(attrs, self.base_url, [s for s in sources if s])
        if url is None or (self.cfg.dedupe and url in self.seen):
            return
        width, height = declared_size(attrs)
        if is_junk_image(url, width, height, self.cfg) is not None:
            return
        self.seen.add(url)
        self.flush()
        alt = " ".join(attrs.get("alt", "").split())
        self.nodes.append(ImageNode(src=url, alt=alt, width=width, height=height))

    def walk(self, root: etree._Element) -> None:
        parts, flush = self.parts, self.flush  # hot loop: ~1000 events per page
        for event, el in etree.iterwalk(root, events=("start", "end")):
            tag = el.tag
            if not isinstance(tag, str):
                continue
            if event == "start":
                if tag in BLOCK_TAGS:
                    if parts:
                        flush()
                    if tag == "pre":
                        self.pre_depth += 1
                elif tag == "br":
                    parts.append(_BREAK)
                elif tag == "td" or tag == "th":
                    parts.append(_CELL)
                elif tag in _IMAGE_TAGS:
                    self.image(el)
                text = el.text
                if text:
                    parts.append(text)
            else:
                if tag in BLOCK_TAGS:
                    if parts:
                        flush()
                    if tag == "pre":
                        self.pre_depth -= 1
                tail = el.tail
                if tail and el is not root:
                    parts.append(tail)
        self.flush()


# Readability.js retries with these flags off, in this order, when too little text is left:
# (drop unlikely regions, weigh class/id hints, prune boilerplate containers).
_ATTEMPTS = ((True, True, True), (False, True, True), (False, False, True), (False, False, False))


def _content_nodes(
    root: etree._Element,
    base_url: str,
    article_bodies: list[etree._Element],
    flags: tuple[bool, bool, bool],
    cfg: ExtractConfig,
) -> list[Node]:
    """One extraction pass over a chrome-stripped tree with the given cleaning flags."""
    _, weigh_hints, prune = flags
    bcfg = cfg.boilerplate
    content = find_content(root, bcfg, weigh_hints, article_bodies)
    for el in content:
        if prune:
            boilerplate.clean_conditionally(el, bcfg, weigh_hints)
        if weigh_hints:
            boilerplate.clean_headings(el, bcfg)
    walker = _Walker(base_url, cfg.images, bcfg)
    for el in content:
        walker.walk(el)
    return walker.nodes


def _text_chars(nodes: list[Node]) -> int:
    return sum(len(n.text) for n in nodes if isinstance(n, TextNode))


def extract_nodes(html: str | bytes, url: str, cfg: ExtractConfig = ExtractConfig()) -> list[Node]:
    """The main content of a page (str, or valid UTF-8 bytes) as text and images in order."""
    data = check_payload(html if isinstance(html, bytes) else to_utf8(html), cfg)
    best: list[Node] = []
    for attempt, flags in enumerate(_ATTEMPTS):
        root = _parse(data)
        base_url = base_url_of(root, url)
        unwrap_noscript_images(root)
        article_bodies = boilerplate.strip_chrome(root, unlikely=flags[0])
        # A short page stays short: retrying would only add the chrome we removed.
        if attempt == 1 and boilerplate.text_length(root) < cfg.boilerplate.min_text_chars:
            break
        nodes = _content_nodes(root, base_url, article_bodies, flags, cfg)
        if _text_chars(nodes) >= cfg.boilerplate.min_text_chars:
            return nodes
        if _text_chars(nodes) > _text_chars(best) or not best:
            best = nodes
        if not cfg.retry_short:
            break
    return best


def extract_document(
    html: str | bytes,
    url: str,
    *,
    fetch_time: str = "",
    source: str = "",
    cfg: ExtractConfig = ExtractConfig(),
) -> Document:
    """Extract the Document of a decoded page (or valid UTF-8 bytes); ExtractionError if none."""
    nodes = extract_nodes(html, url, cfg)
    if not any(isinstance(n, TextNode) for n in nodes):
        raise ExtractionError("no_content", f"no text left after boilerplate removal ({url})")
    return Document(
        doc_id=make_doc_id(url, source),
        url=url,
        fetch_time=fetch_time,
        source=source,
        nodes=tuple(nodes),
    )


# Magic numbers of payloads that are never HTML, whatever the Content-Type says.
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"RIFF")


def page_to_document(page: RawPage, cfg: ExtractConfig = ExtractConfig()) -> Document:
    """Decode a RawPage (charset.py) and extract its Document; ExtractionError if none."""
    ctype = page.content_type.split(";", 1)[0].strip().lower()
    if ctype.startswith(_NOT_HTML_TYPES):
        raise ExtractionError("not_html", f"content type {ctype!r}")
    if page.content.startswith(_BINARY_MAGIC):
        raise ExtractionError("not_html", f"binary payload starting {page.content[:8]!r}")
    text, encoding = decode_html(page.content, page.content_type)
    payload: str | bytes = text
    # Valid UTF-8 as served is exactly what lxml is fed: skip re-encoding the text.
    if encoding == "utf-8" and "\ufffd" not in text and not page.content.startswith(BOM_UTF8):
        payload = page.content
    return extract_document(
        payload, page.url, fetch_time=page.fetch_time, source=page.source, cfg=cfg
    )
