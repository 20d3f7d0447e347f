"""Locating ffmpeg (system or imageio-ffmpeg), probing with and without ffprobe, time limits."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.ffmpeg_tools import (
    IMAGEIO,
    SYSTEM,
    FfmpegTools,
    ProbeResult,
    ToolError,
    find_tools,
    measure_duration,
    parse_ffmpeg_banner,
    parse_ffprobe_json,
    parse_progress_time,
    probe,
    run_tool,
    stderr_tail,
)
from curation.video import WEB_VIDEO_FORMATS
from tests.fixtures.videos import video_clips

__all__ = ["video_clips"]  # the session fixture, used by name

BANNER = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':
  Metadata:
    major_brand     : isom
  Duration: 00:01:02.50, start: 0.000000, bitrate: 121 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), \
1920x1080 [SAR 1:1 DAR 16:9], 46 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
      Display Matrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp (default)
  Stream #0:2[0x0]: Video: mjpeg (Baseline), yuvj444p(pc), 300x300 [SAR 1:1 DAR 1:1], \
90k tbr, 90k tbn (attached pic)
At least one output file must be specified
"""

FFPROBE_JSON = {
    "streams": [
        {"index": 0, "codec_type": "audio", "codec_name": "aac", "duration": "5.0"},
        {
            "index": 1,
            "codec_type": "video",
            "codec_name": "h264",
            "width": 64,
            "height": 48,
            "avg_frame_rate": "10/1",
            "duration": "5.000000",
            "disposition": {"attached_pic": 0},
        },
    ],
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "5.000000"},
}


@pytest.fixture(scope="module")
def imageio_tools() -> FfmpegTools:
    """The fallback: imageio-ffmpeg's binary and no ffprobe, whatever PATH holds."""
    return find_tools(prefer_system=False)


def _link_ffmpeg(bin_dir: Path, target: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "ffmpeg").symlink_to(target)


def _stub_ffprobe(bin_dir: Path, doc: dict) -> Path:
    """An `ffprobe` that logs its arguments and prints `doc` as ffprobe's JSON."""
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "ffprobe"
    log = bin_dir / "ffprobe.args"
    # Shell builtins only: the tests put nothing but this directory on PATH.
    stub.write_text(f"#!/bin/sh\necho \"$@\" > {log}\nprintf '%s\\n' '{json.dumps(doc)}'\n")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return log


# ------------------------------------------------------------------ locating


def test_fallback_is_the_imageio_binary(imageio_tools, monkeypatch):
    monkeypatch.setenv("PATH", "")  # a fresh machine: nothing on PATH
    tools = find_tools()
    assert tools.source == IMAGEIO and tools.ffprobe is None
    assert os.access(tools.ffmpeg, os.X_OK)
    assert tools == imageio_tools


def test_system_ffmpeg_on_path_wins(imageio_tools, tmp_path, monkeypatch):
    _link_ffmpeg(tmp_path / "bin", imageio_tools.ffmpeg)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    tools = find_tools()
    assert tools == FfmpegTools(str(tmp_path / "bin" / "ffmpeg"), None, SYSTEM)
    assert find_tools(prefer_system=False).source == IMAGEIO


def test_system_ffprobe_is_used_when_present(imageio_tools, tmp_path, monkeypatch, video_clips):
    log = _stub_ffprobe(tmp_path / "bin", FFPROBE_JSON)
    _link_ffmpeg(tmp_path / "bin", imageio_tools.ffmpeg)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    tools = find_tools()
    assert tools.ffprobe == str(tmp_path / "bin" / "ffprobe")
    path = str(video_clips["h264.mp4"].path)
    info = probe(path, tools, 10, WEB_VIDEO_FORMATS)
    args = log.read_text()
    assert "-print_format json" in args and "-protocol_whitelist file" in args
    assert args.strip().endswith("file:" + path)
    assert info.video is not None and info.video.index == 1 and info.video.duration == 5.0
    assert (info.video.width, info.video.height, info.video.fps) == (64, 48, 10.0)


# ------------------------------------------------------------------ probing with ffmpeg alone


def test_banner_probe_of_a_real_clip(imageio_tools, video_clips):
    info = probe(str(video_clips["h264.mp4"].path), imageio_tools, 10, WEB_VIDEO_FORMATS)
    assert "mp4" in info.format_name.split(",")
    assert info.duration == pytest.approx(5.0, abs=0.05)
    kinds = [(s.kind, s.codec) for s in info.streams]
    assert kinds[0][0] == "video" and ("audio", "aac") in kinds
    v = info.video
    assert v is not None and (v.width, v.height, v.fps) == (64, 48, 10.0)


def test_banner_and_ffprobe_agree(imageio_tools, tmp_path, monkeypatch, video_clips):
    """The stub prints what real ffprobe says of mjpeg.avi; the banner path must agree."""
    path = str(video_clips["mjpeg.avi"].path)
    banner = probe(path, imageio_tools, 10)
    v = banner.video
    assert v is not None
    doc = {
        "streams": [
            {
                "index": v.index,
                "codec_type": "video",
                "codec_name": v.codec,
                "width": v.width,
                "height": v.height,
                "avg_frame_rate": f"{int(v.fps or 0)}/1",
            }
        ],
        "format": {"format_name": banner.format_name, "duration": str(banner.duration)},
    }
    _stub_ffprobe(tmp_path / "bin", doc)
    probed = probe(path, FfmpegTools(imageio_tools.ffmpeg, str(tmp_path / "bin" / "ffprobe")), 10)
    assert probed == banner


