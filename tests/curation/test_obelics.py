"""OBELICS-style Parquet rows → Documents, and a rejection for every bad row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.obelics import (
    ObelicsFileError,
    ObelicsRowError,
    iter_obelics_file,
    obelics_row_to_document,
)
from schemas.records import Document, ImageNode, Rejection, TextNode, make_doc_id

IMG_META = {"alt_text": "a cat", "src": "http://x/cat.jpg", "original_width": 640}


def good_row(i: int = 0) -> dict[str, Any]:
    """A row in the OBELICS release layout: JSON strings for metadata, url in general_metadata."""
    return {
        "texts": [f"Intro {i}.", None, f"Body {i}."],
        "images": [None, f"http://x/img{i}.jpg", None],
        "metadata": json.dumps([None, {**IMG_META, "original_height": "480"}, None]),
        "general_metadata": json.dumps(
            {"url": f"http://x/doc{i}", "warc_filename": "cc.warc.gz", "warc_record_offset": 9}
        ),
    }


def write_parquet(path: Path, rows: list[dict[str, Any]], **kw: Any) -> str:
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, path, **kw)
    return str(path)


def test_row_to_document() -> None:
    doc = obelics_row_to_document(good_row(3), "f.parquet#row7")
    assert doc.url == "http://x/doc3"
    assert doc.doc_id == make_doc_id("http://x/doc3", "f.parquet#row7")
    assert doc.source == "f.parquet#row7"
    assert doc.nodes == (
        TextNode("Intro 3."),
        ImageNode("http://x/img3.jpg", "a cat", 640, 480),
        TextNode("Body 3."),
    )


def test_url_column_wins_and_fetch_time_comes_from_general_metadata() -> None:
    row = {**good_row(), "url": "http://y/", "general_metadata": '{"date": "2023-02-01"}'}
    doc = obelics_row_to_document(row, "s")
    assert (doc.url, doc.fetch_time) == ("http://y/", "2023-02-01")
    row["general_metadata"] = {"fetch_time": "2024-01-01T00:00:00Z"}  # already decoded
    assert obelics_row_to_document(row, "s").fetch_time == "2024-01-01T00:00:00Z"


def test_optional_columns_may_be_absent_and_blank_text_is_dropped() -> None:
    row = {"texts": ["  ", None, "t"], "images": [None, "http://x/i.png", None], "url": "http://x"}
    doc = obelics_row_to_document(row, "s")
    assert doc.nodes == (ImageNode("http://x/i.png"), TextNode("t"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"images": [None, "http://x/i.jpg"]}, "misaligned_lists"),
        ({"texts": None}, "misaligned_lists"),
        ({"texts": ["a", None, None]}, "both_null_node"),
        ({"texts": ["a", "b", "c"]}, "both_set_node"),
        ({"metadata": "{not json"}, "bad_metadata_json"),
        ({"metadata": json.dumps([None, None])}, "bad_metadata_json"),
        ({"metadata": json.dumps([None, "x", None])}, "bad_metadata_json"),
        ({"metadata": json.dumps({"a": 1})}, "bad_metadata_json"),
        ({"general_metadata": "[1, 2"}, "bad_metadata_json"),
        ({"general_metadata": json.dumps([1])}, "bad_metadata_json"),
        ({"general_metadata": json.dumps({"warc_filename": "x"})}, "missing_url"),
        ({"general_metadata": None, "url": " "}, "missing_url"),
        ({"texts": [], "images": [], "metadata": "[]"}, "empty_document"),
        (
            {"texts": [" ", "\n"], "images": [None, None], "metadata": "[null, null]"},
            "empty_document",
        ),
    ],
)
def test_each_bad_row_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ObelicsRowError) as info:
        obelics_row_to_document({**good_row(), **change}, "s")
    assert info.value.reason == reason
    assert info.value.detail


def test_bad_declared_sizes_become_none() -> None:
    meta = [None, {"original_width": "wide", "original_height": -3}, None]
    doc = obelics_row_to_document({**good_row(), "metadata": json.dumps(meta)}, "s")
    (img,) = doc.images
    assert (img.width, img.height) == (None, None)


def test_iter_file_streams_documents_and_rejections(tmp_path: Path) -> None:
    rows = [good_row(i) for i in range(7)]
    rows[2] = {**rows[2], "texts": [None, None, "x"]}
    rows[5] = {**rows[5], "metadata": "{"}
    path = write_parquet(tmp_path / "o.parquet", rows, row_group_size=3)
    items = list(iter_obelics_file(path, batch_size=2))
    assert [type(x).__name__ for x in items] == ["Document"] * 2 + ["Rejection"] + [
        "Document"
    ] * 2 + ["Rejection", "Document"]
    assert [x.source for x in items if isinstance(x, Document)] == [
        f"{path}#row{i}" for i in (0, 1, 3, 4, 6)
    ]
    rejected = [(r.stage, r.reason, r.key) for r in items if isinstance(r, Rejection)]
    assert rejected == [
        ("read", "both_null_node", f"{path}#row2"),
        ("read", "bad_metadata_json", f"{path}#row5"),
    ]


def test_extra_columns_are_ignored_and_large_types_accepted(tmp_path: Path) -> None:
    schema = pa.schema(
        [
            ("texts", pa.large_list(pa.large_string())),
            ("images", pa.list_(pa.string())),
            ("url", pa.string()),
            ("other", pa.int64()),
        ]
    )
    table = pa.Table.from_pylist(
        [{"texts": ["a"], "images": [None], "url": "http://u", "other": 1}], schema
    )
    pq.write_table(table, tmp_path / "l.parquet")
    (doc,) = iter_obelics_file(str(tmp_path / "l.parquet"))
    assert isinstance(doc, Document) and doc.nodes == (TextNode("a"),)


@pytest.mark.parametrize("missing", ["texts", "images"])
def test_missing_column_is_a_clear_file_error(tmp_path: Path, missing: str) -> None:
    row = {k: v for k, v in good_row().items() if k != missing}
    path = write_parquet(tmp_path / "m.parquet", [row])
    with pytest.raises(ObelicsFileError, match=rf"m\.parquet.*missing column '{missing}'"):
        list(iter_obelics_file(path))


def test_mistyped_column_is_a_clear_file_error(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "t.parquet", [{"texts": "flat", "images": ["x"]}])
    with pytest.raises(ObelicsFileError, match="'texts' is string"):
        list(iter_obelics_file(path))


def test_not_parquet_raises_value_error(tmp_path: Path) -> None:
    (tmp_path / "n.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(ValueError):
        list(iter_obelics_file(str(tmp_path / "n.parquet")))


def test_corrupt_row_group_costs_only_its_rows(tmp_path: Path) -> None:
    rows = [good_row(i) for i in range(9)]
    path = write_parquet(tmp_path / "c.parquet", rows, row_group_size=3, compression="gzip")
    meta = pq.ParquetFile(path).metadata.row_group(1)
    data = bytearray(Path(path).read_bytes())
    for c in range(meta.num_columns):
        col = meta.column(c)
        # A column chunk starts at its dictionary page when it has one.
        start = col.dictionary_page_offset or col.data_page_offset
        for p in range(start + 20, start + col.total_compressed_size - 4):
            data[p] ^= 0x5A
    Path(path).write_bytes(bytes(data))
    items = list(iter_obelics_file(path))
    docs = [x for x in items if isinstance(x, Document)]
    assert [d.source for d in docs] == [f"{path}#row{i}" for i in (0, 1, 2, 6, 7, 8)]
    assert [(r.reason, r.key) for r in items if isinstance(r, Rejection)] == [
        ("corrupt_row_group", f"{path}#rowgroup1")
    ]


_cell = st.one_of(st.none(), st.text(max_size=8))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_cell, max_size=6),
    st.lists(_cell, max_size=6),
    st.one_of(st.none(), st.text(max_size=20), st.just("[null, {}]")),
    st.one_of(st.none(), st.text(max_size=20), st.just('{"url": "http://z"}')),
)
def test_any_row_gives_a_document_or_a_row_error(texts, images, meta, general) -> None:
    row = {"texts": texts, "images": images, "metadata": meta, "general_metadata": general}
    try:
        doc = obelics_row_to_document(row, "s")
    except ObelicsRowError as err:
        assert err.reason in {
            "misaligned_lists",
            "both_null_node",
            "both_set_node",
            "bad_metadata_json",
            "missing_url",
            "empty_document",
        }
    else:
        assert doc.url and doc.nodes
        assert len(doc.nodes) <= len(texts)
