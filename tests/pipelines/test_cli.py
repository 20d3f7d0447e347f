"""`curate` end to end on the bundled sample crawl, checked against its manifest."""

from __future__ import annotations

import argparse
import glob
import json
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.tokenizer import load_tokenizer
from pipelines.cli import build_parser, main
from schemas import M3W_SCHEMA, REJECTION_SCHEMA, read_table
from schemas.records import END_OF_CHUNK, IMAGE_MARKER

# What the manifest's image status should become in the rejections.
IMAGE_STATUS_REASON = {
    "too_small": "too_small",
    "aspect": "bad_aspect_ratio",
    "corrupt": "decode_error",
    "bomb": "decompression_bomb",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    assert main(["make-sample", str(root)]) == 0
    return root


def _m3w(inputs: object, output: object, tokenizer: object, *extra: str) -> int:
    """`curate m3w --input INPUTS --output OUTPUT --tokenizer TOKENIZER EXTRA…`."""
    argv = ["--input", str(inputs), "--output", str(output), "--tokenizer", str(tokenizer)]
    return main(["m3w", *argv, *extra])


def _curate(sample: Path, out: Path, *extra: str) -> int:
    mirror = ["--mirror-dir", str(sample / "mirror"), "--no-http"]
    tile = ["--chunk-mode", "tile", "--quiet"]
    return _m3w(sample / "*.warc.gz", out, sample / "tokenizer", *mirror, *tile, *extra)


def _rows(out: Path, name: str) -> list[dict]:
    schema = M3W_SCHEMA if name == "samples" else REJECTION_SCHEMA
    rows: list[dict] = []
    for path in sorted(glob.glob(str(out / f"{name}-*.parquet"))):
        rows += read_table(path, schema).to_pylist()
    return rows


@pytest.fixture(scope="module")
def curated(sample, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("m3w")
    assert _curate(sample, out, "--overwrite") == 0
    return out


def test_samples_hold_the_flamingo_invariants(sample, curated):
    tok = load_tokenizer(str(sample / "tokenizer"))
    samples = _rows(curated, "samples")
    assert samples
    for s in samples:
        ids = tok(s["text"], add_special_tokens=False)["input_ids"]
        assert len(ids) == s["num_tokens"] <= 256
        assert len(s["images"]) <= 5
        assert s["text"].count(IMAGE_MARKER) == len(s["images"])
        if s["images"]:
            assert s["text"].endswith(END_OF_CHUNK)
        for img in s["images"]:
            assert img["width"] > 0 and img["height"] > 0 and 0 <= img["phash"] < 2**64
            assert max(img["width"], img["height"]) <= 1024


def test_images_follow_dom_order_and_decoys_never_appear(sample, curated):
    manifest = json.loads((sample / "manifest.json").read_text())
    by_url: dict[str, list[dict]] = defaultdict(list)
    for s in _rows(curated, "samples"):
        by_url[s["url"]].append(s)
    kept_pages = [p for p in manifest["pages"] if p["expect"] == "kept"]
    assert {p["url"] for p in kept_pages} == set(by_url)
    pages_with_images = 0
    for page in kept_pages:
        chunks = sorted(by_url[page["url"]], key=lambda s: s["chunk_index"])
        got = [img["url"] for s in chunks for img in s["images"]]
        usable = [
            c["url"]
            for c in page["content_images"]
            if c["status"] == "ok" and c["where"] != "missing"
        ]
        remaining = iter(usable)
        assert all(u in remaining for u in got), (page["url"], got, usable)  # DOM order
        assert not set(got) & set(page["decoy_images"]), page["url"]
        if usable:
            assert got, f"{page['url']}: no image kept of {usable}"
            pages_with_images += 1
    assert pages_with_images >= len(kept_pages) // 2


def test_every_dropped_record_is_a_rejection_with_its_reason(sample, curated):
    manifest = json.loads((sample / "manifest.json").read_text())
    rejections = _rows(curated, "rejections")
    seen = {(r["stage"], r["reason"], r["key"]) for r in rejections}
    read_details = {(r["reason"], r["detail"]) for r in rejections if r["stage"] == "read"}
    for page in manifest["pages"]:
        if page["expect"] == "kept":
            continue
        stage, reason = page["expect"].split(":")
        if stage == "read":  # keyed by file#offset; the URL is in the detail
            assert any(reason == r and page["url"] in d for r, d in read_details), page
        else:
            assert (stage, reason, page["url"]) in seen, page
    for page in manifest["pages"]:
        if page["expect"] != "kept":
            continue
        for img in page["content_images"]:
            if img["status"] in IMAGE_STATUS_REASON:
                assert ("images", IMAGE_STATUS_REASON[img["status"]], img["url"]) in seen, img
            elif img["where"] == "missing":
                assert ("images", "not_available", img["url"]) in seen, img


def test_summary_balances_and_matches_the_files(curated):
    summary = json.loads((curated / "summary.json").read_text())
    docs = summary["documents"]
    assert docs["in"] == docs["kept"] + docs["rejected"] and docs["balanced"]
    assert docs["in"] > 30 and docs["rejected"] >= 2
    for stage, s in summary["stages"].items():
        assert s["in"] == s["out"] + s["rejected_total"], stage
    rejections = _rows(curated, "rejections")
    assert summary["outputs"]["rejections"]["rows"] == len(rejections)
    assert sum(s["rejected_total"] for s in summary["stages"].values()) == len(rejections)
    assert summary["outputs"]["samples"]["rows"] == len(_rows(curated, "samples"))
    assert summary["stages"]["chunk"]["counts"]["samples"] == len(_rows(curated, "samples"))


def test_two_worker_processes_give_the_same_samples(sample, curated, tmp_path):
    out = tmp_path / "mp"
    assert (
        _curate(sample, out, "--direct_running_mode=multi_processing", "--direct_num_workers=2")
        == 0
    )

    def key(rows):
        return sorted(
            (
                r["doc_id"],
                r["chunk_index"],
                r["text"],
                r["num_tokens"],
                tuple(i["sha256"] for i in r["images"]),
            )
            for r in rows
        )

    assert key(_rows(out, "samples")) == key(_rows(curated, "samples"))
    assert sorted(map(tuple, (r.values() for r in _rows(out, "rejections")))) == sorted(
        map(tuple, (r.values() for r in _rows(curated, "rejections")))
    )


def test_sample_mode_without_dedup_gives_one_chunk_per_document(sample, tmp_path):
    out = tmp_path / "s"
    assert (
        main(
            [
                "m3w",
                "--input",
                str(sample / "*.warc.gz"),
                "--output",
                str(out),
                "--tokenizer",
                str(sample / "tokenizer"),
                "--no-http",
                "--quiet",
                "--max-tokens",
                "128",
                "--max-images",
                "2",
                "--no-dedup",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stages"]["dedup_documents"]["in"] == 0  # --no-dedup: the stage is off
    assert summary["documents"]["balanced"]
    samples = _rows(out, "samples")
    assert len({s["doc_id"] for s in samples}) == len(samples)
    assert all(s["num_tokens"] <= 128 and len(s["images"]) <= 2 for s in samples)


def test_user_errors_exit_2_with_a_clear_message(sample, curated, tmp_path, capsys):
    tok = str(sample / "tokenizer")
    assert _m3w(tmp_path / "none*.warc.gz", tmp_path / "o", tok) == 2
    assert "matches no file" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert _m3w(tmp_path / "notes.txt", tmp_path / "o", tok) == 2
    assert "unknown input type" in capsys.readouterr().err
    assert _m3w(sample / "*.warc.gz", tmp_path / "o", tmp_path) == 2
    assert "--tokenizer" in capsys.readouterr().err
    assert _m3w(sample / "*.warc.gz", curated, tok) == 2
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["m3w", "--input", "x.warc", "--output", "o", "--tokenizer", tok, "stray"])
    assert e.value.code == 2


def _commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_help_lists_every_command():
    assert {"m3w", "pairs", "video", "scrape", "make-sample", "show", "stats"} <= set(_commands())


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and f"curate {command}" in out


def test_outputs_are_plain_parquet(curated):
    # Readers outside interleaf see the version in the file metadata.
    path = glob.glob(str(curated / "samples-*.parquet"))[0]
    meta = pq.read_schema(path).metadata
    assert meta[b"interleaf.schema"] == b"m3w_sample" and meta[b"interleaf.version"] == b"1"


def test_eval_index_decontaminates_the_crawl_and_reports(sample, curated, tmp_path):
    from curation.warc import iter_warc
    from schemas import WarcImage

    samples = _rows(curated, "samples")
    kept_urls = [img["url"] for s in samples for img in s["images"]]
    planted = kept_urls[:2]
    evalset = tmp_path / "evalset"
    evalset.mkdir()
    for rec in iter_warc(str(sample / "sample.warc.gz")):
        if isinstance(rec, WarcImage) and rec.url in planted:
            (evalset / f"{planted.index(rec.url)}.img").write_bytes(rec.content)
    index = tmp_path / "index"
    assert (
        main(
            [
                "evalset-index",
                "--name",
                "planted",
                "--images",
                str(evalset / "*.img"),
                "--output",
                str(index),
                "--quiet",
            ]
        )
        == 0
    )
    out = tmp_path / "decontam"
    assert _curate(sample, out, "--eval-index", str(index)) == 0
    hits = [r for r in _rows(out, "rejections") if r["stage"] == "decontam"]
    assert sorted({r["key"] for r in hits}) == sorted(planted)
    assert all(r["reason"] == "eval_duplicate" and r["detail"].startswith("planted/") for r in hits)
    after = [img["url"] for s in _rows(out, "samples") for img in s["images"]]
    assert not set(after) & set(planted)
    assert len(after) == len(kept_urls) - sum(kept_urls.count(u) for u in planted)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stages"]["decontam"]["rejected"]["eval_duplicate"] == len(hits)
    assert summary["documents"]["balanced"]
    assert main(["decontam-report", str(out)]) == 0
    page = (out / "decontam-report" / "index.html").read_text()
    assert "planted" in page and (out / "decontam-report" / "chart.png").stat().st_size > 0


def test_eval_index_errors_are_user_errors(sample, tmp_path, capsys):
    missing = ["--eval-index", str(tmp_path / "missing")]
    assert _m3w(sample / "*.warc.gz", tmp_path / "o", sample / "tokenizer", *missing) == 2
    assert "--eval-index" in capsys.readouterr().err


def test_make_sample_writes_a_planted_evalset_and_a_held_out_image(sample):
    from PIL import Image

    planted = sorted((sample / "evalset").iterdir())
    assert len(planted) == 3
    for path in planted:
        with Image.open(path) as img:
            assert min(img.size) >= 150  # real content images, which survive validation
    with Image.open(sample / "held-out.jpg") as img:
        assert img.size == (480, 360)
