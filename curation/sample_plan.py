"""Render the page table (sample_pages.py) into page bodies, image assets and the manifest.

The plan is a pure function of the seed: the prose, the figure positions and the image
sizes are drawn from seeded generators, never from the clock or hash().
"""

from __future__ import annotations

import html
import random
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from curation import sample_images as im
from curation.sample_chrome import LOCAL_FOOTERS, SITES, PageView, Site, url_ref
from curation.sample_layouts import LAYOUTS
from curation.sample_manifest import (
    BOILERPLATE,
    HTTP_STATUS,
    KEPT,
    LOREM_IPSUM,
    NOT_HTML,
    ContentImage,
    PageExpectation,
)
from curation.sample_pages import (
    DEFAULT_FORMS,
    IMAGE_DIRS,
    MISSING_ORIGIN,
    ROWS,
    TOPICS,
    Img,
    Row,
)
from curation.sample_text import (
    ALTS,
    COMMENTS,
    COOKIE_WALL,
    NOT_FOUND,
    compose_paragraphs,
    count_words,
    lorem_paragraphs,
    paragraph_text,
)

EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
# Sizes of the deliberately bad images (the image stage's defaults: min side 150 px,
# aspect ratio ≤ 3, Pillow's pixel cap).
BAD_SIZES = {"too_small": (120, 90), "aspect": (960, 180), "corrupt": (640, 480)}
COMMENTERS = ("marlin", "seaglass", "wanderer", "breadbaker", "k_ostrowski")
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
CSS = b"body{font:16px/1.5 Georgia,serif;margin:0}\n.site-header{background:#123}\n"


@dataclass(frozen=True)
class ImageAsset:
    """An image file of the crawl: a content image or a stored decoy."""

    url: str
    width: int
    height: int
    fmt: str
    status: str = "ok"
    where: str = "warc"
    content_type: str = ""

    def payload(self, seed: int) -> bytes:
        """The file's bytes (deterministic)."""
        key = f"{seed}|{self.url}"
        if self.status == "corrupt":
            return im.truncated_jpeg(key, self.width, self.height)
        if self.status == "bomb":
            return im.bomb_png()
        label = urlsplit(self.url).path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return im.scene_bytes(key, self.width, self.height, self.fmt, label)


@dataclass(frozen=True)
class PagePlan:
    """One HTTP response of the crawl and what curation should make of it."""

    expectation: PageExpectation
    body: bytes
    http_status: int
    content_type: str
    prose: tuple[str, ...]  # title and paragraphs (tokenizer training text)


@dataclass(frozen=True)
class CrawlPlan:
    pages: tuple[PagePlan, ...]
    images: dict[str, ImageAsset]  # content images by URL, in order of first use


def page_url(row: Row) -> str:
    """The page's absolute URL, non-ASCII path characters percent-encoded."""
    return SITES[row.site].origin + quote(row.path, safe="/()_-.~")


def slug(row: Row) -> str:
    """An ASCII file-name stem for the page's images (its last non-numeric path part)."""
    part = next(p for p in reversed(row.path.strip("/").split("/")) if not p.isdigit())
    ascii_part = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_part.lower()).strip("-")


def _image_dir(row: Row, img: Img) -> str:
    if img.where == "missing":
        return f"{MISSING_ORIGIN}/2024"
    base = SITES[row.site].image_origin + IMAGE_DIRS[row.site]
    if row.site == "spokes":  # attachments live under the thread id
        return f"{base}/{row.path.rstrip('/').rsplit('/', 1)[-1]}"
    if row.site == "lumen":
        return f"{base}/{slug(row)}"
    return base


def _size(seed: int, url: str, status: str, wide: bool) -> tuple[int, int]:
    """Pixel size of an image: fixed for the bad ones, drawn per URL otherwise."""
    if status in BAD_SIZES:
        return BAD_SIZES[status]
    if status == "bomb":
        return im.BOMB_SIDE, im.BOMB_SIDE
    rng = random.Random(f"{seed}|size|{url}")
    width = rng.randrange(640 if wide else 320, 901, 20)
    ratio = rng.choice((4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4, 2 / 3))
    return width, max(200, min(900, round(width / ratio)))


