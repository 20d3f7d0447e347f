"""DropEvalDuplicates on a generated crawl: planted eval images leave their documents (text
stays), everything else is kept, counts balance, and the report shows the hits."""

from __future__ import annotations

import glob
import io
from pathlib import Path

import apache_beam as beam
import pytest
from PIL import Image

import pipelines.decontam as decontam
from curation.chunking import ChunkConfig
from curation.decontam_report import build_report
from curation.eval_index import DecontamConfig, EvalIndexError
from curation.eval_sources import build_eval_dataset, image_file_tasks
from curation.fetch import FetchConfig
from curation.html import ExtractConfig
from curation.images import ImageConfig, ImageRejected, process_image
from curation.language import LanguageConfig
from curation.sample_crawl import make_sample_crawl
from curation.text_filters import TextFilterConfig
from curation.warc import iter_warc
from pipelines.counting import REJECTED
from pipelines.decontam import (
    HITS,
    DropEvalDuplicateImages,
    DropEvalDuplicates,
    WriteDecontamHits,
    check_eval_index,
)
from pipelines.images import FetchImages
from pipelines.io import WriteRejections
from pipelines.m3w import (
    DOCUMENTS,
    IMAGES,
    PAGES,
    ChunkM3W,
    ExtractDocuments,
    FilterText,
    ReadInputs,
)
from schemas import Document, ImageNode, PairSample, TextNode, WarcImage
from schemas.records import IMAGE_MARKER
from tests.fixtures.eval_sets import crawl_phash, photo, resized, write_folder
from tests.fixtures.tokenizer import tokenizer_dir
from tests.pipelines.beam_helpers import run_collect

__all__ = ["tokenizer_dir"]

EXACT = "https://cdn.harbor.example/media/2024/03/ferry-terminal-reopens-3.jpg"  # on 2 pages
NEAR = "https://blog.fernweh.example/images/2024/ridge-walk-in-fog-4.jpg"
RADIUS = DecontamConfig().radius


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """The sample crawl and the bytes of every WARC image that passes validation."""
    root = tmp_path_factory.mktemp("crawl")
    make_sample_crawl(root)
    images = {}
    for rec in iter_warc(str(root / "sample.warc.gz")):
        if isinstance(rec, WarcImage):
            try:
                process_image(rec.content, rec.url)
            except ImageRejected:
                continue
            images[rec.url] = rec.content
    return root, images


@pytest.fixture(scope="module")
def eval_index(crawl, tmp_path_factory) -> tuple[str, dict[str, int]]:
    """Two eval sets: one holds a crawl image as is, the other a resized re-encoded copy
    of another one, among unrelated photos. Returns the index and the planted phashes."""
    _, images = crawl
    tmp = tmp_path_factory.mktemp("evalsets")
    index = str(tmp / "index")
    (tmp / "a").mkdir()
    (tmp / "a" / "ferry.jpg").write_bytes(images[EXACT])
    write_folder(tmp / "a", ["unrelated-1", "unrelated-2"])
    (tmp / "b").mkdir()
    (tmp / "b" / "fog-small.jpg").write_bytes(resized(images[NEAR], 0.5, quality=40))
    write_folder(tmp / "b", ["unrelated-3"])
    for name, folder in (("eval-a", "a"), ("eval-b", "b")):
        build_eval_dataset(index, name, "val", image_file_tasks(str(tmp / folder)), progress=False)
    planted = {u: crawl_phash(images[u]) for u in (EXACT, NEAR)}
    return index, planted


def _m3w(crawl_root: Path, index: str | None, tokenizer: str, out: str | None = None):
    def build(p: beam.Pipeline) -> dict[str, beam.PCollection]:
        read = p | ReadInputs([str(crawl_root / "sample.warc.gz")])
        extracted = read[PAGES] | ExtractDocuments(ExtractConfig())
        docs = (extracted["documents"], read[DOCUMENTS]) | beam.Flatten()
        filtered = docs | FilterText(TextFilterConfig(), LanguageConfig())
        with_images, _ = filtered["documents"] | FetchImages(
            read[IMAGES], ImageConfig(), FetchConfig(), str(crawl_root / "mirror"), False
        )
        clean = with_images | DropEvalDuplicates(index)
        chunked = clean["documents"] | ChunkM3W(tokenizer, ChunkConfig(mode="tile"))
        if out is not None:
            _ = clean[REJECTED] | WriteRejections(out)
            _ = clean[HITS] | WriteDecontamHits(out)
        return {
            "before": with_images,
            "after": clean["documents"],
            "rejected": clean[REJECTED],
            "hits": clean[HITS],
            "samples": chunked["samples"],
        }

    return run_collect(build)


