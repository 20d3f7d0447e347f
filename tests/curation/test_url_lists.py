"""Pair inputs: every list format, bytes inputs, bad rows as rejections, bad files as errors."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.url_lists import (
    PairSource,
    UrlListConfig,
    UrlListError,
    check_columns,
    input_format,
    iter_pairs,
    needs_download,
    pair_sample_id,
    split_member_name,
)
from schemas import Rejection
from tests.fixtures.images import jpeg_bytes
from tests.fixtures.pairs import write_bytes_parquet, write_list, write_webdataset

URLS = ["http://img.example/a.jpg", "http://img.example/b.jpg", "http://img.example/c.jpg"]
CAPTIONS = ["A cat on a mat", 'A "quoted", comma caption', "Ünïcödé caption here"]


def read(path: Path, cfg: UrlListConfig | None = None) -> list[PairSource | Rejection]:
    with open(path, "rb") as f:
        return list(iter_pairs(f, str(path), cfg or UrlListConfig()))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "csv"),
        ("a.TSV", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson.gz", "jsonl"),
        ("a.csv.gz", "csv"),
        ("a.parquet", "parquet"),
        ("s/000.tar", "tar"),
        ("s/000.tar.gz", "tar"),
    ],
)
def test_input_format_from_the_name(name, kind):
    assert input_format(name) == kind


@pytest.mark.parametrize("name", ["a.txt", "a.parquet.gz", "a.json", "a"])
def test_unknown_formats_are_refused(name):
    with pytest.raises(UrlListError) as err:
        input_format(name)
    assert err.value.reason == "unknown_format"


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_url_lists_in_every_format(tmp_path, fmt):
    path = write_list(tmp_path / f"list.{fmt}", URLS, CAPTIONS, fmt)
    pairs = read(path)
    assert [(p.url, p.caption) for p in pairs] == list(zip(URLS, CAPTIONS, strict=True))
    assert all(p.data is None for p in pairs)
    assert [p.key for p in pairs] == [f"{path}#row{i}" for i in range(3)]
    assert len({p.sample_id for p in pairs}) == 3


def test_other_column_names(tmp_path):
    path = tmp_path / "laion.parquet"
    pq.write_table(pa.table({"URL": URLS, "TEXT": CAPTIONS, "extra": [1, 2, 3]}), path)
    pairs = read(path, UrlListConfig(url_column="URL", caption_column="TEXT"))
    assert [p.url for p in pairs] == URLS


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_missing_column_is_a_file_error(tmp_path, fmt):
    path = write_list(tmp_path / f"list.{fmt}", URLS, CAPTIONS, fmt)
    cfg = UrlListConfig(caption_column="TEXT")
    with open(path, "rb") as f, pytest.raises(UrlListError) as err:
        check_columns(f, str(path), cfg)  # what the CLI runs before the job
    assert err.value.reason == "missing_column" and "TEXT" in err.value.detail
    if fmt == "jsonl":  # no header: inside the job, each row lacks the caption instead
        assert [p.caption for p in read(path, cfg)] == ["", "", ""]
    else:
        with pytest.raises(UrlListError):
            read(path, cfg)


def test_bad_rows_become_rejections(tmp_path):
    csv_path = tmp_path / "l.csv"
    csv_path.write_text("url,caption\nhttp://x.example/1.jpg,one\nonly-one-field\n,no url\n\n")
    rows = read(csv_path)
    assert isinstance(rows[0], PairSource)
    assert [(r.reason, r.key) for r in rows[1:]] == [
        ("malformed_row", f"{csv_path}#row1"),
        ("missing_url", f"{csv_path}#row2"),
    ]
    jsonl = tmp_path / "l.jsonl"
    jsonl.write_bytes(b'{"url": "http://x.example/1.jpg", "caption": 7}\n{bad\n[1, 2]\n\n')
    rows = read(jsonl)
    assert rows[0].caption == "7"  # a number caption is kept as its text
    assert [r.reason for r in rows[1:]] == ["malformed_row", "malformed_row"]


def test_parquet_with_image_bytes_needs_no_download(tmp_path):
    images = [jpeg_bytes(seed=1), None, jpeg_bytes(seed=2)]
    for struct in (False, True):
        path = write_bytes_parquet(tmp_path / f"b{struct}.parquet", images, CAPTIONS, struct)
        cfg = UrlListConfig(image_column="jpg")
        assert not needs_download(cfg, "parquet") and needs_download(UrlListConfig(), "parquet")
        rows = read(path, cfg)
        assert rows[0].data == images[0] and rows[0].url == "" and rows[0].caption == CAPTIONS[0]
        assert isinstance(rows[1], Rejection) and rows[1].reason == "missing_image"
        assert rows[2].data == images[2]


def test_oversized_image_bytes_are_rejected(tmp_path):
    path = write_bytes_parquet(tmp_path / "b.parquet", [jpeg_bytes()], ["A big one here"])
    rows = read(path, UrlListConfig(image_column="jpg", max_image_bytes=100))
    assert rows[0].reason == "too_large"


def test_webdataset_tar(tmp_path):
    img = jpeg_bytes(seed=3)
    meta = json.dumps({"url": "http://img.example/z.png", "caption": "from json"}).encode()
    path = write_webdataset(
        tmp_path / "000.tar",
        [
            {"jpg": img, "txt": b"A caption from txt"},
            {"png": img, "json": meta},  # caption and URL from the json member
            {"txt": b"No image in this sample"},
            {"webp": img, "json": b"{broken"},
        ],
    )
    rows = read(path)
    assert isinstance(rows[0], PairSource) and rows[0].caption == "A caption from txt"
    assert rows[0].data == img and rows[0].key == f"{path}#000000"
    assert (rows[1].caption, rows[1].url) == ("from json", "http://img.example/z.png")
    assert [r.reason for r in rows[2:]] == ["missing_image", "malformed_row"]


def test_truncated_tar_keeps_samples_before_the_damage(tmp_path):
    good = write_webdataset(
        tmp_path / "t.tar", [{"jpg": jpeg_bytes(seed=i), "txt": b"caption"} for i in range(4)]
    )
    cut = tmp_path / "cut.tar"
    cut.write_bytes(good.read_bytes()[:3000])
    rows = read(cut)
    assert isinstance(rows[-1], Rejection) and rows[-1].reason == "corrupt_tar"
    assert all(isinstance(r, PairSource) for r in rows[:-1])


def test_webdataset_member_names():
    assert split_member_name("shard/abc.seg.jpg") == ("shard/abc", "seg.jpg")
    assert split_member_name("000001.TXT") == ("000001", "txt")


def test_sample_ids_are_stable():
    assert pair_sample_id("u", "c") == pair_sample_id("u", "c") != pair_sample_id("u", "d")
    assert pair_sample_id("", "c", "k1") != pair_sample_id("", "c", "k2")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["x.csv", "x.tsv", "x.jsonl", "x.tar"]))
def test_no_bytes_crash_the_readers(data, name):
    header = b"url\tcaption\n" if name == "x.tsv" else b"url,caption\n"
    body = header + data if name.endswith("sv") else data
    try:
        rows = list(iter_pairs(io.BytesIO(body), name, UrlListConfig()))
    except UrlListError as err:
        assert err.reason == "missing_column"
        return
    for row in rows:
        assert isinstance(row, (PairSource, Rejection))
        if isinstance(row, PairSource):
            assert row.url or row.data


def test_tar_members_that_are_not_files_are_skipped(tmp_path):
    path = tmp_path / "d.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("adir")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        data = jpeg_bytes()
        info = tarfile.TarInfo("k.jpg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    rows = read(path)
    assert len(rows) == 1 and rows[0].data == data and rows[0].caption == ""