class _Figures:
    """Builds a page's content-image markup and records the images and decoys it uses."""

    def __init__(self, row: Row, seed: int, images: dict[str, ImageAsset]) -> None:
        self.row, self.seed, self.images = row, seed, images
        self.base = row.base or page_url(row)
        self.decoys: list[str] = []
        self.lazy_seen = 0

    def ref(self, url: str, img: Img) -> str:
        """The escaped attribute value that refers to `url` in the image's URL form."""
        form = "abs" if img.where == "missing" else img.form or DEFAULT_FORMS[self.row.site]
        return html.escape(url_ref(url, self.base, form))

    def register(self, url: str, img: Img, wide: bool) -> ImageAsset:
        """The asset at `url`, created on first use (later pages share it)."""
        if url not in self.images:
            w, h = _size(self.seed, url, img.status, wide)
            ctype = img.content_type or im.CONTENT_TYPES[img.fmt]
            self.images[url] = ImageAsset(url, w, h, img.fmt, img.status, img.where, ctype)
        return self.images[url]

    def build(self, i: int, img: Img) -> tuple[str, ContentImage]:
        """(markup, manifest entry) of the page's i-th content image."""
        stem = f"{_image_dir(self.row, img)}/{img.name or f'{slug(self.row)}-{i + 1}'}"
        ext = EXTENSIONS[img.fmt]
        topic = (self.row.topic or TOPICS[self.row.site]).split("+")[0]
        raw_alt = ALTS[topic][i % len(ALTS[topic])] if self.row.lang == "en" else ""
        alt = html.escape(raw_alt)
        builder = getattr(self, f"_{img.markup}")
        tag, url, alternates = builder(stem, ext, img, alt)
        entry = ContentImage(url, img.where, img.status, img.markup, tuple(alternates), raw_alt)
        caption = f"<figcaption>{alt}.</figcaption>" if i == 0 and alt else ""
        if self.row.site == "spokes":
            return f'<div class="attachment">{tag}</div>', entry
        if self.row.site == "fernweh":
            return f'<p class="photo">{tag}</p>', entry
        return f'<figure class="image">{tag}{caption}</figure>', entry

    def _plain(self, stem: str, ext: str, img: Img, alt: str) -> tuple[str, str, list[str]]:
        asset = self.register(f"{stem}.{ext}", img, wide=False)
        size = "" if img.status != "ok" else f' width="{asset.width}" height="{asset.height}"'
        return f'<img src="{self.ref(asset.url, img)}" alt="{alt}"{size}>', asset.url, []

    def _srcset(self, stem: str, ext: str, img: Img, alt: str) -> tuple[str, str, list[str]]:
        asset = self.register(f"{stem}-large.{ext}", img, wide=True)
        small, medium = f"{stem}-small.{ext}", f"{stem}-medium.{ext}"
        w = asset.width
        # Candidates deliberately out of order: the largest is not the last.
        srcset = (
            f"{self.ref(small, img)} {w // 2}w, {self.ref(asset.url, img)} {w}w, "
            f"{self.ref(medium, img)} {w * 3 // 4}w"
        )
        tag = (
            f'<img src="{self.ref(small, img)}" srcset="{srcset}" '
            f'sizes="(max-width: 700px) 100vw, 700px" alt="{alt}">'
        )
        return tag, asset.url, [small, medium]

    def _xsrcset(self, stem: str, ext: str, img: Img, alt: str) -> tuple[str, str, list[str]]:
        asset = self.register(f"{stem}@2x.{ext}", img, wide=True)
        one_x = f"{stem}.{ext}"
        srcset = f"{self.ref(one_x, img)} 1x, {self.ref(asset.url, img)} 2x"
        return (
            f'<img src="{self.ref(one_x, img)}" srcset="{srcset}" alt="{alt}">',
            asset.url,
            [one_x],
        )

    def _lazy(self, stem: str, ext: str, img: Img, alt: str) -> tuple[str, str, list[str]]:
        asset = self.register(f"{stem}.{ext}", img, wide=False)
        ref = self.ref(asset.url, img)
        tag = f'<img src="{im.PIXEL_DATA_URI}" data-src="{ref}" class="lazyload" alt="{alt}">'
        self.lazy_seen += 1
        if self.lazy_seen == 1:  # the usual no-JavaScript fallback of lazy loaders
            tag += f'<noscript><img src="{ref}" alt="{alt}"></noscript>'
        return tag, asset.url, []

    def _lazy_srcset(self, stem: str, ext: str, img: Img, alt: str) -> tuple[str, str, list[str]]:
        asset = self.register(f"{stem}-large.{ext}", img, wide=True)
        small = f"{stem}-small.{ext}"
        placeholder = urljoin(self.base, "/static/img/placeholder.gif")
        self.decoys.append(placeholder)
        data_srcset = (
            f"{self.ref(small, img)} {asset.width // 2}w, {self.ref(asset.url, img)} {asset.width}w"
        )
        tag = (
            f'<img src="/static/img/placeholder.gif" data-srcset="{data_srcset}" '
            f'data-sizes="auto" class="lazyload" alt="{alt}">'
        )
        return tag, asset.url, [small]

    def _lazy_attr(self, stem: str, ext: str, img: Img, alt: str) -> tuple[str, str, list[str]]:
        asset = self.register(f"{stem}.{ext}", img, wide=False)
        attr = ("data-lazy-src", "data-original")[self.lazy_seen % 2]
        self.lazy_seen += 1
        ref = self.ref(asset.url, img)
        return f'<img src="{im.PIXEL_DATA_URI}" {attr}="{ref}" alt="{alt}">', asset.url, []

    def _picture(self, stem: str, ext: str, img: Img, alt: str) -> tuple[str, str, list[str]]:
        asset = self.register(f"{stem}-large.webp", img, wide=True)
        small_webp, small_jpg = f"{stem}-small.webp", f"{stem}-small.jpg"
        w, h = asset.width, asset.height
        tag = (
            f'<picture><source type="image/webp" srcset="{self.ref(small_webp, img)} {w // 2}w, '
            f'{self.ref(asset.url, img)} {w}w"><img src="{self.ref(small_jpg, img)}" alt="{alt}" '
            f'width="{w // 2}" height="{h // 2}"></picture>'
        )
        return tag, asset.url, [small_webp, small_jpg]


