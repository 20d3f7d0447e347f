"""The sample crawl's pages and images: markup cases, charsets, snippets, image statuses."""

from __future__ import annotations

import html
import io
import re
from urllib.parse import urljoin

import numpy as np
import pytest
from lxml import html as lxml_html
from PIL import Image

from curation.sample_crawl import mirror_path, sample_texts
from curation.sample_images import png_declared_size
from curation.sample_manifest import KEPT, PageExpectation, SampleManifest
from curation.sample_plan import plan_crawl
from tests.fixtures.sample_crawl import Rec, responses, sample_crawl, warc

__all__ = ["responses", "sample_crawl", "warc"]  # the fixtures

_URL_ATTR = re.compile(
    r'\b(src|srcset|data-src|data-srcset|data-lazy-src|data-original|href)="([^"]*)"'
)


def _text(page: PageExpectation, responses: dict[str, Rec]) -> str:
    return responses[page.url].payload.decode(page.charset)


def _kept(manifest: SampleManifest) -> list[PageExpectation]:
    return [p for p in manifest.pages if p.expect == KEPT]


def _url_tokens(markup: str) -> list[tuple[int, str]]:
    """(position, URL as written) of every URL in src/srcset-like attributes."""
    tokens = []
    for m in _URL_ATTR.finditer(markup):
        value = html.unescape(m.group(2))
        if m.group(1).endswith("srcset"):
            for candidate in value.split(","):
                tokens.append((m.start(2), candidate.split()[0]))
        else:
            tokens.append((m.start(2), value))
    return tokens


def test_content_images_resolve_from_the_markup_in_dom_order(sample_crawl, responses) -> None:
    checked = 0
    for page in _kept(sample_crawl):
        markup = _text(page, responses)
        base = re.search(r'<base href="([^"]+)"', markup)
        tokens = _url_tokens(markup)
        positions = []
        for image in page.content_images:
            # The first reference that resolves to the image: how an extractor finds it.
            hits = [
                pos
                for pos, ref in tokens
                if urljoin(base[1] if base else page.url, ref) == image.url
            ]
            assert hits, f"{image.url} is not referenced by {page.url}"
            positions.append(hits[0])
            checked += 1
            if image.alt:
                assert f'alt="{html.escape(image.alt)}"' in markup
        assert positions == sorted(positions), page.url
    assert checked > 80


def test_markup_has_every_required_case(sample_crawl, responses) -> None:
    pages = {p.url: _text(p, responses) for p in sample_crawl.pages if p.language}
    trees = {url: lxml_html.fromstring(text) for url, text in pages.items()}

    def count(xpath: str) -> int:
        return sum(len(tree.xpath(xpath)) for tree in trees.values())

    assert count('//img[@data-src and starts-with(@src, "data:")]') >= 2  # lazy placeholders
    assert count("//img[@data-srcset]") >= 6
    assert count("//img[@data-lazy-src]") >= 1 and count("//img[@data-original]") >= 1
    assert count('//img[contains(@srcset, " 2x")]') >= 1
    assert count("//picture/source[@srcset]") >= 1
    assert count("//base[@href]") == 1
    assert count('//img[starts-with(@src, "../")]') >= 4  # relative to the page
    assert count('//img[starts-with(@src, "//")]') >= 1  # protocol-relative
    assert count('//img[contains(@src, ".svg")]') >= 30  # logos and icons
    assert count('//div[contains(@class, "advertisement")]//img') >= 10
    assert count('//*[@id="comments"]//li[@class="comment"]') >= 30
    assert count("//nav") >= 30 and count("//footer") >= 30
    assert count("//aside") >= 5
    assert count("//table") >= 6 and count('//table[@class="wikitable"]') == 6
    assert count("//noscript") >= 5
    pixels = [u for u, t in pages.items() if re.search(r'p\.gif\?[^"]*" width="1" height="1"', t)]
    assert len(pixels) == len(pages) - 2  # all but the bare cookie-wall and 404 pages
    assert any("<!-- old banner" in t for t in pages.values())  # an <img> in an HTML comment


