"""The sample crawl: deterministic, readable by warcio, and holding every case it promises."""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from curation.sample_crawl import make_sample_crawl, mirror_path, sample_texts
from curation.sample_manifest import (
    BOILERPLATE,
    HTTP_STATUS,
    KEPT,
    LOREM_IPSUM,
    MALFORMED_RECORD,
    NOT_HTML,
    SKIPPED_REVISIT,
    SampleManifest,
    load_sample_manifest,
)
from curation.sample_plan import plan_crawl
from tests.fixtures.sample_crawl import responses, sample_crawl, warc

__all__ = ["responses", "sample_crawl", "warc"]  # the fixtures


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_identical_bytes(sample_crawl: SampleManifest, tmp_path: Path) -> None:
    again = make_sample_crawl(tmp_path / "again", seed=0)
    assert _files(Path(sample_crawl.root)) == _files(tmp_path / "again")
    assert again == sample_crawl
    # Another seed: the same pages and cases, other prose.
    assert list(sample_texts(seed=1)) != list(sample_texts(seed=0))
    assert [p.expectation.url for p in plan_crawl(1).pages] == [p.url for p in sample_crawl.pages]


def test_manifest_json_round_trips(sample_crawl: SampleManifest) -> None:
    assert load_sample_manifest(sample_crawl.root) == sample_crawl


def test_output_is_small(sample_crawl: SampleManifest) -> None:
    total = sum(len(b) for b in _files(Path(sample_crawl.root)).values())
    assert 1_000_000 < total < 8_000_000


def test_warc_reads_back_with_warcio(sample_crawl: SampleManifest, warc) -> None:
    records, _ = warc
    assert dict(Counter(r.rtype for r in records)) == sample_crawl.record_counts
    assert records[0].rtype == "warcinfo"
    ids = [r.headers["WARC-Record-ID"] for r in records]
    assert len(set(ids)) == len(ids)
    dates = [r.headers["WARC-Date"] for r in records]
    assert dates == sorted(dates)
    assert sample_crawl.record_counts["response"] > 200
    assert {"warcinfo", "request", "response", "metadata", "revisit"} == {r.rtype for r in records}


def test_every_response_follows_its_request(warc) -> None:
    records, _ = warc
    for before, after in itertools.pairwise(records):
        if after.rtype == "response":
            assert before.rtype == "request" and before.url == after.url
            assert before.headers["WARC-Concurrent-To"] == after.headers["WARC-Record-ID"]


def test_metadata_and_revisit_point_at_the_first_page(sample_crawl, warc, responses) -> None:
    records, _ = warc
    first = responses[sample_crawl.pages[0].url]
    (meta,) = [r for r in records if r.rtype == "metadata"]
    assert meta.headers["WARC-Concurrent-To"] == first.headers["WARC-Record-ID"]
    assert b"outlink: " in meta.payload
    (revisit,) = [r for r in records if r.rtype == "revisit"]
    assert revisit.url == first.url
    assert revisit.headers["WARC-Payload-Digest"] == first.headers["WARC-Payload-Digest"]
    assert revisit.headers["WARC-Refers-To-Date"] == first.headers["WARC-Date"]
    others = {o.kind: o for o in sample_crawl.other_records}
    assert others["revisit"].offset == revisit.offset
    assert others["revisit"].expect == SKIPPED_REVISIT


def test_the_damaged_member_fails_and_good_records_follow(sample_crawl, warc) -> None:
    records, damaged = warc
    (corrupt,) = [o for o in sample_crawl.other_records if o.kind == "corrupt"]
    assert damaged == [corrupt.offset]
    assert corrupt.expect == MALFORMED_RECORD
    data = sample_crawl.warc_path.read_bytes()
    with pytest.raises(zlib.error):
        zlib.decompress(data[corrupt.offset :], zlib.MAX_WBITS | 16)
    after = [r for r in records if r.offset > corrupt.offset]
    assert sum(r.rtype == "response" for r in after) > 50
    assert corrupt.url not in {r.url for r in records if r.rtype == "response"}