def test_missing_duration_is_measured(imageio_tools, video_clips):
    path = str(video_clips["no_duration.webm"].path)
    info = probe(path, imageio_tools, 10)
    assert info.duration is None and info.video is not None
    assert measure_duration(path, imageio_tools, info.video.index, 10) == pytest.approx(3.0, 0.05)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("garbage.mp4", "corrupt_container"),
        ("truncated_moov.mp4", "corrupt_container"),
        ("still.jpg", "unsupported_format"),
        ("playlist.m3u8", "unsupported_format"),
    ],
)
def test_unopenable_files(imageio_tools, video_clips, name, reason):
    with pytest.raises(ToolError) as e:
        probe(str(video_clips[name].path), imageio_tools, 10, WEB_VIDEO_FORMATS)
    assert e.value.reason == reason and e.value.detail


def test_audio_with_cover_art_has_no_video():
    info = parse_ffmpeg_banner(BANNER)
    assert info is not None
    assert [s.attached_pic for s in info.streams] == [False, False, True]
    no_video = ProbeResult(info.format_name, info.duration, info.streams[1:])
    assert no_video.video is None


# ------------------------------------------------------------------ parsers


def test_banner_fields():
    info = parse_ffmpeg_banner(BANNER)
    assert info is not None
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration == pytest.approx(62.5)
    v = info.video
    # 0x31637661 (a codec tag) must not be read as a frame size.
    assert v is not None and (v.codec, v.width, v.height, v.fps) == ("h264", 1920, 1080, 29.97)
    assert info.streams[1].kind == "audio" and info.streams[1].width is None
    assert info.streams[2].fps == 90000.0  # "90k tbr" when there is no fps


def test_banner_without_input_or_duration():
    assert parse_ffmpeg_banner("file.mp4: Invalid data found when processing input") is None
    info = parse_ffmpeg_banner("Input #0, matroska,webm, from 'x':\n  Duration: N/A, start: 0\n")
    assert info == ProbeResult("matroska,webm", None, ())


def test_ffprobe_json_fields_and_junk():
    info = parse_ffprobe_json(json.dumps(FFPROBE_JSON))
    assert info.duration == 5.0 and [s.kind for s in info.streams] == ["audio", "video"]
    odd = {"streams": [{"codec_type": "video", "avg_frame_rate": "0/0", "width": "x"}]}
    s = parse_ffprobe_json(json.dumps(odd)).streams[0]
    assert (s.index, s.fps, s.width, s.duration) == (0, None, None, None)
    for junk in ("", "not json", "[1, 2]", "null"):
        with pytest.raises(ToolError) as e:
            parse_ffprobe_json(junk)
        assert e.value.reason == "corrupt_container"


def test_progress_time():
    assert parse_progress_time("frame=5\nout_time_us=2500000\nprogress=continue\n") == 2.5
    assert parse_progress_time("out_time_us=1\nout_time_us=4000000\nprogress=end\n") == 4.0
    assert parse_progress_time("frame=0\nout_time_us=N/A\n") is None


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_banner_parser_never_crashes(text):
    info = parse_ffmpeg_banner(text)
    assert info is None or all(s.index >= 0 for s in info.streams)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(BANNER)), st.integers(0, len(BANNER)), st.text(max_size=20))
def test_banner_parser_survives_damage(start, end, junk):
    damaged = BANNER[:start] + junk + BANNER[end:]
    info = parse_ffmpeg_banner(damaged)
    if info is not None:
        for s in info.streams:
            assert (s.width is None) == (s.height is None)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
        max_leaves=12,
    )
)
def test_ffprobe_parser_only_raises_tool_error(doc):
    for text in (json.dumps(doc), json.dumps({"streams": [doc], "format": doc})):
        try:
            info = parse_ffprobe_json(text)
        except ToolError as e:
            assert e.reason == "corrupt_container"
        else:
            assert isinstance(info.streams, tuple)


def test_stderr_tail_is_bounded():
    assert stderr_tail("") == "(ffmpeg said nothing)"
    tail = stderr_tail("line\n" * 10_000 + "the real error\n")
    assert len(tail) <= 600 and tail.endswith("the real error")


# ------------------------------------------------------------------ time limits


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    with pytest.raises(ToolError) as e:
        run_tool(["sh", "-c", script], timeout_s=1.5)  # ample time to start the child
    assert e.value.reason == "timeout"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)  # the grandchild went down with the group


def test_probe_of_a_stalled_input_times_out(imageio_tools, tmp_path):
    fifo = tmp_path / "never.mp4"
    os.mkfifo(fifo)  # ffmpeg blocks opening it: nobody ever writes
    with pytest.raises(ToolError) as e:
        probe(str(fifo), imageio_tools, 0.5)
    assert e.value.reason == "timeout"


def test_no_time_left_is_a_timeout():
    with pytest.raises(ToolError) as e:
        run_tool(["true"], timeout_s=0)
    assert e.value.reason == "timeout"
