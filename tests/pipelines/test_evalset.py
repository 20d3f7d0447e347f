"""`curate evalset-index` (Beam job) from each source kind, incrementally, and
`curate decontam-report`, through a parser built with `pipelines.evalset.add_parser`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from curation.eval_index import load_eval_index, read_thumbnails
from pipelines.cli import CliError
from pipelines.evalset import add_parser
from schemas import EVAL_INDEX_SCHEMA, REJECTION_SCHEMA, read_table
from tests.fixtures.eval_sets import crawl_phash, write_coco, write_folder, write_parquet
from tests.fixtures.images import truncated_jpeg


def curate(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args, rest = parser.parse_known_args(list(argv))
    return args.func(args, rest)


def _ids(path: Path) -> dict[str, int]:
    rows = read_table(path, EVAL_INDEX_SCHEMA).to_pylist()
    return {r["image_id"]: r["phash"] for r in rows}


def test_folder_glob_parquet_and_coco_each_build_one_dataset(tmp_path, capsys):
    index = tmp_path / "index"
    folder = write_folder(tmp_path / "coco" / "val2014", ["v1", "v2", "v3"])
    pq_images = write_parquet(tmp_path / "vizwiz.parquet", ["z1", "z2", "z3"], as_struct=True)
    ann = write_coco(tmp_path / "karpathy", ["k1", "k2"])
    runs = [
        ("coco-val2014", "--images", str(tmp_path / "coco" / "val2014" / "*.jpg")),
        ("vizwiz-val", "--images", str(tmp_path / "vizwiz.parquet"), "--image-column", "image"),
        (
            "coco-karpathy",
            "--annotations",
            str(ann),
            "--images",
            str(tmp_path / "karpathy" / "images"),
        ),
    ]
    for name, *rest in runs:
        assert curate("evalset-index", "--name", name, *rest, "--output", str(index)) == 0
    assert _ids(index / "coco-val2014.parquet") == {k: crawl_phash(b) for k, b in folder.items()}
    assert _ids(index / "vizwiz-val.parquet") == {k: crawl_phash(b) for k, b in pq_images.items()}
    assert sorted(_ids(index / "coco-karpathy.parquet")) == ["100", "101"]
    assert load_eval_index(str(index), 8).counts() == {
        "coco-karpathy": 2,
        "coco-val2014": 3,
        "vizwiz-val": 3,
    }
    assert set(read_thumbnails(str(index), "vizwiz-val", {"z1", "z2", "z3"})) == {"z1", "z2", "z3"}
    # Only the published files remain: no staging or Beam temp files in the index.
    leftovers = [n for n in os.listdir(index) if n.startswith((".", "beam-temp"))]
    assert leftovers == [] and os.listdir(index / "rejected") == []
    assert sorted(os.listdir(index / "thumbnails")) == [
        "coco-karpathy.parquet",
        "coco-val2014.parquet",
        "vizwiz-val.parquet",
    ]
    assert "vizwiz-val: 3 images indexed, 0 rejected" in capsys.readouterr().out


def test_a_second_dataset_does_not_touch_the_first_and_rebuild_needs_overwrite(tmp_path):
    index = tmp_path / "index"
    write_folder(tmp_path / "a", ["a1", "a2"])
    write_folder(tmp_path / "b", ["b1"])
    assert (
        curate(
            "evalset-index",
            "--name",
            "set-a",
            "--images",
            str(tmp_path / "a"),
            "--output",
            str(index),
        )
        == 0
    )
    stat = (index / "set-a.parquet").stat()
    assert (
        curate(
            "evalset-index",
            "--name",
            "set-b",
            "--images",
            str(tmp_path / "b"),
            "--output",
            str(index),
        )
        == 0
    )
    assert (index / "set-a.parquet").stat().st_mtime_ns == stat.st_mtime_ns
    with pytest.raises(CliError, match="--overwrite"):
        curate(
            "evalset-index",
            "--name",
            "set-a",
            "--images",
            str(tmp_path / "b"),
            "--output",
            str(index),
        )
    assert (
        curate(
            "evalset-index",
            "--name",
            "set-a",
            "--images",
            str(tmp_path / "b"),
            "--output",
            str(index),
            "--overwrite",
        )
        == 0
    )
    assert sorted(_ids(index / "set-a.parquet")) == ["b1"]
    assert sorted(_ids(index / "set-b.parquet")) == ["b1"]


def test_unreadable_eval_images_are_listed_and_warned_about(tmp_path, capsys):
    folder = tmp_path / "imgs"
    write_folder(folder, ["ok"])
    (folder / "cut.jpg").write_bytes(truncated_jpeg())
    assert (
        curate(
            "evalset-index",
            "--name",
            "mixed",
            "--images",
            str(folder),
            "--output",
            str(tmp_path / "ix"),
        )
        == 0
    )
    assert sorted(_ids(tmp_path / "ix" / "mixed.parquet")) == ["ok"]
    rejected = read_table(
        tmp_path / "ix" / "rejected" / "mixed.parquet", REJECTION_SCHEMA
    ).to_pylist()
    assert [(r["stage"], r["reason"]) for r in rejected] == [("evalset_index", "decode_error")]
    assert "1 eval image(s) are NOT in the index" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--name", "../x", "--images", "{tmp}"], "bad_dataset_name"),
        (["--name", "x", "--images", "{tmp}/nothing-*.jpg"], "no_images"),
        (
            ["--name", "x", "--images", "{tmp}/p.parquet", "--image-column", "pixels"],
            "missing_column",
        ),
        (["--name", "x", "--images", "{tmp}", "--embed-model", "ViT-B-32"], "--embed-checkpoint"),
        (["--name", "x", "--images", "{tmp}", "--embed-checkpoint", "w.pt"], "needs --embed-model"),
    ],
)
def test_user_errors_are_cli_errors(tmp_path, argv, message):
    write_folder(tmp_path, ["one"])
    write_parquet(tmp_path / "p.parquet", ["p"])
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(CliError, match=message):
        curate("evalset-index", *argv, "--output", str(tmp_path / "ix"))


def test_decontam_report_command(tmp_path, capsys):
    with pytest.raises(CliError, match="not a directory"):
        curate("decontam-report", str(tmp_path / "missing"))
    run = tmp_path / "run"
    run.mkdir()
    assert curate("decontam-report", str(run)) == 0
    out = capsys.readouterr().out
    assert "report: " in out and (run / "decontam-report" / "index.html").is_file()
    with pytest.raises(CliError, match="unknown options"):
        curate("decontam-report", str(run), "--runner", "DirectRunner")


def test_the_beam_job_stores_embeddings_with_the_model_name(tmp_path):
    import apache_beam as beam
    import pyarrow.parquet as pq
    import torch

    from curation.embedding_verify import EmbeddingConfig
    from curation.eval_index import EMBEDDING_MODEL_KEY, EvalIndexConfig
    from curation.eval_sources import image_file_tasks
    from pipelines.evalset import build_evalset
    from tests.fixtures.eval_sets import TINY_CLIP_OVERRIDES

    torch.manual_seed(0)
    write_folder(tmp_path / "imgs", ["e1", "e2", "e3"])
    embedding = EmbeddingConfig("ViT-S-32", overrides=TINY_CLIP_OVERRIDES)
    staging = {k: str(tmp_path / f"{k}.parquet") for k in ("entries", "thumbnails", "rejected")}
    with beam.Pipeline() as p:
        build_evalset(
            p,
            image_file_tasks(str(tmp_path / "imgs")),
            "emb",
            "val",
            staging,
            EvalIndexConfig(),
            embedding,
        )
    table = read_table(staging["entries"], EVAL_INDEX_SCHEMA)
    assert table.num_rows == 3
    assert all(len(v) == 32 for v in table.column("embedding").to_pylist())
    assert (
        pq.read_schema(staging["entries"]).metadata[EMBEDDING_MODEL_KEY] == embedding.name.encode()
    )
