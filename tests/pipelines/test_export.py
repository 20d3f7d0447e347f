"""`curate export-webdataset`, and interleaf's Parquet outputs read by other tools unchanged."""

from __future__ import annotations

import argparse
import importlib
import json
import tarfile
from pathlib import Path
from typing import Any

import apache_beam as beam
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.testing import test_pipeline

from curation.export_mmc4 import normalise_text
from pipelines.export import REJECTIONS_FILE, add_parser
from pipelines.io import WriteRecords, WriteRejections
from schemas import (
    M3W_SCHEMA,
    REJECTION_SCHEMA,
    Rejection,
    m3w_sample_to_row,
    read_table,
    row_to_m3w_sample,
)
from schemas.records import END_OF_CHUNK as EOC
from tests.curation.test_export_mmc4 import big_jpeg, m3w_row, openflamingo_view, pixels
from tests.fixtures.images import jpeg_bytes


def run_export(argv: list[str]) -> int:
    """Run the subcommand through a parser built as `curate` builds it."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args, rest = parser.parse_known_args(["export-webdataset", *argv])
    return args.func(args, rest)


def good_rows() -> list[dict[str, Any]]:
    """Five convertible samples with 1-3 images each, in a known order."""
    rows = []
    for i in range(5):
        images = [big_jpeg(10 * i + k) for k in range(1 + i % 3)]
        body = f"{EOC}".join(f"<image>Caption {i}.{k}\nMore words" for k in range(len(images)))
        rows.append(m3w_row(f"Doc {i} intro.\n{body}{EOC}", images, f"doc{i}", i))
    return rows


@pytest.fixture(scope="module")
def m3w_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sample files (small row groups) with two unconvertible rows among good ones."""
    out = tmp_path_factory.mktemp("m3w")
    rows = good_rows()
    bad = [m3w_row("text only", [], "bad0"), m3w_row(f"x<image>y{EOC}", [], "bad1")]
    files = [[*rows[:2], bad[0]], [bad[1], *rows[2:]]]
    for i, part in enumerate(files):
        table = pa.Table.from_pylist(part, schema=M3W_SCHEMA)
        pq.write_table(table, out / f"samples-{i:05d}-of-00002.parquet", row_group_size=2)
    return out


