"""scripts/demo.sh, run for real at reduced size: every output exists and is valid.

The demo is the README's first command; here it trains for a few steps instead of hundreds
and everything else runs as a user runs it (sample data, local HTTP server, three curation
jobs, training on all three, a caption).
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from schemas import (
    DECONTAM_HIT_SCHEMA,
    M3W_SCHEMA,
    PAIR_SCHEMA,
    REJECTION_SCHEMA,
    VIDEO_SCHEMA,
    check_schema,
)

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "out"
    env = {**os.environ, "OUT": str(out), "STEPS": str(STEPS)}
    run = subprocess.run(
        [str(ROOT / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out, run.stdout


def _rows(folder: Path, name: str, schema) -> int:
    files = sorted(folder.glob(f"{name}-*.parquet"))
    assert files, f"no {name}-*.parquet in {folder}"
    total = 0
    for f in files:
        check_schema(pq.read_schema(f), schema, str(f))
        total += pq.read_metadata(f).num_rows
    return total


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_every_curation_job_balances_and_writes_valid_parquet(demo):
    out, _ = demo
    for job, schema in (("m3w", M3W_SCHEMA), ("pairs", PAIR_SCHEMA), ("video", VIDEO_SCHEMA)):
        stages = _summary(out / job)["stages"]
        assert all(s["balanced"] for s in stages.values()), (job, stages)
        assert _rows(out / job, "samples", schema) > 0
        _rows(out / job, "rejections", REJECTION_SCHEMA)


def test_pairs_and_video_keep_and_drop_what_media_json_says(demo):
    out, _ = demo
    media = json.loads((out / "sample" / "media.json").read_text())
    for job, schema, kind in (("pairs", PAIR_SCHEMA, "pairs"), ("video", VIDEO_SCHEMA, "videos")):
        assert _rows(out / job, "samples", schema) == media[kind]["kept"]
        assert _rows(out / job, "rejections", REJECTION_SCHEMA) == len(media[kind]["rejected"])


def test_decontamination_fires_on_the_planted_eval_images(demo):
    out, _ = demo
    assert _rows(out / "m3w", "decontam-hits", DECONTAM_HIT_SCHEMA) >= 1
    assert _rows(out / "pairs", "decontam-hits", DECONTAM_HIT_SCHEMA) == 1
    for job in ("m3w", "pairs"):
        assert (out / job / "decontam-report" / "index.html").stat().st_size > 0


def test_pairs_and_clips_came_over_the_local_http_server_which_then_stopped(demo):
    out, stdout = demo
    log = (out / "http-server.log").read_text()
    assert re.search(r'"GET /pairs/images/pair-\d+\.jpg HTTP/1\.\d" 200', log)
    assert re.search(r'"GET /videos/clip-\d+\.mp4 HTTP/1\.\d" 200', log)
    assert '"GET /pairs/images/missing.jpg HTTP/1.1" 404' in log
    port = re.search(r"local HTTP server on port (\d+) stopped", stdout)
    assert port, stdout[-2000:]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(port[1])), 1):
        pass


def test_pages_to_look_at_are_written(demo):
    out, _ = demo
    for page in ("m3w/show.html", "pairs/show.html", "video/show.html", "m3w/stats/index.html"):
        text = (out / page).read_text(encoding="utf-8")
        assert "<img" in text, page


def test_training_used_all_three_datasets_and_saved_a_checkpoint(demo):
    out, stdout = demo
    rows = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    assert last["step"] == STEPS
    assert set(last["loss"]) == {"m3w", "pairs", "video"}
    assert all(v > 0 for v in last["loss"].values())
    with Image.open(out / "run" / "training.png") as img:
        img.load()
        assert img.format == "PNG"
    assert (out / "run" / "checkpoints" / f"step_{STEPS:08d}").is_dir()
    assert re.search(r"m3w +step +\d+: \d+\.\d+ +-> +step +4: \d+\.\d+", stdout)


def test_a_caption_is_generated_and_outputs_are_listed(demo):
    out, stdout = demo
    caption = stdout.split("== 6/6", 1)[1].splitlines()[1]
    assert caption.strip() and not caption.startswith(("Traceback", "=="))
    assert re.search(r"done in \d+ s; outputs:", stdout)
    listed = re.findall(rf"{re.escape(str(out))}[^\s;()]*", stdout.split("outputs:")[1])
    assert len(listed) >= 8
    for path in (p.rstrip(",") for p in listed):
        # Shell patterns as printed: "m3w/samples-*.parquet", "{m3w,pairs,video}/summary.json".
        brace = re.search(r"\{([^}]*)\}", path)
        options = brace[1].split(",") if brace else [""]
        for option in options:
            pattern = path.replace(brace[0], option) if brace else path
            assert glob.glob(pattern), pattern
