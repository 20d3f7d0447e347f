"""Building the eval index from each source kind, incrementally, and searching it."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.eval_index import (
    EMBEDDING_MODEL_KEY,
    EvalIndexError,
    EvalMatch,
    check_dataset_name,
    dataset_files,
    hash_eval_image,
    load_eval_index,
    read_thumbnails,
    rejected_path,
)
from curation.eval_sources import (
    build_eval_dataset,
    coco_tasks,
    image_file_tasks,
    parquet_tasks,
)
from curation.images import ImageRejected
from schemas import EVAL_INDEX_SCHEMA, REJECTION_SCHEMA, SchemaVersionError, read_table
from tests.fixtures.eval_sets import (
    FakeEmbedder,
    crawl_phash,
    cropped,
    photo,
    resized,
    write_coco,
    write_folder,
    write_parquet,
)
from tests.fixtures.images import jpeg_bytes, truncated_jpeg


def _rows(path) -> list[dict]:
    return read_table(path, EVAL_INDEX_SCHEMA).to_pylist()


def test_folder_source_hashes_every_image_like_the_crawl(tmp_path):
    written = write_folder(tmp_path / "imgs", ["harbour", "forest", "city"], nested=True)
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    result = build_eval_dataset(
        str(tmp_path / "index"),
        "set-a",
        "val",
        image_file_tasks(str(tmp_path / "imgs")),
        progress=False,
    )
    rows = _rows(result.path)
    assert {r["image_id"]: r["phash"] for r in rows} == {
        i: crawl_phash(b) for i, b in written.items()
    }
    assert {r["dataset"] for r in rows} == {"set-a"} and {r["split"] for r in rows} == {"val"}
    assert all(r["sha256"] and r["embedding"] is None for r in rows)
    assert result.entries == 3 and result.rejections == ()


def test_glob_source_uses_the_path_below_the_fixed_prefix(tmp_path):
    write_folder(tmp_path / "imgs", ["one", "two", "three"])
    tasks = image_file_tasks(str(tmp_path / "imgs" / "t*.jpg"))
    assert [t.image_id for t in tasks] == ["three", "two"]
    with pytest.raises(EvalIndexError) as e:
        image_file_tasks(str(tmp_path / "imgs" / "*.png"))
    assert e.value.reason == "no_images"


@pytest.mark.parametrize("as_struct", [False, True])
@pytest.mark.parametrize("with_ids", [False, True])
def test_parquet_source_reads_bytes_or_hf_structs(tmp_path, as_struct, with_ids):
    keys = ["p0", "p1", "p2", "p3", "p4"]
    images = write_parquet(tmp_path / "set.parquet", keys, as_struct, with_ids)
    tasks = parquet_tasks(str(tmp_path / "set.parquet"), "image", "qid" if with_ids else None)
    assert len(tasks) == 3  # row groups of 2
    result = build_eval_dataset(str(tmp_path / "ix"), "pq", "test", tasks, progress=False)
    got = {r["image_id"]: r["phash"] for r in _rows(result.path)}
    if with_ids:
        want_ids = [f"q{i}" for i in range(5)]
    elif as_struct:
        want_ids = keys  # the file name inside the struct
    else:
        want_ids = [f"set-{i}" for i in range(5)]  # file stem and row number
    assert got == {i: crawl_phash(images[k]) for i, k in zip(want_ids, keys, strict=True)}


def test_parquet_source_errors_name_the_problem(tmp_path):
    write_parquet(tmp_path / "set.parquet", ["a"])
    with pytest.raises(EvalIndexError) as e:
        parquet_tasks(str(tmp_path / "set.parquet"), "pixels")
    assert e.value.reason == "missing_column" and "pixels" in e.value.detail
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(EvalIndexError) as e:
        parquet_tasks(str(tmp_path / "bad.parquet"), "image")
    assert e.value.reason == "bad_parquet"


def test_coco_source_keys_by_image_id_and_rejects_missing_files(tmp_path):
    ann = write_coco(tmp_path / "coco", ["c0", "c1"], missing=["gone"])
    tasks = coco_tasks(str(ann), str(tmp_path / "coco" / "images"))
    result = build_eval_dataset(str(tmp_path / "ix"), "coco-val2014", "val", tasks, progress=False)
    ids = sorted(r["image_id"] for r in _rows(result.path))
    assert ids == ["100", "101"]
    assert [(r.reason, r.stage) for r in result.rejections] == [("missing_image", "evalset_index")]
    rejected = read_table(rejected_path(str(tmp_path / "ix"), "coco-val2014"), REJECTION_SCHEMA)
    assert rejected.num_rows == 1 and "coco-val2014/102" in rejected.column("detail")[0].as_py()
    (tmp_path / "bad.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(EvalIndexError) as e:
        coco_tasks(str(tmp_path / "bad.json"), str(tmp_path))
    assert e.value.reason == "bad_annotations"


def test_undecodable_eval_images_are_rejected_not_dropped(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(photo("good"))
    (folder / "cut.jpg").write_bytes(truncated_jpeg())
    (folder / "tiny.jpg").write_bytes(jpeg_bytes(32, 32))  # CIFAR-sized: must be indexed
    result = build_eval_dataset(
        str(tmp_path / "ix"), "mixed", "val", image_file_tasks(str(folder)), progress=False
    )
    assert sorted(r["image_id"] for r in _rows(result.path)) == ["good", "tiny"]
    assert [r.reason for r in result.rejections] == ["decode_error"]
    assert rejected_path(str(tmp_path / "ix"), "mixed").endswith("rejected/mixed.parquet")


def test_adding_a_dataset_leaves_the_others_untouched(tmp_path):
    index = tmp_path / "ix"
    write_folder(tmp_path / "a", ["a1", "a2"])
    write_folder(tmp_path / "b", ["b1"])
    a = build_eval_dataset(
        str(index), "set-a", "val", image_file_tasks(str(tmp_path / "a")), progress=False
    )
    before = (index / "set-a.parquet").read_bytes(), (index / "set-a.parquet").stat().st_mtime_ns
    build_eval_dataset(
        str(index), "set-b", "val", image_file_tasks(str(tmp_path / "b")), progress=False
    )
    assert (
        (index / "set-a.parquet").read_bytes(),
        (index / "set-a.parquet").stat().st_mtime_ns,
    ) == before
    assert [p.rsplit("/", 1)[-1] for p in dataset_files(str(index))] == [
        "set-a.parquet",
        "set-b.parquet",
    ]
    loaded = load_eval_index(str(index), radius=8)
    assert loaded.counts() == {"set-a": 2, "set-b": 1} and a.entries == 2
    # Rebuilding one dataset replaces only its own rows.
    write_folder(tmp_path / "a2", ["a3"])
    build_eval_dataset(
        str(index), "set-a", "val", image_file_tasks(str(tmp_path / "a2")), progress=False
    )
    assert load_eval_index(str(index), radius=8).counts() == {"set-a": 1, "set-b": 1}


def test_search_finds_exact_and_near_copies_and_nothing_else(tmp_path):
    written = write_folder(tmp_path / "imgs", ["harbour", "forest", "city", "desert"])
    build_eval_dataset(
        str(tmp_path / "ix"), "ev", "val", image_file_tasks(str(tmp_path / "imgs")), progress=False
    )
    index = load_eval_index(str(tmp_path / "ix"), radius=8)
    queries = [
        crawl_phash(written["forest"]),
        crawl_phash(cropped(resized(written["city"]), keep=0.95)),
        crawl_phash(photo("somewhere-else")),
    ]
    exact, near, none = index.nearest(queries)
    assert exact == EvalMatch("ev", "val", "forest", 0)
    assert near is not None and near.image_id == "city" and 0 < near.distance <= 8
    assert none is None
    assert exact.describe() == "ev/forest distance=0"


def test_thumbnails_and_embeddings_are_stored_with_the_model_name(tmp_path):
    write_folder(tmp_path / "imgs", ["x", "y"])
    build_eval_dataset(
        str(tmp_path / "ix"),
        "emb",
        "val",
        image_file_tasks(str(tmp_path / "imgs")),
        embedder=FakeEmbedder(),
        progress=False,
    )
    path = tmp_path / "ix" / "emb.parquet"
    assert pq.read_schema(path).metadata[EMBEDDING_MODEL_KEY] == FakeEmbedder.name.encode()
    index = load_eval_index(str(tmp_path / "ix"), radius=8)
    assert index.embeddings is not None and index.embeddings.shape == (2, 512)
    assert index.embedding_model == FakeEmbedder.name
    thumbs = read_thumbnails(str(tmp_path / "ix"), "emb", {"x"})
    assert list(thumbs) == ["x"] and thumbs["x"][:2] == b"\xff\xd8"


def test_bad_names_foreign_files_and_missing_indexes_are_refused(tmp_path):
    for bad in ("../escape", "a/b", "", "has space"):
        with pytest.raises(EvalIndexError) as e:
            check_dataset_name(bad)
        assert e.value.reason == "bad_dataset_name"
    (tmp_path / "ix").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "ix" / "foreign.parquet")
    with pytest.raises(SchemaVersionError):
        load_eval_index(str(tmp_path / "ix"), radius=8)
    with pytest.raises(EvalIndexError) as e:
        load_eval_index(str(tmp_path / "nowhere"), radius=8)
    assert e.value.reason == "index_not_found"
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalIndexError) as e:
        dataset_files(str(tmp_path / "empty"))
    assert e.value.reason == "empty_index"
    with pytest.raises(ImageRejected):
        hash_eval_image(b"GIF89a-nope", "x", "d", "s")
