"""HTML → interleaved Document: order, chrome removal, image references, charsets, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.html import (
    ExtractConfig,
    ExtractionError,
    extract_document,
    extract_nodes,
    page_to_document,
)
from curation.sample_plan import plan_crawl
from schemas.records import ImageNode, RawPage, TextNode, make_doc_id
from tests.fixtures.pages import (
    FOOTER,
    NAV,
    article_paragraphs,
    news_page,
    page,
    paragraph,
)

URL = "https://news.example/2024/story.html"


def texts(doc) -> list[str]:
    return [n.text for n in doc.nodes if isinstance(n, TextNode)]


def srcs(doc) -> list[str]:
    return [n.src for n in doc.images]


def article(*parts: str) -> str:
    """A page whose <article> holds the given markup between real paragraphs."""
    body = "".join(parts)
    return page(f"{NAV}<article><p>{paragraph('a')}</p>{body}<p>{paragraph('b')}</p></article>")


# --- order and blocks -------------------------------------------------------------------


def test_text_and_images_come_out_in_dom_order():
    figure = '<img src="/img/{}.jpg" width="640" height="480" alt="picture {}">'
    html = page(
        f"<article><p>{paragraph(1)}</p>{figure.format(1, 1)}<p>{paragraph(2)}</p>"
        f"{figure.format(2, 2)}{figure.format(3, 3)}<p>{paragraph(3)}</p></article>"
    )
    doc = extract_document(html, URL)
    kinds = ["img" if isinstance(n, ImageNode) else n.text[:20] for n in doc.nodes]
    assert kinds == [
        paragraph(1)[:20],
        "img",
        paragraph(2)[:20],
        "img",
        "img",
        paragraph(3)[:20],
    ]
    assert srcs(doc) == [f"https://news.example/img/{i}.jpg" for i in (1, 2, 3)]


def test_blocks_headings_lists_tables_pre_and_br():
    html = article(
        "<h2>A  heading\n here</h2><ul><li>first item</li><li>second <b>bold</b> item</li></ul>"
        "<table><tr><th>Year</th><th>Visitors</th></tr><tr><td>2020</td><td>4 680</td></tr>"
        "</table><pre>def f(x):\n    return  x</pre><blockquote>quoted words</blockquote>"
        "<p>line one<br>line\n two</p>"
    )
    got = texts(extract_document(html, URL))
    for block in (
        "A heading here",
        "first item",
        "second bold item",
        "Year | Visitors",
        "2020 | 4 680",
        "def f(x):\n    return  x",
        "quoted words",
        "line one\nline two",
    ):
        assert block in got


def test_document_fields_and_doc_id():
    doc = extract_document(
        news_page(3), URL, fetch_time="2024-03-01T10:00:00Z", source="crawl.warc.gz#120"
    )
    assert doc.doc_id == make_doc_id(URL, "crawl.warc.gz#120")
    assert (doc.url, doc.fetch_time, doc.source) == (
        URL,
        "2024-03-01T10:00:00Z",
        "crawl.warc.gz#120",
    )


# --- removal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chrome",
    [
        "<script>var SECRET = 1;</script>",
        "<style>.SECRET { color: red }</style>",
        "<noscript>SECRET enable javascript</noscript>",
        "<iframe src='/x'>SECRET</iframe>",
        "<svg><text>SECRET</text></svg>",
        "<template><p>SECRET template</p></template>",
        "<button>SECRET button</button>",
        "<select><option>SECRET option</option></select>",
        "<form action='/s'><p>SECRET form text</p></form>",
        "<nav>SECRET nav</nav>",
        "<header>SECRET header</header>",
        "<footer>SECRET footer</footer>",
        "<aside>SECRET aside</aside>",
        "<!-- SECRET comment -->",
        "<div style='display: none'>SECRET hidden</div>",
        "<div hidden>SECRET hidden</div>",
        "<div aria-hidden='true'>SECRET hidden</div>",
    ],
)
def test_never_content_elements_are_removed(chrome):
    doc = extract_document(article(chrome), URL)
    assert "SECRET" not in doc.text
    assert paragraph("a") in texts(doc)


def test_boilerplate_removal_keeps_the_article_and_drops_the_rest():
    doc = extract_document(news_page(7), URL)
    assert texts(doc) == article_paragraphs(7)  # exactly the article, in order
    for marker in ("COMMENT-MARKER", "COOKIE-MARKER", "Related headline", "Popular story"):
        assert marker not in doc.text
    assert "Tweet" not in doc.text and "Contact us" not in doc.text


def test_images_inside_removed_boilerplate_are_dropped():
    ad = (
        '<div class="ad-slot"><a href="https://ads.example/c"><img src="https://ads.example/'
        'banner.jpg" width="300" height="250" alt=""></a></div>'
    )
    related = (
        '<div class="related">'
        + "".join(
            f'<a href="/r{i}"><img src="/thumbs/r{i}.jpg" width="300" height="200"></a>'
            for i in range(3)
        )
        + "</div>"
    )
    content = '<img src="/photos/real.jpg" width="800" height="600" alt="real">'
    doc = extract_document(article(ad, content, related), URL)
    assert srcs(doc) == ["https://news.example/photos/real.jpg"]


def test_stock_boilerplate_lines_are_dropped_inside_the_article():
    doc = extract_document(article("<p>Advertisement</p><p>Share this article</p>"), URL)
    assert "Advertisement" not in doc.text and "Share this" not in doc.text
    assert paragraph("b") in texts(doc)


def test_scored_content_without_article_markup():
    sidebar = "".join(f'<p><a href="/x{i}">Link number {i} to elsewhere</a></p>' for i in range(8))
    body = (
        f'<div id="left">{sidebar}</div><div id="middle"><div class="text">'
        + "".join(f"<p>{paragraph(i)}</p>" for i in range(5))
        + f"</div></div>{FOOTER}"
    )
    doc = extract_document(page(body), URL)
    assert texts(doc) == [paragraph(i) for i in range(5)]


def test_page_wrapped_in_one_form_keeps_its_content():
    body = (
        '<form id="aspnetForm">' + "".join(f"<p>{paragraph(i)}</p>" for i in range(4)) + "</form>"
    )
    assert texts(extract_document(page(body), URL)) == [paragraph(i) for i in range(4)]


def test_retry_when_a_wrapper_class_looks_like_chrome():
    # "sidebar" in the wrapper's class strips everything on the first pass.
    body = '<div class="layout-with-sidebar">' + "".join(f"<p>{paragraph(i)}</p>" for i in range(4))
    doc = extract_document(page(body + "</div>"), URL)
    assert texts(doc) == [paragraph(i) for i in range(4)]
    no_retry = extract_nodes(page(body + "</div>"), URL, ExtractConfig(retry_short=False))
    assert not any(isinstance(n, TextNode) for n in no_retry)


# --- images -----------------------------------------------------------------------------


def test_base_href_is_resolved_against_the_page_url():
    html = page(
        f"<article><p>{paragraph(1)}</p><img src='pics/a.jpg'><img src='//cdn.example/b.jpg'>"
        f"<img src='/c.jpg'></article>",
        head='<base href="/static/v2/">',
    )
    assert srcs(extract_document(html, URL)) == [
        "https://news.example/static/v2/pics/a.jpg",
        "https://cdn.example/b.jpg",
        "https://news.example/c.jpg",
    ]


def test_without_base_relative_urls_use_the_page_url():
    doc = extract_document(article('<img src="img/x.jpg">'), URL)
    assert srcs(doc) == ["https://news.example/2024/img/x.jpg"]


def test_srcset_picks_the_largest_candidate():
    doc = extract_document(
        article(
            '<img src="s.jpg" srcset="s.jpg 400w, l.jpg 1600w, m.jpg 800w">'
            '<img src="a1.jpg" srcset="a2.jpg 2x, a3.jpg 3x">'
        ),
        URL,
    )
    assert srcs(doc) == ["https://news.example/2024/l.jpg", "https://news.example/2024/a3.jpg"]


@pytest.mark.parametrize(
    "attrs",
    [
        'src="data:image/gif;base64,R0lGOD" data-src="/real.jpg"',
        'src="/img/blank.gif" data-lazy-src="/real.jpg"',
        'src="/img/placeholder.png" data-original="/real.jpg"',
        'data-srcset="/small.jpg 300w, /real.jpg 900w" src="/lazy.gif"',
        'data-lazy-srcset="/small.jpg 1x, /real.jpg 2x"',
        'data-url="/real.jpg"',
    ],
)
def test_lazy_load_attributes_beat_placeholders(attrs):
    doc = extract_document(article(f'<img {attrs} alt="x">'), URL)
    assert srcs(doc) == ["https://news.example/real.jpg"]


def test_noscript_fallback_replaces_a_source_less_lazy_image():
    lazy = '<img class="lazy" width="640" height="480"><noscript><img src="/real.jpg"></noscript>'
    kept = '<img src="/shown.jpg"><noscript><img src="/fallback.jpg"></noscript>'
    doc = extract_document(article(lazy, kept), URL)
    assert srcs(doc) == ["https://news.example/real.jpg", "https://news.example/shown.jpg"]


def test_picture_sources_offer_the_largest_image():
    pic = (
        '<picture><source type="image/webp" srcset="/p-640.webp 640w, /p-1280.webp 1280w">'
        '<source media="(max-width: 600px)" srcset="/p-320.jpg 320w">'
        '<img src="/p-320.jpg" alt="a pier"></picture>'
    )
    doc = extract_document(article(pic), URL)
    assert srcs(doc) == ["https://news.example/p-1280.webp"]
    assert doc.images[0].alt == "a pier"


@pytest.mark.parametrize(
    "img",
    [
        '<img src="https://t.example/p.gif" width="1" height="1">',
        '<img src="/spacer.gif" width="10" height="10">',
        '<img src="/favicon.ico">',
        '<img src="/icons/star.svg">',
        '<img src="/static/logo.png" width="300" height="120">',
        '<img src="/avatars/me.png" width="200" height="200">',
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        '<img src="https://www.google-analytics.com/collect?v=1">',
        '<img src="/img/x.jpg" width="64" height="64">',
        '<img src="javascript:void(0)">',
    ],
)
def test_junk_images_are_dropped(img):
    doc = extract_document(article(img, '<img src="/keep.jpg" width="800" height="600">'), URL)
    assert srcs(doc) == ["https://news.example/keep.jpg"]


def test_alt_and_declared_size_are_kept_and_repeats_dropped():
    doc = extract_document(
        article(
            '<img src="/a.jpg" alt="  A  heron\n at dawn " width="640" height="480px">'
            '<img src="/a.jpg" alt="again">'
            '<img src="/b.jpg" style="width: 500px; height: 300px" width="100%">'
        ),
        URL,
    )
    first, second = doc.images
    assert (first.alt, first.width, first.height) == ("A heron at dawn", 640, 480)
    assert (second.src, second.width, second.height) == ("https://news.example/b.jpg", 500, 300)


# --- charsets via page_to_document --------------------------------------------------------


def test_non_utf8_pages_decode_through_charset_detection():
    text = "Le garçon mangea une crème brûlée près du château, à l'été."
    html = page(f"<article><p>{text} {paragraph(1)}</p><p>{paragraph(2)}</p></article>")
    cp1252 = html.replace('<meta charset="utf-8">', "").encode("cp1252")
    for content, ctype in (
        (cp1252, "text/html; charset=ISO-8859-1"),  # latin-1 label, windows-1252 bytes
        (cp1252, "text/html"),  # undeclared: detected
        (html.replace("utf-8", "iso-8859-15").encode("iso-8859-15"), ""),  # <meta charset>
        (b"\xff\xfe" + html.encode("utf-16-le"), ""),  # BOM
    ):
        doc = page_to_document(RawPage(url=URL, content=content, content_type=ctype))
        assert text in doc.text, ctype


def test_shift_jis_page_declared_in_meta():
    jp = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。" * 8
    html = page(f"<article><p>{jp}</p><p>{jp}</p></article>").replace("utf-8", "Shift_JIS")
    doc = page_to_document(RawPage(url=URL, content=html.encode("shift_jis")))
    assert jp in doc.text


# --- errors and robustness ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "ctype", "reason"),
    [
        (b"", "text/html", "empty_page"),
        (b"   \n\t ", "text/html", "empty_page"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/html", "not_html"),
        (b"<html><body><p>x</p></body></html>", "image/jpeg", "not_html"),
        (b"just some plain text without any markup", "", "not_html"),
        (bytes(range(256)) * 40, "", "not_html"),
        (page(f"{NAV}{FOOTER}").encode(), "text/html", "no_content"),
    ],
)
def test_pages_without_a_document_raise_extraction_error(content, ctype, reason):
    with pytest.raises(ExtractionError) as err:
        page_to_document(RawPage(url=URL, content=content, content_type=ctype))
    assert err.value.reason == reason
    assert err.value.detail


@pytest.mark.parametrize(
    "html",
    [
        "<div><p>unclosed " + paragraph(1) + "<div><p>" + paragraph(2),
        "<form><form><p>" + paragraph(3) + "</form></form></p></div></span>",
        "<table><tr><td><p>" + paragraph(4) + "<td><table><tr><td>" + paragraph(5),
        "<p>" + paragraph(6) + "</p>\x00\x01<<>>&&#xffffff;&bogus;<p>" + paragraph(7),
        "<div>" * 1500 + "<p>" + paragraph(8) + "</p>",  # past libxml2's default 256 levels
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>' + paragraph(9) + "</p>",
    ],
)
def test_broken_markup_still_yields_text(html):
    doc = extract_document(html, URL)
    assert any(paragraph(i)[:30] in doc.text for i in range(1, 10))


def test_huge_input_is_truncated_not_fatal():
    para = f"<p>{paragraph(1)}</p>"
    html = page("<article>" + para * (6_000_000 // len(para)) + "</article>")
    doc = extract_document(html, URL, cfg=ExtractConfig(max_html_bytes=1_000_000))
    assert 0 < len(doc.text) < 1_000_000


_FRAGMENTS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<div class='content'>",
        "</div>",
        "<article>",
        "<table><tr><td>",
        "<br>",
        "<pre>",
        "<picture><source srcset='/a.jpg 2x, /b.jpg 3x'>",
        "<img src='x.jpg'>",
        "<img data-src='//c.example/y.png' src='data:,'>",
        "<img srcset='z.jpg 100w, ,, w.jpg 900w'>",
        "<img src='http://[::1'>",
        "<img src='javascript:alert(1)'>",
        "<img src='ftp://h/x.jpg'>",
        "<base href='http://other.example/dir/'>",
        "<base href='::bad::'>",
        "<script>",
        "<!--",
        "-->",
        "&amp;",
        "&#0;",
        "\x00",
        "\ud800",
        "Some words, with commas, and more words here to make a paragraph of text.",
    ]
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.one_of(_FRAGMENTS, st.text(max_size=40)), max_size=40),
    page_url=st.sampled_from([URL, "", "not a url", "http://[::1/x", "ftp://files.example/"]),
)
def test_any_input_gives_a_document_or_extraction_error(parts, page_url):
    try:
        doc = extract_document("".join(parts), page_url)
    except ExtractionError as e:
        assert e.reason in {"empty_page", "not_html", "parse_error", "no_content"}
        return
    assert any(isinstance(n, TextNode) and n.text for n in doc.nodes)
    for img in doc.images:
        parts_ = urlsplit(img.src)
        assert parts_.scheme in ("http", "https") and parts_.hostname


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["", "text/html; charset=utf-8", "text/html"]))
def test_any_bytes_give_a_document_or_extraction_error(content, ctype):
    try:
        doc = page_to_document(RawPage(url=URL, content=content, content_type=ctype))
    except ExtractionError as e:
        assert e.reason in {"empty_page", "not_html", "parse_error", "no_content"}
        return
    assert doc.text


def test_threads_extract_concurrently_with_the_same_results():
    pages = [news_page(i) for i in range(12)]
    expected = [extract_document(p, URL) for p in pages]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: extract_document(p, URL), pages * 3))
    assert got == expected * 3


# --- the bundled sample crawl -------------------------------------------------------------


def _sample_pages():
    return [
        p
        for p in plan_crawl(0).pages
        if p.http_status == 200 and p.content_type.startswith("text/html")
    ]


@pytest.mark.parametrize("plan", _sample_pages(), ids=lambda p: p.expectation.url)
def test_sample_crawl_pages_meet_their_manifest(plan):
    exp = plan.expectation
    doc = page_to_document(RawPage(url=exp.url, content=plan.body, content_type=plan.content_type))
    assert srcs(doc) == [c.url for c in exp.content_images]
    alts = {i.src: i.alt for i in doc.images}
    assert all(alts[c.url] == c.alt for c in exp.content_images if c.alt)
    assert not set(exp.decoy_images) & set(srcs(doc))
    for snippet in exp.main_text_snippets:
        assert snippet in doc.text
    for snippet in exp.boilerplate_snippets:
        assert snippet not in doc.text
