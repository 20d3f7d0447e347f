"""The curation -> trainer contract on real output: curate the sample crawl, train, generate."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines import cli
from trainer.checkpoint import latest_checkpoint
from trainer.config import load_config
from trainer.data import discover_units
from trainer.generate import generate, load_for_inference
from trainer.generate import main as generate_main
from trainer.log import gate_values
from trainer.model.vision import build_vision_encoder
from trainer.samples import m3w_example, tokenize
from trainer.tokenizer import load_tokenizer, special_ids
from trainer.train import main as train_main

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "trainer/configs/tiny-cpu.yaml"
STEPS = 16  # one epoch of the ~66 curated samples at the tiny config's batch of 4


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sample dir, curation output dir) of `curate m3w` on the bundled sample crawl."""
    root = tmp_path_factory.mktemp("curated")
    sample, out = root / "sample", root / "out"
    assert cli.main(["make-sample", str(sample)]) == 0
    args = ["m3w", "--input", f"{sample}/*.warc.gz", "--output", str(out),
            "--tokenizer", f"{sample}/tokenizer", "--mirror-dir", f"{sample}/mirror",
            "--no-http", "--quiet", "--chunk-mode", "tile"]  # fmt: skip
    assert cli.main(args) == 0
    return sample, out


def curated_rows(out: Path) -> list[dict]:
    """Every sample row the trainer would read from a curation output directory."""
    units = discover_units(str(out), "m3w")
    return [
        row for path in sorted({u.path for u in units}) for row in pq.read_table(path).to_pylist()
    ]


def test_trainer_reads_curated_samples_as_curation_counted_them(curated):
    sample, out = curated
    # The output directory also holds rejections and summary.json: only samples are read.
    assert (out / "summary.json").is_file() and list(out.glob("rejections-*.parquet"))
    assert {Path(u.path).name[:8] for u in discover_units(str(out), "m3w")} == {"samples-"}
    rows = curated_rows(out)
    assert len(rows) >= STEPS * 4 and sum(len(r["images"]) for r in rows) > len(rows)
    tok = load_tokenizer(str(sample / "tokenizer"))
    ids = special_ids(tok)
    cfg = load_config(TINY).model
    preprocess = build_vision_encoder(cfg.vision_model, None, cfg.vision_cfg)[1]
    for row in rows:
        # num_tokens is the exact count of the trainer's tokens (the trainer appends an EOS).
        assert len(tokenize(row["text"], tok, ids, max_tokens=10**6)) == row["num_tokens"] + 1
        example = m3w_example(row, tok, ids, preprocess, max_tokens=256, max_images=5)
        # Chunks of L = 256 with N <= 5 images: the trainer keeps every image curation kept.
        assert example.input_ids.count(ids.image) == len(example.images) == len(row["images"])


def test_tiny_config_trains_on_curated_output_and_generates(curated, tmp_path, capsys):
    sample, out = curated
    run = tmp_path / "run"
    overrides = {
        "model.tokenizer": f"{sample}/tokenizer",  # already holds <image> and <|endofchunk|>
        # A sharper LM init than HF's 0.02, so the trainable parts move the loss in a few
        # steps (0.02 gives near-uniform logits whatever the xattn blocks add).
        "model.lm_config.initializer_range": "0.1",
        "optim.lr": "1e-2",
        "optim.warmup_steps": "2",
        "run.steps": str(STEPS),
        "run.log_every": "1",
        "run.progress": "false",
        "data.num_workers": "0",
    }
    argv = ["--config", str(TINY), "--data", f"m3w={out}", "--output", str(run)]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    train_main(argv)

    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"]["m3w"] for r in records]
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    assert all(math.isfinite(x) and x > 0 for x in losses)
    third = STEPS // 3
    assert statistics.mean(losses[-third:]) < statistics.mean(losses[:third]) - 0.2
    assert all(r["skipped"] == {"m3w": {}} for r in records)  # every curated sample was usable
    assert latest_checkpoint(run).name == f"step_{STEPS:08d}"

    model, tok, preprocess, _ = load_for_inference(run)
    assert gate_values(model) == records[-1]["gates"]
    assert any(g != 0 for g in records[-1]["gates"]["ff"])  # trained weights, not a fresh init
    image = tmp_path / "query.img"  # PIL reads the format from the bytes, not the name
    image.write_bytes(next(r for r in curated_rows(out) if r["images"])["images"][0]["bytes"])
    prompt = "<image>A photo of"
    capsys.readouterr()
    generate_main(["--checkpoint", str(run), "--prompt", prompt, "--images", str(image),
                   "--max-new-tokens", "6", "--device", "cpu"])  # fmt: skip
    printed = capsys.readouterr().out
    with Image.open(image) as img:
        expected = generate(model, tok, preprocess, prompt, [img.convert("RGB")], 6)
    assert printed == expected + "\n"
