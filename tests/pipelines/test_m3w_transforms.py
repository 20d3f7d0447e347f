"""Each M3W composite on a TestPipeline: outputs, rejections with reasons, counters balance."""

from __future__ import annotations

import json
from dataclasses import replace

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from curation.chunking import ChunkConfig
from curation.fetch import FetchConfig
from curation.html import ExtractConfig
from curation.images import ImageConfig
from curation.language import LanguageConfig
from curation.mirror import mirror_path
from curation.text_filters import TextFilterConfig
from pipelines.counting import REJECTED
from pipelines.images import FetchImages
from pipelines.m3w import (
    DOCUMENTS,
    IMAGES,
    PAGES,
    ChunkM3W,
    ExtractDocuments,
    FilterText,
    ReadInputs,
)
from schemas import Document, ImageNode, RawPage, TextNode, WarcImage
from schemas.records import IMAGE_MARKER
from tests.fixtures.http_server import LocalHttpServer, Reply
from tests.fixtures.images import jpeg_bytes, truncated_jpeg
from tests.fixtures.tokenizer import tokenizer_dir
from tests.pipelines.beam_helpers import run_collect, tags, write_warc

__all__ = ["tokenizer_dir"]

PROSE = (
    "The harbour town woke early that morning, and the fishing boats were already back "
    "with their nets full of silver fish. Children walked along the quay to the old school, "
    "while their parents sold the catch to the cooks of the restaurants on the hill. "
    "In the afternoon the wind turned and the sky filled with heavy clouds from the west, "
    "so the market closed before the rain and everyone went home to the warm kitchens. "
)
MORE_PROSE = (
    "Later that week a travelling painter arrived with a cart of canvases and set up her easel "
    "near the lighthouse. She painted the cliffs at dawn and the boats at dusk, and she told "
    "the curious fishermen that the light here was softer than anywhere else she had seen. "
    "By Sunday the whole village had come to look at her work, and the mayor bought two "
    "pictures for the town hall, where they still hang beside the map of the old harbour."
)


def _balanced(counters: dict[str, dict[str, int]], stage: str) -> tuple[int, int, int]:
    c = counters[stage]
    rejected = sum(v for k, v in c.items() if k.startswith("rejected."))
    assert c["in"] == c.get("out", 0) + rejected, c
    return c["in"], c.get("out", 0), rejected


def test_read_inputs_tags_pages_images_documents_and_rejections(tmp_path):
    html = f"<html><body><p>{PROSE}</p></body></html>".encode()
    warc = write_warc(
        [
            ("request", "https://a.example/p1", b"", None, 0),
            ("response", "https://a.example/p1", html, {"Content-Type": "text/html"}, 200),
            (
                "response",
                "https://a.example/i.jpg",
                jpeg_bytes(),
                {"Content-Type": "image/jpeg"},
                200,
            ),
            ("response", "https://a.example/gone", b"nope", {"Content-Type": "text/html"}, 404),
            ("metadata", "https://a.example/p1", b"meta: 1", None, 0),
        ]
    )
    (tmp_path / "c.warc.gz").write_bytes(warc)
    (tmp_path / "page.html").write_bytes(html)
    pq.write_table(
        pa.table(
            {
                "texts": [[PROSE, None]],
                "images": [[None, "https://b.example/x.jpg"]],
                "url": ["https://b.example/doc"],
            }
        ),
        tmp_path / "obelics.parquet",
    )
    (tmp_path / "broken.html.gz").write_bytes(b"\x1f\x8b\x08not gzip at all")

    def build(p):
        read = p | ReadInputs(
            [str(tmp_path / "*.warc.gz"), str(tmp_path / "*.html*"), str(tmp_path / "*.parquet")],
            base_url="https://files.example/",
        )
        return {k: read[k] for k in (PAGES, IMAGES, DOCUMENTS, REJECTED)}

    out, counters = run_collect(build)
    assert sorted(p.url for p in out[PAGES]) == ["https://a.example/p1", "https://files.example/"]
    assert [i.url for i in out[IMAGES]] == ["https://a.example/i.jpg"]
    assert out[IMAGES][0].content == jpeg_bytes()
    [doc] = out[DOCUMENTS]
    assert doc.url == "https://b.example/doc" and isinstance(doc.nodes[1], ImageNode)
    reasons = sorted(r.reason for r in out[REJECTED])
    assert reasons == ["corrupt_gzip", "http_status", "skipped_metadata", "skipped_request"]
    assert all(r.stage == "read" for r in out[REJECTED])
    assert _balanced(counters, "read") == (8, 4, 4)
    assert counters["read"]["pages"] == 2 and counters["read"]["documents"] == 1


def test_extract_documents_keeps_dom_order_and_rejects_non_html():
    good = RawPage(
        "https://a.example/post",
        f"<html><body><article><p>{PROSE}</p><img src='/a.jpg' width=400 height=300>"
        f"<p>{PROSE}</p><img src='b.jpg' width=400 height=300></article></body></html>".encode(),
        "text/html; charset=utf-8",
    )
    empty = RawPage("https://a.example/empty", b"   ", "text/html")
    pdf = RawPage("https://a.example/f.pdf", b"%PDF-1.4 \x00\x01", "application/pdf")

    out, counters = run_collect(
        lambda p: tags(
            p | beam.Create([good, empty, pdf]) | ExtractDocuments(ExtractConfig()), "documents"
        )
    )
    [doc] = out["documents"]
    assert [type(n).__name__ for n in doc.nodes] == [
        "TextNode",
        "ImageNode",
        "TextNode",
        "ImageNode",
    ]
    assert [n.src for n in doc.images] == ["https://a.example/a.jpg", "https://a.example/b.jpg"]
    assert {(r.key, r.reason) for r in out[REJECTED]} == {
        ("https://a.example/empty", "empty_page"),
        ("https://a.example/f.pdf", "not_html"),
    }
    assert _balanced(counters, "extract") == (3, 1, 2)