def _meta(row: Row) -> str:
    """The page's charset declaration in <head> ("" when only the header, or nothing, has it)."""
    if row.declared in ("header", "none"):
        return ""
    if row.charset == "iso-8859-1":  # the older http-equiv spelling
        return '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
    return f'<meta charset="{row.charset}">'


def _content_type(row: Row) -> str:
    if row.declared in ("both", "header"):
        return f"text/html; charset={row.charset}"
    return "text/html"


def _comments(row: Row, rng: random.Random) -> tuple[tuple[str, str], ...]:
    """Two or three reader comments (forum posts and wiki articles have none)."""
    if row.site in ("spokes", "atlas"):
        return ()
    bank = COMMENTS[row.lang]
    n = min(len(bank), rng.randint(2, 3))
    return tuple(zip(rng.sample(COMMENTERS, n), rng.sample(bank, n), strict=True))


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _asset_page(row: Row, body: bytes, content_type: str, layout: str) -> PagePlan:
    url = page_url(row)
    expectation = PageExpectation(url, row.site, layout, "", NOT_HTML, charset="")
    return PagePlan(expectation, body, 200, content_type, ())


def plan_page(row: Row, seed: int, rng: random.Random, images: dict[str, ImageAsset]) -> PagePlan:
    """Render one row: its HTML bytes, the images it uses, and its manifest entry."""
    if row.kind == "css":
        return _asset_page(row, CSS, "text/css", "asset")
    if row.kind == "pdf":
        return _asset_page(row, PDF, "application/pdf", "document")
    site: Site = SITES[row.site]
    figures = _Figures(row, seed, images)
    built = [figures.build(i, img) for i, img in enumerate(row.images)]
    layout, expect, status, main = site.layout, KEPT, 200, ()
    if row.kind == "content":
        topic = row.topic or TOPICS[row.site]
        n_words = rng.randint(*row.words)
        paragraphs = compose_paragraphs(rng, row.lang, topic, n_words, dict(row.slots))
        texts = tuple(paragraph_text(p, row.lang) for p in paragraphs)
        # First sentence, one from the middle, the last: all must survive extraction.
        picks = [paragraphs[0][0], paragraphs[len(paragraphs) // 2][-1], paragraphs[-1][-1]]
        main = _unique(picks)
    elif row.kind == "lorem":
        texts, expect = lorem_paragraphs(rng, 180), LOREM_IPSUM
    elif row.kind == "cookie_wall":
        texts, layout, expect = COOKIE_WALL, "wall", BOILERPLATE
    elif row.kind == "not_found":
        texts, layout, expect, status = NOT_FOUND, "wall", HTTP_STATUS, 404
    else:
        raise ValueError(f"unknown page kind {row.kind!r} for {row.path}")
    view = PageView(
        site,
        page_url(row),
        row.lang,
        row.title,
        texts,
        tuple(markup for markup, _ in built),
        _comments(row, rng) if row.kind == "content" else (),
        key=str(seed),
        base_href=row.base or None,
        meta=_meta(row),
        footer=LOCAL_FOOTERS.get((row.site, row.lang), ""),
        items=row.items,
    )
    rendered = LAYOUTS[layout](view)
    expectation = PageExpectation(
        view.url,
        row.site,
        layout,
        row.lang,
        expect,
        charset=row.charset,
        charset_declared=row.declared,
        word_count=sum(count_words(t) for t in texts) if row.kind == "content" else 0,
        content_images=tuple(entry for _, entry in built),
        decoy_images=_unique(rendered.decoys + figures.decoys),
        main_text_snippets=main,
        boilerplate_snippets=_unique(rendered.boilerplate),
    )
    body = rendered.html.encode(row.charset)  # strict: every character must be encodable
    return PagePlan(expectation, body, status, _content_type(row), (row.title, *texts))


def plan_crawl(seed: int) -> CrawlPlan:
    """Every page of the crawl, rendered, and every content image it refers to."""
    rng = random.Random(f"interleaf-sample|{seed}")
    images: dict[str, ImageAsset] = {}
    pages = tuple(plan_page(row, seed, rng, images) for row in ROWS)
    return CrawlPlan(pages, images)


def decoy_payload(url: str, seed: int) -> tuple[bytes, str] | None:
    """(bytes, content type) a crawler would have fetched for a decoy image URL, or None for
    the one no crawler fetches (an <img> inside an HTML comment)."""
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".svg"):
        return im.svg_icon(name), "image/svg+xml"
    if name.endswith(".gif"):
        return im.PIXEL_GIF, "image/gif"
    if "old-banner" in name:
        return None
    m = re.search(r"(\d+)x(\d+)", name)
    if m:
        size = int(m.group(1)), int(m.group(2))
    elif "/avatars/" in path:
        size = (64, 64)
    elif "/thumbs/" in path:
        size = (80, 80)
    else:
        size = (160, 160)  # sidebar portraits, "you may also like" tiles
    fmt = "png" if name.endswith(".png") else "jpeg"
    return im.scene_bytes(f"{seed}|decoy|{url}", *size, fmt), im.CONTENT_TYPES[fmt]
