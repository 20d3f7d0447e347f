"""`curate video` end to end on local and 127.0.0.1-served clips: rows in = out + rejected;
junk captions are dropped before their clip is requested."""

from __future__ import annotations

import argparse
import glob
import json
import shutil
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.captions import CaptionFilterConfig
from curation.fetch import FetchConfig
from curation.language import LanguageConfig
from curation.url_lists import UrlListConfig
from curation.video import VideoConfig, VideoRef
from pipelines.cli import CliError
from pipelines.counting import REJECTED
from pipelines.pair_inputs import FilterCaptions, caption_filter_config
from pipelines.video import (
    SAMPLES,
    SampleClips,
    add_parser,
    video_fetch_config,
    video_job_config,
)
from pipelines.video_inputs import REFS, clip_key, iter_video_list, resolve_location
from schemas import (
    REJECTION_SCHEMA,
    VIDEO_SCHEMA,
    read_table,
    row_to_video_sample,
)
from tests.fixtures.http_server import LocalHttpServer, Reply
from tests.fixtures.videos import video_clips
from tests.pipelines.beam_helpers import run_collect, tags

__all__ = ["video_clips"]  # the session fixture, used by name
COLUMN_ARGS = ["--video-column", "clip", "--caption-column", "text"]
JUNK_PATHS = ("/v/junk-img.mp4", "/v/junk-dsc.mp4", "/v/junk-few.mp4")
JUNK_CAPTIONS = ("img", "DSC_0001.jpg", "two words")
JUNK_REASONS = ("boilerplate_caption", "file_name", "too_few_words")


def _run(argv: list[str]) -> int:
    """`curate video ARGV` through our own parser (until pipelines.cli registers it)."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args, rest = parser.parse_known_args(["video", *argv])
    return args.func(args, rest)


def _parse(argv: list[str]) -> argparse.Namespace:
    """`curate video` options as parsed, with the required ones filled in."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["video", "--input", "l.csv", "--output", "o", *argv])


def _served(server: LocalHttpServer, clips, name: str, **headers: str) -> str:
    server.route(f"/v/{name}", Reply(body=clips[name].path.read_bytes(), headers=headers))
    return server.url(f"/v/{name}")


@pytest.fixture(scope="module")
def server():
    with LocalHttpServer() as s:
        yield s