def test_charsets_are_declared_where_the_manifest_says(sample_crawl, responses) -> None:
    declared = {}
    for page in sample_crawl.pages:
        if not page.language:
            continue
        record = responses[page.url]
        head = record.payload[:600].lower()
        in_header = "charset=" in record.content_type.lower()
        in_meta = b"charset=" in head
        declared[page.url] = {(True, True): "both", (True, False): "header"}.get(
            (in_header, in_meta), "meta" if in_meta else "none"
        )
        assert declared[page.url] == page.charset_declared, page.url
        if page.charset != "utf-8":
            with pytest.raises(UnicodeDecodeError):
                record.payload.decode("utf-8")
    non_utf8 = {(p.charset, p.charset_declared) for p in sample_crawl.pages}
    non_utf8 -= {("utf-8", "both"), ("", "both")}
    assert non_utf8 == {
        ("iso-8859-1", "meta"),
        ("shift_jis", "meta"),
        ("windows-1252", "header"),
        ("windows-1252", "none"),
    }
    assert {"header", "meta", "none"} <= set(declared.values())


def test_snippets_are_in_the_page_and_in_the_right_place(sample_crawl, responses) -> None:
    prose = {p.expectation.url: "\n".join(p.prose) for p in plan_crawl(0).pages}
    for page in _kept(sample_crawl):
        text = html.unescape(_text(page, responses))
        for snippet in page.main_text_snippets:
            assert snippet in text and snippet in prose[page.url], snippet
        for snippet in page.boilerplate_snippets:
            assert snippet in text, snippet
            assert snippet not in prose[page.url], snippet


def test_sample_texts_are_the_kept_pages_prose(sample_crawl) -> None:
    texts = list(sample_texts(seed=0))
    kept = _kept(sample_crawl)
    assert len(texts) == len(kept)
    for page, text in zip(kept, texts, strict=True):
        assert all(s in text for s in page.main_text_snippets)
    joined = "\n".join(texts)
    assert "Fahrkarte" in joined or "Moor" in joined
    assert "œufs" in joined and "ñ" in joined and "の" in joined
    assert "lorem" not in joined.lower() and "cookie" not in joined.lower()


def _image_bytes(
    manifest: SampleManifest, responses: dict[str, Rec], url: str, where: str
) -> bytes:
    if where == "mirror":
        return mirror_path(manifest.mirror_dir, url).read_bytes()
    return responses[url].payload


def test_image_bytes_match_their_expected_status(sample_crawl, responses) -> None:
    seen = set()
    for page in sample_crawl.pages:
        for image in page.content_images:
            if image.where == "missing" or image.url in seen:
                continue
            seen.add(image.url)
            data = _image_bytes(sample_crawl, responses, image.url, image.where)
            if image.status == "bomb":
                width, height = png_declared_size(data)
                assert width * height > 100_000_000 and len(data) < 200_000
                with pytest.raises(Image.DecompressionBombError):
                    Image.open(io.BytesIO(data))
                continue
            img = Image.open(io.BytesIO(data))
            if image.status == "corrupt":
                with pytest.raises(OSError):
                    img.load()
                continue
            img.load()
            short, long = sorted(img.size)
            assert (short < 150) == (image.status == "too_small"), image.url
            assert (long > 3 * short) == (image.status == "aspect"), image.url
            if image.status == "ok":
                assert short >= 200 and long <= 900
    assert len(seen) > 90


def _average_hash(data: bytes) -> int:
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L").resize((8, 8)), dtype=np.float32)
    return int("".join("1" if v else "0" for v in (grey > grey.mean()).ravel()), 2)


def test_images_are_distinct_pictures(sample_crawl, responses) -> None:
    hashes, spreads = [], []
    for image in {c.url: c for p in sample_crawl.pages for c in p.content_images}.values():
        if image.survives:
            data = _image_bytes(sample_crawl, responses, image.url, image.where)
            hashes.append(_average_hash(data))
            spreads.append(float(np.asarray(Image.open(io.BytesIO(data)).convert("L")).std()))
    assert len(set(hashes)) >= 0.95 * len(hashes)
    assert min(spreads) > 10  # not flat fills: gradients and shapes


def test_served_image_types_match_the_bytes(sample_crawl, responses) -> None:
    magic = {"image/jpeg": b"\xff\xd8", "image/png": b"\x89PNG", "image/webp": b"RIFF"}
    sniffed = 0
    for url, record in responses.items():
        if record.content_type in magic:
            assert record.payload.startswith(magic[record.content_type]), url
        if record.content_type == "application/octet-stream":
            assert record.payload[8:12] == b"WEBP"
            sniffed += 1
    assert sniffed == 1
