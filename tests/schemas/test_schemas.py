"""Schemas: versions in Arrow metadata, version checks, and validate() naming the field."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import (
    DOCUMENT_SCHEMA,
    M3W_SCHEMA,
    REJECTION_SCHEMA,
    Document,
    ImageNode,
    ImageRecord,
    M3WSample,
    Rejection,
    SchemaValidationError,
    SchemaVersionError,
    TextNode,
    check_schema,
    document_to_row,
    m3w_sample_to_row,
    make_doc_id,
    read_table,
    rejection_to_row,
    row_to_m3w_sample,
    validate,
)
from schemas.base import NAME_KEY, VERSION_KEY, schema_identity, versioned


def _image(i: int = 0) -> ImageRecord:
    return ImageRecord(
        b"\xff\xd8jpeg" + bytes([i]),
        f"https://a.example/{i}.jpg",
        "ab" * 32,
        2**64 - 1 - i,
        320,
        240,
    )


def _sample() -> M3WSample:
    return M3WSample(
        "d1", 0, "https://a.example/", "<image>hi<|endofchunk|>", (_image(),), 7, "tok"
    )


def test_every_schema_carries_name_and_version():
    assert schema_identity(M3W_SCHEMA) == ("m3w_sample", 1)
    assert schema_identity(DOCUMENT_SCHEMA) == ("document", 1)
    assert schema_identity(REJECTION_SCHEMA) == ("rejection", 1)


def test_m3w_row_round_trips_through_parquet(tmp_path):
    sample = _sample()
    table = pa.Table.from_pylist([m3w_sample_to_row(sample)], schema=M3W_SCHEMA)
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    back = read_table(path, M3W_SCHEMA).to_pylist()
    assert row_to_m3w_sample(back[0]) == sample
    # The 64-bit phash survives as an unsigned integer.
    assert back[0]["images"][0]["phash"] == 2**64 - 1


def test_reader_refuses_other_version_naming_file(tmp_path):
    old = versioned(M3W_SCHEMA, "m3w_sample", 0)
    path = tmp_path / "old.parquet"
    pq.write_table(pa.Table.from_pylist([m3w_sample_to_row(_sample())], schema=old), path)
    with pytest.raises(SchemaVersionError, match=r"old\.parquet.*version 0.*version 1"):
        read_table(path, M3W_SCHEMA)


def test_reader_refuses_other_record_kind_and_unversioned(tmp_path):
    path = tmp_path / "rej.parquet"
    pq.write_table(
        pa.Table.from_pylist([rejection_to_row(Rejection("s", "r", "k"))], schema=REJECTION_SCHEMA),
        path,
    )
    with pytest.raises(SchemaVersionError, match="'rejection' records, expected 'm3w_sample'"):
        read_table(path, M3W_SCHEMA)
    bare = tmp_path / "bare.parquet"
    pq.write_table(pa.table({"x": [1]}), bare)
    with pytest.raises(SchemaVersionError, match="no interleaf schema metadata"):
        read_table(bare, M3W_SCHEMA)


def test_check_schema_accepts_same_version():
    check_schema(M3W_SCHEMA, M3W_SCHEMA)
    meta = dict(M3W_SCHEMA.metadata)
    assert meta[NAME_KEY] == b"m3w_sample" and meta[VERSION_KEY] == b"1"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.pop("text"), "text: missing"),
        (lambda r: r.update(num_tokens="7"), "num_tokens: expected int"),
        (lambda r: r.update(chunk_index=2**40), "chunk_index: .* out of range"),
        (lambda r: r["images"][0].update(phash=-1), r"images\[0\]\.phash: -1 out of range"),
        (lambda r: r["images"][0].update(bytes="str"), r"images\[0\]\.bytes: expected"),
        (lambda r: r["images"][0].pop("sha256"), r"images\[0\]\.sha256: missing"),
        (lambda r: r.update(doc_id=None), "doc_id: null in a non-nullable field"),
        (lambda r: r.update(extra=1), "extra: field not in schema"),
        (lambda r: r.update(images="x"), "images: expected a list"),
    ],
)
def test_validate_names_the_offending_field(mutate, field):
    row = m3w_sample_to_row(_sample())
    validate(row, M3W_SCHEMA)  # valid as built
    mutate(row)
    with pytest.raises(SchemaValidationError, match=field):
        validate(row, M3W_SCHEMA)


def test_document_row_is_valid_and_keeps_order():
    doc = Document(
        make_doc_id("https://a.example/", "x#0"),
        "https://a.example/",
        nodes=(
            TextNode("one"),
            ImageNode("https://a.example/i.jpg", "alt", 10, None),
            TextNode("two"),
        ),
    )
    row = document_to_row(doc)
    validate(row, DOCUMENT_SCHEMA)
    assert [n["kind"] for n in row["nodes"]] == ["text", "image", "text"]
    assert doc.text == "one\ntwo" and len(doc.images) == 1


def test_doc_id_is_stable_and_depends_on_source():
    assert make_doc_id("u", "a") == make_doc_id("u", "a")
    assert make_doc_id("u", "a") != make_doc_id("u", "b")
    assert len(make_doc_id("u")) == 24


def _roundtrip(rows, schema, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return read_table(path, schema).to_pylist()


def test_pair_video_and_eval_index_rows_round_trip(tmp_path):
    from schemas import (
        EVAL_INDEX_SCHEMA,
        PAIR_SCHEMA,
        VIDEO_SCHEMA,
        EvalIndexEntry,
        PairSample,
        VideoSample,
        eval_entry_to_row,
        pair_sample_to_row,
        row_to_eval_entry,
        row_to_pair_sample,
        row_to_video_sample,
        video_sample_to_row,
    )

    pair = PairSample("p1", "https://a.example/i.jpg", "a red boat", _image(3))
    row = pair_sample_to_row(pair)
    validate(row, PAIR_SCHEMA)
    assert row_to_pair_sample(_roundtrip([row], PAIR_SCHEMA, tmp_path)[0]) == pair

    video = VideoSample(
        "v1", "https://a.example/v.mp4", "waves", (b"j1", b"j2"), (0.0, 1.0), 1.0, 2.0, 64, 48
    )
    row = video_sample_to_row(video)
    validate(row, VIDEO_SCHEMA)
    assert row_to_video_sample(_roundtrip([row], VIDEO_SCHEMA, tmp_path)[0]) == video

    entries = [
        EvalIndexEntry("coco", "val", "42", 2**63 + 5, None, None, (0.5, -0.25)),
        EvalIndexEntry("vizwiz", "val", "7", 3, 9, "ab" * 32),
    ]
    rows = [eval_entry_to_row(e) for e in entries]
    for r in rows:
        validate(r, EVAL_INDEX_SCHEMA)
    back = _roundtrip(rows, EVAL_INDEX_SCHEMA, tmp_path)
    assert [row_to_eval_entry(r) for r in back] == entries


def test_decontam_hit_and_eval_thumbnail_rows_round_trip(tmp_path):
    from schemas import (
        DECONTAM_HIT_SCHEMA,
        THUMBNAIL_SCHEMA,
        DecontamHit,
        hit_to_row,
        row_to_hit,
    )

    hits = [
        # 0.5 is exact in float32, so equality after the round trip is meaningful.
        DecontamHit("https://a.example/i.jpg", "coco", "val", "42", 3, 0.5, b"\xff\xd8j", "/ix"),
        DecontamHit("https://a.example/j.jpg", "vizwiz", "test", "7", 0, None, b"t", "gs://ix"),
    ]
    rows = [hit_to_row(h) for h in hits]
    for r in rows:
        validate(r, DECONTAM_HIT_SCHEMA)
    assert [row_to_hit(r) for r in _roundtrip(rows, DECONTAM_HIT_SCHEMA, tmp_path)] == hits

    thumbs = [{"image_id": "42", "thumbnail": b"\xff\xd8t"}]
    validate(thumbs[0], THUMBNAIL_SCHEMA)
    assert _roundtrip(thumbs, THUMBNAIL_SCHEMA, tmp_path) == thumbs
    with pytest.raises(SchemaValidationError, match="thumbnail: null"):
        validate({"image_id": "1", "thumbnail": None}, THUMBNAIL_SCHEMA)


def test_decontam_hit_and_eval_thumbnail_keep_their_v1_identity_and_layout():
    """Runs and indexes written before these schemas moved into `schemas` must still read."""
    from schemas import DECONTAM_HIT_SCHEMA, THUMBNAIL_SCHEMA

    assert schema_identity(DECONTAM_HIT_SCHEMA) == ("decontam_hit", 1)
    assert schema_identity(THUMBNAIL_SCHEMA) == ("eval_thumbnail", 1)
    layout = [(f.name, str(f.type), f.nullable) for f in DECONTAM_HIT_SCHEMA]
    assert layout == [
        ("key", "string", False),
        ("dataset", "string", False),
        ("split", "string", False),
        ("image_id", "string", False),
        ("distance", "int32", False),
        ("cosine", "float", True),
        ("thumbnail", "binary", False),
        ("eval_index", "string", False),
    ]
    layout = [(f.name, str(f.type), f.nullable) for f in THUMBNAIL_SCHEMA]
    assert layout == [("image_id", "string", False), ("thumbnail", "binary", False)]
    # A file stamped with another version is refused, naming both versions.
    with pytest.raises(SchemaVersionError, match=r"version 2.*version 1"):
        check_schema(versioned(DECONTAM_HIT_SCHEMA, "decontam_hit", 2), DECONTAM_HIT_SCHEMA)
    with pytest.raises(SchemaVersionError, match="'eval_thumbnail' records, expected"):
        check_schema(THUMBNAIL_SCHEMA, DECONTAM_HIT_SCHEMA)
