"""`curate video --eval-index`: a clip with any frame matching an eval image is dropped whole."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.ffmpeg_tools import find_tools
from curation.video import VideoConfig, frame_url, sample_video_file
from pipelines import cli
from pipelines.counting import REJECTED
from pipelines.decontam import HITS
from pipelines.video import SAMPLES
from pipelines.video_decontam import DropEvalDuplicateClips
from schemas import (
    DECONTAM_HIT_SCHEMA,
    REJECTION_SCHEMA,
    VIDEO_SCHEMA,
    VideoSample,
    row_to_video_sample,
)
from tests.fixtures.videos import video_clips
from tests.pipelines.beam_helpers import run_collect, tags
from tests.pipelines.test_video import COLUMN_ARGS, _rows

__all__ = ["video_clips"]  # the session fixture, used by name


@pytest.fixture(scope="module")
def planted(video_clips, tmp_path_factory) -> dict[str, Path | str]:
    """An eval index holding frame t=2 of mjpeg.avi as it is sampled, and a list of that
    clip and h264.mp4 (the same test pattern re-encoded: both to be dropped) and the flat
    grey clock5.avi (to be kept)."""
    root = tmp_path_factory.mktemp("planted")
    leaked = str(video_clips["mjpeg.avi"].path)
    clip = sample_video_file(leaked, VideoConfig(), find_tools())
    assert clip.times[2] == 2.0
    (root / "eval").mkdir()
    (root / "eval" / "leaked.jpg").write_bytes(clip.frames[2])
    index = root / "index"
    argv = ["--name", "video-eval", "--images", str(root / "eval"), "--output", str(index)]
    assert cli.main(["evalset-index", *argv, "--quiet"]) == 0
    copy, kept = str(video_clips["h264.mp4"].path), str(video_clips["clock5.avi"].path)
    captions = ["shows an eval image", "the same, re-encoded", "a flat grey clock"]
    pq.write_table(
        pa.table({"clip": [leaked, copy, kept], "text": captions}), root / "list.parquet"
    )
    return {
        "root": root,
        "index": index,
        "list": root / "list.parquet",
        "leaked": leaked,
        "copy": copy,
    }


def test_a_clip_with_an_eval_frame_is_dropped_whole(planted):
    out = planted["root"] / "out"
    argv = ["video", "--input", str(planted["list"]), "--output", str(out), *COLUMN_ARGS]
    assert cli.main([*argv, "--eval-index", str(planted["index"]), "--quiet"]) == 0
    samples = [row_to_video_sample(r) for r in _rows(out, "samples", VIDEO_SCHEMA)]
    assert [s.caption for s in samples] == ["a flat grey clock"]
    rejections = {r["key"]: r for r in _rows(out, "rejections", REJECTION_SCHEMA)}
    assert sorted(rejections) == sorted([planted["leaked"], planted["copy"]])
    assert {(r["stage"], r["reason"]) for r in rejections.values()} == {
        ("decontam", "eval_duplicate")
    }
    detail = rejections[planted["leaked"]]["detail"]
    assert detail == "video-eval/leaked distance=0 at frame t=2.000s (1 of 5 frames match)"
    assert rejections[planted["copy"]]["detail"].startswith("video-eval/leaked distance=")
    hits = {h["key"]: h for h in _rows(out, "decontam-hits", DECONTAM_HIT_SCHEMA)}
    assert hits[frame_url(planted["leaked"], 2.0)]["distance"] == 0
    assert {h["dataset"] for h in hits.values()} == {"video-eval"}
    assert all(h["thumbnail"][:2] == b"\xff\xd8" for h in hits.values())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == {
        "in": 3, "kept": 1, "rejected": 2, "balanced": True, "frames": 15
    }  # fmt: skip
    decontam = summary["stages"]["decontam"]
    assert (decontam["in"], decontam["out"], decontam["rejected"]) == (3, 1, {"eval_duplicate": 2})
    assert summary["outputs"]["decontam-hits"]["rows"] == len(hits)


def test_bad_eval_index_is_a_user_error(planted, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["video", "--input", str(planted["list"]), "--output", str(out), *COLUMN_ARGS]
    assert cli.main([*argv, "--eval-index", str(tmp_path / "nowhere")]) == 2
    assert "--eval-index" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main([*argv, "--eval-index", str(tmp_path / "empty")]) == 2
    assert "no <dataset>.parquet" in capsys.readouterr().err
    assert cli.main([*argv, "--eval-index", str(planted["index"]), "--eval-radius", "65"]) == 2
    assert not out.exists()  # refused before anything was written


def test_decontam_stage_rejects_an_unreadable_frame(planted):
    def sample(url: str, frames: tuple[bytes, ...]) -> VideoSample:
        times = tuple(float(i) for i in range(len(frames)))
        return VideoSample(url, url, "c", frames, times, 1.0, len(frames), 32, 32)

    eval_frame = (planted["root"] / "eval" / "leaked.jpg").read_bytes()
    clips = [sample("bad", (b"\xff\xd8 not a jpeg",)), sample("eval", (eval_frame,))]

    def build(p: beam.Pipeline) -> dict[str, beam.PCollection]:
        out = p | beam.Create(clips) | DropEvalDuplicateClips(str(planted["index"]))
        return {**tags(out, SAMPLES), HITS: out[HITS]}

    outputs, counters = run_collect(build)
    assert outputs[SAMPLES] == []
    got = sorted((r.key, r.reason) for r in outputs[REJECTED])
    assert got == [("bad", "decode_error"), ("eval", "eval_duplicate")]
    assert [h.key for h in outputs[HITS]] == [frame_url("eval", 0.0)]
    decontam = counters["decontam"]
    assert decontam["in"] == 2 and decontam.get("out", 0) == 0
    assert decontam["rejected.decode_error"] == decontam["rejected.eval_duplicate"] == 1
