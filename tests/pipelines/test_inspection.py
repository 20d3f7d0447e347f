"""`curate show` and `curate stats` on generated output folders (M3W, pairs, video)."""

from __future__ import annotations

import argparse
import base64
import io

import lxml.html
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines import inspection
from pipelines.inspection import add_parser, collect_stats, read_samples
from pipelines.jobs import CliError
from tests.fixtures.curate_outputs import (
    HOSTILE_TEXT,
    m3w_samples,
    pair_samples,
    video_samples,
    write_m3w_output,
    write_pair_output,
    write_rejections,
    write_summary,
    write_video_output,
)


def curate(*argv: str) -> int:
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    args, rest = p.parse_known_args(list(argv))
    return args.func(args, rest)


def image_markers(page: str) -> list:
    doc = lxml.html.fromstring(page)
    assert doc.findall(".//script") == []
    return doc.xpath("//span[contains(@class, 'image')]/img")


def test_show_m3w_embeds_every_image_of_the_first_n_samples(tmp_path):
    samples = m3w_samples(10)
    write_m3w_output(tmp_path / "out", samples, shards=3)
    assert curate("show", str(tmp_path / "out"), "--n", "7") == 0
    page = (tmp_path / "out" / "show.html").read_text()
    doc = lxml.html.fromstring(page)
    sections = doc.findall(".//section")
    # Shards are read in order, so the first 7 samples are the first 7 written.
    assert [s.get("id") for s in sections] == [f"sample-{i}" for i in range(7)]
    for sample, section in zip(samples, sections, strict=False):
        assert sample.url in section.text_content()
    imgs = image_markers(page)
    want = [im.bytes for s in samples[:7] for im in s.images]
    assert [base64.b64decode(i.get("src").split(",", 1)[1]) for i in imgs] == want
    assert HOSTILE_TEXT in doc.text_content()


def test_show_image_files_writes_each_image_beside_the_page(tmp_path):
    samples = m3w_samples(6)
    write_m3w_output(tmp_path / "out", samples)
    page_path = tmp_path / "look" / "page.html"
    assert curate("show", str(tmp_path / "out"), "--output", str(page_path), "--image-files") == 0
    imgs = image_markers(page_path.read_text())
    want = [im.bytes for s in samples for im in s.images]
    assert len(imgs) == len(want) > 0
    for img, data in zip(imgs, want, strict=True):
        assert img.get("src").startswith("page_files/")
        assert (page_path.parent / img.get("src")).read_bytes() == data


@pytest.mark.parametrize("kind", ["pairs", "video"])
def test_show_pairs_and_video_by_schema_name(tmp_path, kind):
    out = tmp_path / kind
    if kind == "pairs":
        write_pair_output(out, pair_samples(4))
        want = [[p.image.bytes] for p in pair_samples(4)]
    else:
        write_video_output(out, video_samples(3))
        want = [list(v.frames) for v in video_samples(3)]
    assert curate("show", str(out)) == 0
    doc = lxml.html.fromstring((out / "show.html").read_text())
    sections = doc.findall(".//section")
    assert len(sections) == len(want)
    for section, frames in zip(sections, want, strict=True):
        srcs = [base64.b64decode(i.get("src").split(",", 1)[1]) for i in section.iter("img")]
        assert srcs == frames


def test_stats_writes_report_and_charts_from_summary_and_rejections(tmp_path):
    out = tmp_path / "out"
    write_m3w_output(out, m3w_samples(9))
    write_rejections(out)
    write_summary(out, {"filter_text": {"language_not_kept": 2, "too_few_words": 1}})
    assert curate("stats", str(out)) == 0
    report = out / "stats"
    doc = lxml.html.fromstring((report / "index.html").read_text())
    srcs = [i.get("src") for i in doc.findall(".//img")]
    assert "languages.png" in srcs and "rejections.png" in srcs
    for src in srcs:
        img = Image.open(io.BytesIO((report / src).read_bytes()))
        assert img.format == "PNG" and img.size == (640, 400)
    text = doc.text_content()
    assert "9 samples" in text and "summary.json counters" in text
    assert "'de': 2" in text and "'fr': 1" in text
    cells = [td.text_content() for td in doc.findall(".//td")]
    assert cells[:3] == ["filter_text", "language_not_kept", "2"]


def test_stats_falls_back_to_rejection_files_without_summary(tmp_path):
    out = tmp_path / "out"
    write_m3w_output(out, m3w_samples(3))
    write_rejections(out)
    assert curate("stats", str(out), "--output", str(tmp_path / "r")) == 0
    doc = lxml.html.fromstring((tmp_path / "r" / "index.html").read_text())
    assert "rejections-*.parquet" in doc.text_content()
    rows = {tuple(td.text_content() for td in tr.findall("td")) for tr in doc.iter("tr")}
    assert ("fetch_image", "http_404", "1") in rows


def test_collect_stats_per_kind(tmp_path):
    samples = m3w_samples(6)
    write_m3w_output(tmp_path / "m", samples)
    st = collect_stats(str(tmp_path / "m"))
    assert st.lengths == [s.num_tokens for s in samples]
    assert st.images_per_sample == [len(s.images) for s in samples]
    assert st.image_sizes == [(i.width, i.height) for s in samples for i in s.images]
    clips = video_samples(3)
    write_video_output(tmp_path / "v", clips)
    st = collect_stats(str(tmp_path / "v"))
    assert st.images_per_sample == [len(c.frames) for c in clips]
    assert len(st.image_sizes) == sum(len(c.frames) for c in clips)
    assert st.lengths == [len(c.caption) for c in clips]


def test_user_errors(tmp_path):
    with pytest.raises(CliError, match="not a directory"):
        curate("show", str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CliError, match="no samples"):
        curate("stats", str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(pa.table({"x": [1]}), bad / "samples-0.parquet")
    with pytest.raises(CliError, match="expected one of"):
        read_samples(str(bad), 3)
    write_m3w_output(tmp_path / "ok", m3w_samples(2))
    with pytest.raises(CliError, match="--n"):
        curate("show", str(tmp_path / "ok"), "--n", "0")
    with pytest.raises(CliError, match="unknown option"):
        curate("show", str(tmp_path / "ok"), "--bogus")
    (tmp_path / "ok" / "summary.json").write_text("{")
    with pytest.raises(CliError, match="not valid JSON"):
        curate("stats", str(tmp_path / "ok"))


def test_stats_read_image_sizes_without_image_bytes(tmp_path):
    write_m3w_output(tmp_path / "m", m3w_samples(8), shards=1)
    (path,) = (tmp_path / "m").glob("samples-*.parquet")
    batches = list(inspection._stats_batches(path, "m3w_sample"))
    assert batches and all(
        b.column("images").type.value_type.names == ["width", "height"] for b in batches
    )
    write_pair_output(tmp_path / "p", pair_samples(3))
    (path,) = (tmp_path / "p").glob("samples-*.parquet")
    (batch,) = inspection._stats_batches(path, "pair_sample")
    assert batch.column("image").type.names == ["width", "height"]


def test_stats_fall_back_to_whole_columns_when_nested_paths_miss(tmp_path, monkeypatch):
    samples = m3w_samples(6)
    write_m3w_output(tmp_path / "m", samples)
    monkeypatch.setattr(
        inspection, "stats_columns", lambda path, kind: ["num_tokens", "images.list.nope.width"]
    )
    st = collect_stats(str(tmp_path / "m"))
    assert st.image_sizes == [(i.width, i.height) for s in samples for i in s.images]