def test_filter_text_drops_thin_and_unwanted_language_pages():
    good = Document("d1", "https://a.example/1", nodes=(TextNode(PROSE), TextNode(MORE_PROSE)))
    thin = Document("d2", "https://a.example/2", nodes=(TextNode("Buy now. Great deals."),))
    import apache_beam as beam

    out, counters = run_collect(
        lambda p: tags(
            p | beam.Create([good, thin]) | FilterText(TextFilterConfig(), LanguageConfig()),
            "documents",
        )
    )
    [kept] = out["documents"]
    assert kept.doc_id == "d1" and kept.language == "en"
    assert [(r.key, r.reason) for r in out[REJECTED]] == [("https://a.example/2", "too_few_words")]
    assert _balanced(counters, "filter_text") == (2, 1, 1)

    out, _ = run_collect(
        lambda p: tags(
            p
            | beam.Create([good])
            | FilterText(TextFilterConfig(), LanguageConfig(languages=("fr",))),
            "documents",
        )
    )
    assert out["documents"] == [] and out[REJECTED][0].reason == "language_not_kept"


def test_fetch_images_resolves_warc_then_mirror_then_http(tmp_path):
    mirror = tmp_path / "mirror"
    with LocalHttpServer() as server:
        u = server.url
        warc_url, mirror_url = "https://img.example/w.jpg", "https://img.example/m.jpg"
        http_url, missing_url, bad_url = u("/h.jpg"), u("/404.jpg"), u("/trunc.jpg")
        server.route(
            "/h.jpg", Reply(body=jpeg_bytes(seed=3), headers={"Content-Type": "image/jpeg"})
        )
        server.route("/404.jpg", Reply(status=404))
        server.route(
            "/trunc.jpg", Reply(body=truncated_jpeg(), headers={"Content-Type": "image/jpeg"})
        )
        path = mirror_path(str(mirror), mirror_url)
        path.parent.mkdir(parents=True)
        path.write_bytes(jpeg_bytes(seed=2))

        def img(src):
            return ImageNode(src, alt=src[-5:])

        doc_a = Document(
            "a",
            "https://p.example/a",
            nodes=(
                TextNode("one"),
                img(warc_url),
                TextNode("two"),
                img(mirror_url),
                img(http_url),
                img(missing_url),
                TextNode("three"),
            ),
        )
        doc_b = Document(
            "b", "https://p.example/b", nodes=(img(bad_url), img(warc_url), TextNode("x"))
        )
        warc_images = [
            WarcImage(warc_url, jpeg_bytes(seed=1), "image/jpeg", "c.warc#1"),
            WarcImage(
                "https://img.example/unused.jpg", jpeg_bytes(seed=4), "image/jpeg", "c.warc#2"
            ),
        ]
        fetch = FetchConfig(allow_networks=("127.0.0.1/32",), retries=0)

        def build(p):
            docs = p | "Docs" >> beam.Create([doc_a, doc_b])
            warc = p | "Warc" >> beam.Create(warc_images)
            attached, rejected = docs | FetchImages(warc, ImageConfig(), fetch, str(mirror))
            return {"docs": attached, REJECTED: rejected}

        out, counters = run_collect(build)
    docs = {d.doc_id: d for d in out["docs"]}
    assert [n.src for n in docs["a"].images] == [warc_url, mirror_url, http_url]
    assert [n.src for n in docs["b"].images] == [warc_url]
    assert all(n.image is not None and n.image.width > 0 for d in docs.values() for n in d.images)
    # Text nodes survive, in order, where an image failed.
    assert [getattr(n, "text", None) for n in docs["a"].nodes if isinstance(n, TextNode)] == [
        "one",
        "two",
        "three",
    ]
    assert sorted((r.key, r.reason) for r in out[REJECTED]) == sorted(
        [
            (missing_url, "http_status"),
            (bad_url, "decode_error"),
            ("https://img.example/unused.jpg", "unreferenced_warc_image"),
        ]
    )
    assert _balanced(counters, "images") == (6, 3, 3)
    assert counters["images"]["source.warc"] == 1
    assert counters["images"]["source.mirror"] == 1
    assert counters["images"]["source.http"] == 1


def test_chunk_m3w_writes_markers_per_image_and_rejects_empty(tokenizer_dir):
    from curation.images import process_image

    record = process_image(jpeg_bytes(), "https://i.example/a.jpg")
    nodes = []
    for i in range(8):
        nodes += [
            ImageNode(f"https://i.example/{i}.jpg", image=replace(record, url=str(i))),
            TextNode(PROSE),
        ]
    doc = Document("d", "https://p.example/d", nodes=tuple(nodes))
    empty = Document("e", "https://p.example/e", nodes=())
    cfg = ChunkConfig(mode="tile")
    out, counters = run_collect(
        lambda p: tags(p | beam.Create([doc, empty]) | ChunkM3W(str(tokenizer_dir), cfg), "samples")
    )
    samples = sorted(out["samples"], key=lambda s: s.chunk_index)
    assert len(samples) > 1
    assert all(s.num_tokens <= 256 and len(s.images) <= 5 for s in samples)
    assert all(s.text.count(IMAGE_MARKER) == len(s.images) for s in samples)
    assert [r.reason for r in out[REJECTED]] == ["no_tokens"]
    assert _balanced(counters, "chunk") == (2, 1, 1)
    assert counters["chunk"]["samples"] == len(samples)
    assert json.dumps(counters)  # counters are plain ints (summary.json material)