@pytest.fixture(scope="module")
def video_list(video_clips, server, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A Parquet list mixing every kind of location and every kind of failure.

    Returns the list path and, per row URL, the expected outcome: "frames:N", a ``video``
    stage reason, or "caption:<reason>" for a ``filter_caption`` rejection.
    """
    root = tmp_path_factory.mktemp("video_list")
    (root / "clips").mkdir()
    shutil.copy(video_clips["clock5.avi"].path, root / "clips" / "clock5.avi")
    mp4 = {"Content-Type": "video/mp4"}
    cut = _served(server, video_clips, "truncated.mp4", **mp4)
    rows = [
        (_served(server, video_clips, "h264.mp4", **mp4), "a test pattern", "frames:5"),
        (_served(server, video_clips, "clock60.mp4", **mp4), "a minute of grey", "frames:8"),
        (str(video_clips["mjpeg.avi"].path), "a local mjpeg clip", "frames:5"),
        # Stored cleaned: entities decoded, whitespace collapsed (as `curate pairs` does).
        ("clips/clock5.avi", "  relative to the&nbsp;list &amp; back\t", "frames:5"),
        (video_clips["no_duration.webm"].path.as_uri(), "a file:// url", "frames:3"),
        (_served(server, video_clips, "audio_only.m4a"), "just a tone", "no_video_stream"),
        (server.url("/v/gone.mp4"), "a dead link", "fetch:http_status"),
        (cut, "cut short in transfer", "missing_frames"),
        (str(video_clips["garbage.mp4"].path), "random noise bytes here", "corrupt_container"),
        (str(root / "nowhere.mp4"), "no such file", "unreadable_file"),
    ]
    # Junk captions on clips that would sample fine: the caption filter must drop them
    # before any request (the server's log shows none for JUNK_PATHS).
    for path, text, reason in zip(JUNK_PATHS, JUNK_CAPTIONS, JUNK_REASONS, strict=True):
        server.route(path, Reply(body=video_clips["h264.mp4"].path.read_bytes(), headers=mp4))
        rows.append((server.url(path), text, f"caption:{reason}"))
    server.route(
        "/v/optout.mp4",
        Reply(body=video_clips["h264.mp4"].path.read_bytes(), headers={"X-Robots-Tag": "noai"}),
    )
    rows.append((server.url("/v/optout.mp4"), "opted out of training", "fetch:opt_out"))
    rows.append((str(video_clips["h264.mp4"].path), None, "caption:empty_caption"))
    rows.append(("http://x/y.mp4", "   ", "caption:empty_caption"))
    urls = [u for u, _, _ in rows] + [""]
    captions = [c for _, c, _ in rows] + ["no url"]
    expected = {resolve_location(u, str(root / "list.parquet")): e for u, _, e in rows}
    table = pa.table({"clip": urls, "text": captions, "other": list(range(len(urls)))})
    pq.write_table(table, root / "list.parquet")
    return root / "list.parquet", expected


def _rows(out: Path, name: str, schema: pa.Schema) -> list[dict]:
    rows: list[dict] = []
    for path in sorted(glob.glob(str(out / f"{name}-*.parquet"))):
        rows += read_table(path, schema).to_pylist()
    return rows


@pytest.fixture(scope="module")
def curated(video_list, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video_out")
    argv = ["--input", str(video_list[0]), "--output", str(out), *COLUMN_ARGS]
    argv += ["--allow-network", "127.0.0.1/32", "--quiet"]
    assert _run(argv) == 0
    return out


def test_every_row_ends_as_a_sample_or_a_rejection(video_list, curated):
    _, expected = video_list
    samples = [row_to_video_sample(r) for r in _rows(curated, "samples", VIDEO_SCHEMA)]
    rejections = _rows(curated, "rejections", REJECTION_SCHEMA)
    got = {s.url: f"frames:{len(s.frames)}" for s in samples}
    got.update({r["key"]: r["reason"] for r in rejections if r["stage"] == "video"})
    got.update(
        {r["key"]: f"caption:{r['reason']}" for r in rejections if r["stage"] == "filter_caption"}
    )
    assert got == expected
    assert [r["reason"] for r in rejections if r["stage"] == "read"] == ["missing_url"]
    assert len(samples) + len(rejections) == 17


def test_a_junk_caption_drops_its_clip_before_it_is_fetched(curated, server):
    rejections = _rows(curated, "rejections", REJECTION_SCHEMA)
    junk = {r["key"]: r for r in rejections if r["key"] in map(server.url, JUNK_PATHS)}
    assert [(junk[server.url(p)]["stage"], junk[server.url(p)]["reason"]) for p in JUNK_PATHS] == [
        ("filter_caption", reason) for reason in JUNK_REASONS
    ]
    assert "DSC_0001.jpg" in junk[server.url(JUNK_PATHS[1])]["detail"]
    assert [server.hits(p) for p in JUNK_PATHS] == [0, 0, 0]  # never requested
    assert server.hits("/v/h264.mp4") >= 1  # while a good row's clip on the same server was
    captions = {row_to_video_sample(r).caption for r in _rows(curated, "samples", VIDEO_SCHEMA)}
    assert "relative to the list & back" in captions  # the cleaned caption is the one stored


def test_samples_hold_frames_at_their_times(curated):
    samples = {
        s.caption: s for s in map(row_to_video_sample, _rows(curated, "samples", VIDEO_SCHEMA))
    }
    minute = samples["a minute of grey"]
    assert minute.frame_times == pytest.approx([k * 7.5 for k in range(8)])
    assert minute.fps == pytest.approx(8 / 60) and minute.duration == pytest.approx(60, abs=0.05)
    pattern = samples["a test pattern"]
    assert pattern.frame_times == (0, 1, 2, 3, 4) and pattern.fps == 1.0
    assert (pattern.width, pattern.height) == (64, 48)
    assert all(f[:2] == b"\xff\xd8" for s in samples.values() for f in s.frames)
    assert len({s.sample_id for s in samples.values()}) == len(samples)


def test_summary_balances(curated):
    summary = json.loads((curated / "summary.json").read_text())
    assert summary["clips"] == {
        "in": 17, "kept": 5, "rejected": 12, "balanced": True, "frames": 26
    }  # fmt: skip
    assert list(summary["stages"]) == ["read", "filter_caption", "video"]
    for stage in summary["stages"].values():
        assert stage["balanced"]
    captions = summary["stages"]["filter_caption"]
    assert (captions["in"], captions["out"]) == (16, 11)
    assert captions["rejected"] == {
        "empty_caption": 2, "boilerplate_caption": 1, "file_name": 1, "too_few_words": 1
    }  # fmt: skip
    assert summary["stages"]["video"]["in"] == 11
    assert summary["stages"]["video"]["rejected"]["fetch:http_status"] == 1
    assert summary["outputs"]["samples"]["rows"] == 5
    assert summary["outputs"]["rejections"]["rows"] == 12


def test_output_of_an_earlier_run_is_not_mixed(video_list, curated):
    with pytest.raises(CliError, match="--overwrite"):
        _run(["--input", str(video_list[0]), "--output", str(curated), *COLUMN_ARGS])


def test_cli_refuses_bad_options(tmp_path):
    out = str(tmp_path / "o")
    (tmp_path / "list.txt").write_text("x")
    with pytest.raises(CliError, match="expected one of"):
        _run(["--input", str(tmp_path / "list.txt"), "--output", out])
    (tmp_path / "clips.tar").write_bytes(b"")
    with pytest.raises(CliError, match="not a video list"):
        _run(["--input", str(tmp_path / "clips.tar"), "--output", out])
    with pytest.raises(CliError, match="matches no file"):
        _run(["--input", str(tmp_path / "*.csv"), "--output", out])
    (tmp_path / "list.csv").write_text("url,caption\na.mp4,x\n")
    with pytest.raises(CliError, match="no column clip"):
        _run(["--input", str(tmp_path / "list.csv"), "--output", out, "--video-column", "clip"])
    with pytest.raises(CliError, match="fps"):
        _run(["--input", str(tmp_path / "list.csv"), "--output", out, "--fps", "0"])


def test_caption_filter_flags_reach_the_job_config():
    assert video_job_config(_parse([]), ["l.csv"]).captions == CaptionFilterConfig()
    argv = ["--min-words", "5", "--max-words", "40", "--min-chars", "9", "--max-chars", "300"]
    cfg = video_job_config(_parse([*argv, "--languages", "en, fr"]), ["l.csv"]).captions
    assert cfg == replace(
        CaptionFilterConfig(),
        min_words=5,
        max_words=40,
        min_chars=9,
        max_chars=300,
        language=replace(LanguageConfig(), languages=("en", "fr")),
    )
    with pytest.raises(SystemExit):
        _parse(["--min-words", "three"])


def test_languages_keeps_only_those_captions(video_clips, server, tmp_path):
    german = "Ein kleiner Hund spielt im Garten mit einem roten Ball"
    server.route("/v/lang-de.mp4", Reply(body=video_clips["h264.mp4"].path.read_bytes()))
    table = {
        "clip": [str(video_clips["clock5.avi"].path), server.url("/v/lang-de.mp4")],
        "text": ["a grey clock on a plain background", german],
    }
    pq.write_table(pa.table(table), tmp_path / "list.parquet")
    out = tmp_path / "out"
    argv = ["--input", str(tmp_path / "list.parquet"), "--output", str(out), *COLUMN_ARGS]
    assert _run([*argv, "--languages", "en", "--allow-network", "127.0.0.1/32", "--quiet"]) == 0
    samples = [row_to_video_sample(r) for r in _rows(out, "samples", VIDEO_SCHEMA)]
    assert [s.caption for s in samples] == ["a grey clock on a plain background"]
    rejections = _rows(out, "rejections", REJECTION_SCHEMA)
    got = [(r["stage"], r["reason"], r["key"]) for r in rejections]
    assert got == [("filter_caption", "language_not_kept", server.url("/v/lang-de.mp4"))]
    assert rejections[0]["detail"] == "language=de not in en"
    assert server.hits("/v/lang-de.mp4") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"]["balanced"] and summary["clips"]["rejected"] == 1


# ------------------------------------------------------------------ list files

COLUMNS = UrlListConfig()  # url, caption


def test_csv_tsv_jsonl_lists(tmp_path):
    (tmp_path / "a.csv").write_text('url,caption\nclips/a.mp4,"1999"\nhttp://h/b.mp4, \n')
    (tmp_path / "a.tsv").write_text("url\tcaption\n/abs/a.mp4\tx\n")
    jsonl_text = '{"url": "file:///c.mp4", "caption": "c"}\n{"url": 7}\n[1]\n{bad\n'
    (tmp_path / "a.jsonl").write_text(jsonl_text)
    csv = list(iter_video_list(str(tmp_path / "a.csv"), COLUMNS))
    assert csv[0] == VideoRef(str(tmp_path / "clips/a.mp4"), "1999", f"{tmp_path}/a.csv#row0")
    # A blank caption reaches the filter_caption stage, which rejects it (as in pairs).
    assert csv[1] == VideoRef("http://h/b.mp4", " ", f"{tmp_path}/a.csv#row1")
    tsv = list(iter_video_list(str(tmp_path / "a.tsv"), COLUMNS))
    assert [r.url for r in tsv] == ["/abs/a.mp4"]
    jsonl = list(iter_video_list(str(tmp_path / "a.jsonl"), COLUMNS))
    assert jsonl[0].url == "file:///c.mp4"
    reasons = [r.reason for r in jsonl[1:]]
    assert reasons == ["missing_url", "malformed_row", "malformed_row"]


def test_unreadable_lists_become_one_rejection(tmp_path):
    (tmp_path / "a.csv").write_text("link,caption\nx,y\n")
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    (tmp_path / "c.tar").write_bytes(b"")
    got = {n: list(iter_video_list(str(tmp_path / n), COLUMNS)) for n in ("a.csv", "b.parquet")}
    got["c.tar"] = list(iter_video_list(str(tmp_path / "c.tar"), COLUMNS))
    reasons = {n: [(r.reason, r.key) for r in rows] for n, rows in got.items()}
    assert reasons == {
        "a.csv": [("missing_column", str(tmp_path / "a.csv"))],
        "b.parquet": [("unreadable_file", str(tmp_path / "b.parquet"))],
        "c.tar": [("unknown_format", str(tmp_path / "c.tar"))],
    }


def test_relative_locations_on_remote_lists():
    assert resolve_location("a/b.mp4", "gs://bucket/lists/l.csv") == "gs://bucket/lists/a/b.mp4"
    assert resolve_location("https://h/x.mp4", "gs://bucket/l.csv") == "https://h/x.mp4"
    assert resolve_location("/abs/x.mp4", "gs://bucket/l.csv") == "/abs/x.mp4"


# ------------------------------------------------------------------ the stage on its own


def test_sample_clips_stage_counts_and_http_switch(video_clips, server):
    refs = [
        VideoRef(str(video_clips["mjpeg.avi"].path), "ok", "l#0"),
        VideoRef(server.url("/v/h264.mp4"), "no http", "l#1"),
        VideoRef("ftp://h/x.mp4", "odd scheme", "l#2"),
    ]
    outputs, counters = run_collect(
        lambda p: tags(
            p | beam.Create(refs) | SampleClips(VideoConfig(), FetchConfig(), fetch_http=False),
            SAMPLES,
        )
    )
    assert [s.caption for s in outputs[SAMPLES]] == ["ok"]
    reasons = sorted(r.reason for r in outputs[REJECTED])
    assert reasons == ["http_disabled", "unreadable_file"]
    video = counters["video"]
    assert video["in"] == 3 and video["out"] == 1 and video["frames"] == 5
    assert video["in"] == video["out"] + sum(
        v for k, v in video.items() if k.startswith("rejected.")
    )


def test_filter_captions_stage_on_video_refs():
    refs = [
        VideoRef("http://h/a.mp4", "A small boat &amp; a  calm lake at dawn, with mist", "l#0"),
        VideoRef("http://h/b.mp4", "IMG_1234.jpg", "l#1"),
        VideoRef("/clips/c.mp4", "", "l#2"),
        VideoRef("/clips/d.mp4", "Un petit chien joue dans le jardin avec une balle rouge", "l#3"),
    ]
    cfg = caption_filter_config(_parse(["--languages", "en,de"]))
    outputs, counters = run_collect(
        lambda p: tags(p | beam.Create(refs) | FilterCaptions(cfg, clip_key, REFS), REFS)
    )
    cleaned = "A small boat & a calm lake at dawn, with mist"
    assert outputs[REFS] == [VideoRef("http://h/a.mp4", cleaned, "l#0")]
    got = sorted((r.stage, r.reason, r.key) for r in outputs[REJECTED])
    assert got == [
        ("filter_caption", "empty_caption", "/clips/c.mp4"),
        ("filter_caption", "file_name", "http://h/b.mp4"),
        ("filter_caption", "language_not_kept", "/clips/d.mp4"),
    ]
    stage = counters["filter_caption"]
    assert (stage["in"], stage["out"]) == (4, 1)
    assert stage["in"] == stage["out"] + sum(
        v for k, v in stage.items() if k.startswith("rejected.")
    )


def test_video_fetch_config_keeps_the_guards():
    cfg = video_fetch_config(VideoConfig(max_bytes=1234), ("127.0.0.1/32",))
    assert cfg.max_bytes == 1234 and cfg.allow_networks == ("127.0.0.1/32",)
    assert cfg.honour_opt_out and cfg.accept.startswith("video/")