def test_pages_are_response_records_at_their_offsets(sample_crawl, responses) -> None:
    for page in sample_crawl.pages:
        rec = responses[page.url]
        assert rec.offset == page.warc_offset
        assert rec.status == (404 if page.expect == HTTP_STATUS else 200)


def test_the_crawl_covers_sites_layouts_and_languages(sample_crawl) -> None:
    html = [p for p in sample_crawl.pages if p.language]
    assert 34 <= len(html) <= 45
    assert len({p.site for p in html}) >= 6
    assert {"news", "blog", "recipe", "forum", "product", "wiki"} <= {p.layout for p in html}
    langs = Counter(p.language for p in html)
    assert {"en", "fr", "de", "es"} <= set(langs)
    assert langs["en"] > len(html) / 2
    assert all(urlsplit(p.url).hostname.endswith(".example") for p in sample_crawl.pages)


def test_every_expected_outcome_is_present(sample_crawl) -> None:
    expects = Counter(p.expect for p in sample_crawl.pages)
    assert expects[KEPT] >= 30
    assert expects[NOT_HTML] == 2
    assert expects[HTTP_STATUS] == expects[BOILERPLATE] == expects[LOREM_IPSUM] == 1


def test_content_pages_have_the_promised_prose_and_images(sample_crawl) -> None:
    kept = [p for p in sample_crawl.pages if p.expect == KEPT]
    assert all(150 <= p.word_count <= 900 for p in kept)
    assert any(p.word_count > 600 for p in kept)  # tiling gives several 256-token chunks
    counts = [len(p.content_images) for p in kept]
    assert 0 in counts and max(counts) <= 9
    assert sum(n > 5 for n in counts) >= 3  # the N = 5 cap is exercised
    for p in kept:
        assert 2 <= len(p.main_text_snippets) <= 3
        assert p.boilerplate_snippets


def test_image_cases_are_present(sample_crawl) -> None:
    images = [c for p in sample_crawl.pages for c in p.content_images]
    assert {"ok", "corrupt", "too_small", "aspect", "bomb"} == {c.status for c in images}
    where = Counter(c.where for c in images)
    assert where["mirror"] >= 4 and 1 <= where["missing"] <= 2
    assert sum(bool(c.alt) for c in images) > 50  # alt text the extractor should keep
    markups = {c.markup for c in images}
    assert {"plain", "srcset", "xsrcset", "lazy", "lazy_srcset", "lazy_attr", "picture"} <= markups


def test_every_image_url_is_absolute(sample_crawl) -> None:
    for page in sample_crawl.pages:
        urls = [c.url for c in page.content_images] + list(page.decoy_images)
        urls += [a for c in page.content_images for a in c.alternates]
        for url in urls:
            parts = urlsplit(url)
            assert parts.scheme in ("http", "https") and parts.hostname, url
        assert not set(page.decoy_images) & {c.url for c in page.content_images}


def test_images_live_where_the_manifest_says(sample_crawl, responses) -> None:
    mirror = sample_crawl.mirror_dir
    for image in {c.url: c for p in sample_crawl.pages for c in p.content_images}.values():
        in_mirror = mirror_path(mirror, image.url).is_file()
        assert (image.url in responses) == (image.where == "warc"), image.url
        assert in_mirror == (image.where == "mirror"), image.url
        if image.where == "missing":
            assert urlsplit(image.url).hostname.endswith(".invalid")
    served = {r.content_type for r in responses.values()}
    assert {"image/jpeg", "image/png", "image/webp"} <= served


def test_decoys_include_pixels_ads_icons_and_logos(sample_crawl, responses) -> None:
    decoys = {d for p in sample_crawl.pages for d in p.decoy_images}
    assert any(urlsplit(d).hostname == "track.pixel.example" for d in decoys)
    assert any(urlsplit(d).hostname == "ads.adnet.example" for d in decoys)
    assert any(d.endswith("logo.svg") for d in decoys)
    assert any("/icons/" in d for d in decoys)
    # The ad creatives were fetched too: an extractor that keeps them would let them through.
    assert any(urlsplit(u).hostname == "ads.adnet.example" for u in responses)