def read_shards(out: Path) -> list[bytes]:
    """Every .json member of every shard, in shard then member order."""
    payloads = []
    for shard in sorted(out.glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                assert member.name.endswith(".json")
                payloads.append(tar.extractfile(member).read())  # type: ignore[union-attr]
    return payloads


def test_export_round_trips_texts_and_images_in_order(m3w_dir, tmp_path, capsys):
    out = tmp_path / "mmc4"
    assert run_export([str(m3w_dir), "--output", str(out), "--shard-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert "samples exported 5" in printed and "rows rejected    2" in printed
    assert f"--mmc4_shards    {out}/{{000000..000002}}.tar" in printed
    assert sorted(p.name for p in out.glob("*.tar")) == ["000000.tar", "000001.tar", "000002.tar"]
    assert json.loads((out / "sizes.json").read_text()) == {
        "000000.tar": 2,
        "000001.tar": 2,
        "000002.tar": 1,
    }
    views = [openflamingo_view(p) for p in read_shards(out)]
    for row, (text, images) in zip(good_rows(), views, strict=True):
        assert normalise_text(text) == normalise_text(row["text"])
        assert images == [pixels(i["bytes"]) for i in row["images"]]
    rejected = read_table(out / REJECTIONS_FILE, REJECTION_SCHEMA).to_pylist()
    assert [(r["stage"], r["reason"], r["key"]) for r in rejected] == [
        ("export", "no_images", "bad0#0"),
        ("export", "marker_image_mismatch", "bad1#0"),
    ]


def test_export_is_byte_identical_when_repeated(m3w_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_export([str(m3w_dir), "--output", str(a)]) == 0
    assert run_export([str(m3w_dir), "--output", str(b)]) == 0
    assert (a / "000000.tar").read_bytes() == (b / "000000.tar").read_bytes()
    assert not list(a.glob(".*.tmp"))


def test_webdataset_reads_the_shards_as_openflamingo_does(m3w_dir, tmp_path):
    wds = importlib.import_module("webdataset")
    out = tmp_path / "mmc4"
    run_export([str(m3w_dir), "--output", str(out), "--shard-size", "3"])
    urls = [str(p) for p in sorted(out.glob("*.tar"))]
    # The stages of open_flamingo's get_mmc4_dataset, without the shuffles.
    pipeline = wds.DataPipeline(
        wds.SimpleShardList(urls), wds.tarfile_to_samples(), wds.to_tuple("json")
    )
    docs = [json.loads(payload) for (payload,) in pipeline]
    assert [d["doc_id"] for d in docs] == [f"doc{i}" for i in range(5)]


def test_text_only_samples_exported_when_asked(m3w_dir, tmp_path, capsys):
    out = tmp_path / "mmc4"
    assert run_export([str(m3w_dir), "--output", str(out), "--keep-text-only"]) == 0
    assert "samples exported 6" in capsys.readouterr().out
    assert len(read_shards(out)) == 6


def test_user_errors(m3w_dir, tmp_path):
    from pipelines.cli import CliError

    out = tmp_path / "mmc4"
    with pytest.raises(CliError, match="no samples"):
        run_export([str(tmp_path), "--output", str(out)])
    with pytest.raises(CliError, match="unknown options"):
        run_export([str(m3w_dir), "--output", str(out), "--runner", "DataflowRunner"])
    with pytest.raises(CliError, match="shard-size"):
        run_export([str(m3w_dir), "--output", str(out), "--shard-size", "0"])
    assert run_export([str(m3w_dir), "--output", str(out)]) == 0
    with pytest.raises(CliError, match="--overwrite"):
        run_export([str(m3w_dir), "--output", str(out)])
    assert run_export([str(m3w_dir), "--output", str(out), "--overwrite"]) == 0
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    pq.write_table(pa.table({"x": [1]}), wrong / "samples-00000-of-00001.parquet")
    with pytest.raises(CliError, match="no interleaf schema"):
        run_export([str(wrong), "--output", str(tmp_path / "o2")])


# --- interop: the Parquet outputs, read by other tools ---------------------------------------


@pytest.fixture(scope="module")
def beam_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Samples and rejections written by the pipelines' own Parquet writer."""
    out = tmp_path_factory.mktemp("beam_out")
    samples = [row_to_m3w_sample(r) for r in good_rows()]
    rejections = [Rejection("filter_text", "too_few_words", f"u{i}", "3 words") for i in range(4)]
    with test_pipeline.TestPipeline() as p:
        _ = (
            p
            | "Samples" >> beam.Create(samples)
            | WriteRecords(str(out), "samples", M3W_SCHEMA, m3w_sample_to_row, num_shards=2)
        )
        _ = p | "Rejections" >> beam.Create(rejections) | WriteRejections(str(out), 1)
    return out


def _files(out: Path, name: str) -> list[str]:
    files = sorted(str(p) for p in out.glob(f"{name}-*.parquet"))
    assert files
    return files


def test_pandas_reads_outputs_unchanged(beam_outputs):
    samples = pd.concat(pd.read_parquet(f) for f in _files(beam_outputs, "samples"))
    assert list(samples.columns) == M3W_SCHEMA.names
    by_doc = {r["doc_id"]: r for r in samples.to_dict("records")}
    for row in good_rows():
        got = by_doc[row["doc_id"]]
        assert got["text"] == row["text"]
        assert [i["bytes"] for i in got["images"]] == [i["bytes"] for i in row["images"]]
    rejections = pd.read_parquet(_files(beam_outputs, "rejections")[0])
    assert set(rejections["reason"]) == {"too_few_words"} and len(rejections) == 4


def test_pyarrow_dataset_reads_outputs_unchanged(beam_outputs):
    table = ds.dataset(_files(beam_outputs, "samples"), format="parquet").to_table()
    assert table.num_rows == 5
    assert table.schema.field("images").type == M3W_SCHEMA.field("images").type
    assert table.schema.metadata[b"interleaf.schema"] == b"m3w_sample"
    rejections = ds.dataset(_files(beam_outputs, "rejections"), format="parquet").to_table()
    assert rejections.schema.names == REJECTION_SCHEMA.names


def test_duckdb_reads_outputs_unchanged(beam_outputs):
    duckdb = importlib.import_module("duckdb")
    glob = str(beam_outputs / "samples-*.parquet")
    con = duckdb.connect()
    counts = con.execute(f"SELECT count(*), sum(len(images)) FROM read_parquet('{glob}')")
    assert counts.fetchall() == [(5, sum(len(r["images"]) for r in good_rows()))]
    reasons = con.execute(
        f"SELECT reason, count(*) FROM read_parquet('{beam_outputs}/rejections-*.parquet') "
        "GROUP BY reason"
    ).fetchall()
    assert reasons == [("too_few_words", 4)]


def test_hf_datasets_reads_outputs_unchanged(beam_outputs, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # read at import: no hub look-ups
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = importlib.import_module("datasets")
    loaded = datasets.load_dataset(
        "parquet",
        data_files=_files(beam_outputs, "samples"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded.num_rows == 5
    first = {r["doc_id"]: r for r in good_rows()}[loaded[0]["doc_id"]]
    assert loaded[0]["text"] == first["text"]
    assert loaded[0]["images"][0]["bytes"] == first["images"][0]["bytes"]
    rejections = datasets.load_dataset(
        "parquet",
        data_files=_files(beam_outputs, "rejections"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert rejections.column_names == REJECTION_SCHEMA.names


def test_small_images_are_counted_as_openflamingo_would_skip_them(tmp_path, capsys):
    src = tmp_path / "m3w"
    src.mkdir()
    row = m3w_row(f"a\n<image>b{EOC}<image>c{EOC}", [jpeg_bytes(), big_jpeg(1)])
    assert len(row["images"][0]["bytes"]) < 10_000
    pq.write_table(
        pa.Table.from_pylist([row], schema=M3W_SCHEMA), src / "samples-00000-of-00001.parquet"
    )
    assert run_export([str(src), "--output", str(tmp_path / "out")]) == 0
    assert "images ≤ 10 KB   1 (OpenFlamingo skips these)" in capsys.readouterr().out


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        run_export(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "curate export-webdataset out/ --output out/mmc4" in out and "--shard-size" in out