@pytest.fixture(scope="module")
def decontaminated(crawl, eval_index, tokenizer_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    collected, counters = _m3w(crawl[0], eval_index[0], str(tokenizer_dir), out)
    return collected, counters, out


def _image_nodes(doc: Document) -> list[ImageNode]:
    return [n for n in doc.nodes if isinstance(n, ImageNode)]


def test_planted_images_leave_their_documents_and_the_text_stays(decontaminated, eval_index):
    collected, _, _ = decontaminated
    _, planted = eval_index
    before = {d.doc_id: d for d in collected["before"]}
    after = {d.doc_id: d for d in collected["after"]}
    assert set(before) == set(after)  # no document is lost, only images
    # What brute force over the planted hashes says must go: exactly the planted URLs.
    must_go = {
        (d.doc_id, n.src)
        for d in before.values()
        for n in _image_nodes(d)
        if any((n.image.phash ^ h).bit_count() <= RADIUS for h in planted.values())
    }
    assert {src for _, src in must_go} == {EXACT, NEAR}
    assert sum(src == EXACT for _, src in must_go) == 2  # both pages that show it
    for doc_id, doc in before.items():
        kept = after[doc_id]
        assert [n for n in kept.nodes if isinstance(n, TextNode)] == [
            n for n in doc.nodes if isinstance(n, TextNode)
        ]
        expected = [n for n in _image_nodes(doc) if (doc_id, n.src) not in must_go]
        assert _image_nodes(kept) == expected


def test_every_drop_is_a_rejection_with_the_match_and_counts_balance(decontaminated):
    collected, counters, _ = decontaminated
    rejected = collected["rejected"]
    assert sorted(r.key for r in rejected) == sorted([EXACT, EXACT, NEAR])
    assert {r.stage for r in rejected} == {"decontam"}
    assert {r.reason for r in rejected} == {"eval_duplicate"}
    details = {r.key: r.detail for r in rejected}
    assert details[EXACT] == "eval-a/ferry distance=0"
    assert details[NEAR].startswith("eval-b/fog-small distance=")
    c = counters["decontam"]
    images_in = sum(len(_image_nodes(d)) for d in collected["before"])
    assert c["in"] == images_in == c["out"] + c["rejected.eval_duplicate"]
    assert c["rejected.eval_duplicate"] == 3
    assert len(collected["hits"]) == 3
    for hit in collected["hits"]:
        with Image.open(io.BytesIO(hit.thumbnail)) as thumb:
            assert max(thumb.size) <= 96


def test_samples_never_carry_a_planted_image(decontaminated):
    samples = decontaminated[0]["samples"]
    urls = {im.url for s in samples for im in s.images}
    assert urls and not urls & {EXACT, NEAR}
    for s in samples:
        assert s.text.count(IMAGE_MARKER) == len(s.images)


def test_without_an_index_documents_pass_unchanged(crawl, tokenizer_dir):
    collected, counters = _m3w(crawl[0], None, str(tokenizer_dir))
    assert sorted(collected["after"], key=lambda d: d.doc_id) == sorted(
        collected["before"], key=lambda d: d.doc_id
    )
    assert collected["rejected"] == [] and collected["hits"] == []
    assert "decontam" not in counters


def test_the_report_of_the_run_shows_both_sides(decontaminated, eval_index):
    _, _, out = decontaminated
    assert glob.glob(f"{out}/decontam-hits-*.parquet")
    paths = build_report(out)
    page = Path(paths.html).read_text()
    assert "eval-a: 2 hit(s)" in page and "eval-b: 1 hit(s)" in page
    assert "eval thumbnail not available" not in page  # the run's index is found
    assert len(paths.thumbnails) == 6 and all(Path(p).is_file() for p in paths.thumbnails)


def _pair(key: str, data: bytes) -> PairSample:
    return PairSample(
        key, f"https://pairs.example/{key}.jpg", f"caption {key}", process_image(data, key)
    )


def test_pairs_variant_drops_elements_whose_image_matches(eval_index, crawl, monkeypatch):
    index, _ = eval_index
    _, images = crawl
    loads = []
    real_load = decontam.load_index
    monkeypatch.setattr(decontam, "load_index", lambda *a: loads.append(a) or real_load(*a))
    pairs = [
        _pair("copy", images[EXACT]),
        _pair("near", resized(images[NEAR], 0.7)),
        *[_pair(f"other{i}", photo(f"pair-{i}")) for i in range(4)],
    ]
    collected, counters = run_collect(
        lambda p: dict(
            zip(
                ("records", "rejected", "hits"),
                (lambda o: (o["records"], o[REJECTED], o[HITS]))(
                    p | beam.Create(pairs) | DropEvalDuplicateImages(index)
                ),
                strict=True,
            )
        )
    )
    assert sorted(s.sample_id for s in collected["records"]) == [f"other{i}" for i in range(4)]
    assert sorted(r.key for r in collected["rejected"]) == [
        "https://pairs.example/copy.jpg",
        "https://pairs.example/near.jpg",
    ]
    c = counters["decontam"]
    assert c["in"] == 6 == c["out"] + c["rejected.eval_duplicate"]
    assert len(loads) == 1  # the index was loaded once, not per element or bundle


def test_check_eval_index_fails_fast(tmp_path, eval_index):
    with pytest.raises(EvalIndexError) as e:
        check_eval_index(str(tmp_path / "none"), DecontamConfig())
    assert e.value.reason in ("empty_index", "index_not_found")
    assert len(check_eval_index(eval_index[0], DecontamConfig())) == 2
