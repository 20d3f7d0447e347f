"""Frame sampling: counts and timestamps against each clip's duration and FPS, and rejections."""

from __future__ import annotations

import io
import math
import os
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageStat

from curation.ffmpeg_tools import SYSTEM, FfmpegTools, find_tools
from curation.video import (
    SEEKS_PER_RUN,
    VideoConfig,
    VideoRef,
    VideoRejected,
    plan_frame_times,
    sample_video_bytes,
    sample_video_file,
    to_video_sample,
    video_sample_id,
)
from tests.fixtures.videos import clock_luma, video_clips

__all__ = ["video_clips"]  # the session fixture, used by name

CFG = VideoConfig()


@pytest.fixture(scope="module")
def tools() -> FfmpegTools:
    return find_tools(prefer_system=False)


def _sample(clip, tools, cfg=CFG):
    return sample_video_file(str(clip.path), cfg, tools)


def _luma(jpeg: bytes) -> float:
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.format == "JPEG"
        return ImageStat.Stat(im.convert("L")).mean[0]


def _rejected(clip_path: str, tools, cfg=CFG) -> VideoRejected:
    with pytest.raises(VideoRejected) as e:
        sample_video_file(clip_path, cfg, tools)
    assert e.value.detail
    return e.value


# ------------------------------------------------------------------ the plan


def test_plan_short_clip_is_every_second():
    plan = plan_frame_times(5.0, 1.0, 8)
    assert plan.times == (0, 1, 2, 3, 4) and not plan.seek and plan.fps == 1.0
    assert plan_frame_times(5.2, 1.0, 8).times == (0, 1, 2, 3, 4, 5)
    assert plan_frame_times(0.3, 1.0, 8).times == (0,)  # a sliver still gives its first frame
    assert plan_frame_times(4.0, 2.0, 8).times == tuple(k / 2 for k in range(8))


def test_plan_long_clip_is_spread_evenly():
    plan = plan_frame_times(60.0, 1.0, 8, seek_spacing_s=5.0)
    assert plan.seek  # 7.5 s apart
    assert not plan_frame_times(30.0, 1.0, 8, seek_spacing_s=5.0).seek  # 3.75 s apart
    assert plan.times == pytest.approx([k * 7.5 for k in range(8)])
    assert plan.fps == pytest.approx(8 / 60)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(0.01, 36_000, allow_nan=False),
    st.floats(0.05, 30, allow_nan=False),
    st.integers(1, 64),
    st.floats(0, 100, allow_nan=False),
)
def test_plan_invariants(duration, fps, max_frames, seek_spacing_s):
    plan = plan_frame_times(duration, fps, max_frames, seek_spacing_s)
    assert 1 <= len(plan.times) <= max_frames
    assert plan.times[0] == 0 and all(0 <= t < duration for t in plan.times)
    gaps = [b - a for a, b in zip(plan.times, plan.times[1:], strict=False)]
    assert all(g >= 1 / fps - 1e-9 for g in gaps)  # never denser than asked
    assert all(g == pytest.approx(1 / plan.fps) for g in gaps)
    assert len(plan.times) == min(max(1, math.ceil(duration * fps - 1e-6)), max_frames)
    assert plan.seek == (1 / plan.fps >= seek_spacing_s)


def test_config_refuses_nonsense():
    for bad in ({"fps": 0}, {"fps": -1}, {"max_frames": 0}, {"max_side": 0}):
        with pytest.raises(ValueError):
            replace(CFG, **bad)


# ------------------------------------------------------------------ frames out


@pytest.mark.parametrize("name", ["h264.mp4", "vp8.webm", "mjpeg.avi", "no_duration.webm"])
def test_every_codec_gives_one_frame_per_second(tools, video_clips, name):
    if name not in video_clips:
        pytest.skip(f"this ffmpeg cannot write {name}")
    clip = video_clips[name]
    got = _sample(clip, tools)
    n = math.ceil(clip.duration)
    assert got.times == tuple(float(k) for k in range(n)) and len(got.frames) == n
    assert got.duration == pytest.approx(clip.duration, abs=0.05) and got.fps == 1.0
    assert (got.width, got.height) == (clip.width, clip.height)
    for frame in got.frames:
        with Image.open(io.BytesIO(frame)) as im:
            assert im.format == "JPEG" and im.size == (clip.width, clip.height)


def test_frames_show_the_moment_they_are_stamped_with(tools, video_clips):
    clip = video_clips["clock5.avi"]
    got = _sample(clip, tools)
    assert got.times == (0, 1, 2, 3, 4)
    for t, frame in zip(got.times, got.frames, strict=True):
        assert _luma(frame) == pytest.approx(clock_luma(t, clip.clock_slope), abs=4)


def test_long_clip_gives_max_frames_evenly_spaced(tools, video_clips):
    clip = video_clips["clock60.mp4"]
    got = _sample(clip, tools)
    assert got.times == pytest.approx([k * 7.5 for k in range(8)])
    assert got.fps == pytest.approx(8 / 60) and got.duration == pytest.approx(60, abs=0.05)
    for t, frame in zip(got.times, got.frames, strict=True):
        assert _luma(frame) == pytest.approx(clock_luma(t, clip.clock_slope), abs=4)


def test_ten_minute_clip(tools, video_clips):
    clip = video_clips["long10min.mp4"]
    got = _sample(clip, tools, replace(CFG, max_frames=5))
    assert got.times == pytest.approx([0, 120, 240, 360, 480])
    assert len(got.frames) == 5 and (got.width, got.height) == (32, 24)
    # More seeks than one ffmpeg run takes: two runs, frames still in order.
    many = _sample(clip, tools, replace(CFG, max_frames=SEEKS_PER_RUN + 4))
    step = 600 / (SEEKS_PER_RUN + 4)
    assert many.times == pytest.approx([k * step for k in range(SEEKS_PER_RUN + 4)])
    assert len(many.frames) == SEEKS_PER_RUN + 4
    assert many.frames[0] == got.frames[0] and many.frames[-1] != got.frames[-1]


def test_seek_and_filter_paths_give_the_same_frames(tools, video_clips):
    clip = video_clips["clock60.mp4"]
    seek = _sample(clip, tools, replace(CFG, seek_spacing_s=0))  # one seek per frame
    one_pass = _sample(clip, tools, replace(CFG, seek_spacing_s=math.inf))  # through `fps`
    assert seek.times == one_pass.times == pytest.approx([k * 7.5 for k in range(8)])
    assert seek.frames == one_pass.frames


@pytest.mark.parametrize("seek_spacing_s", [0, math.inf])
def test_times_between_source_frames_are_off_by_less_than_a_frame(
    tools, video_clips, seek_spacing_s
):
    """t = 1.25 s falls between two frames of a 10 fps clip (4.7 luma apart)."""
    clip = video_clips["clock5.avi"]
    got = _sample(clip, tools, replace(CFG, max_frames=4, seek_spacing_s=seek_spacing_s))
    assert got.times == pytest.approx([0, 1.25, 2.5, 3.75])
    one_frame = clock_luma(1 / clip.rate, clip.clock_slope)
    for t, frame in zip(got.times, got.frames, strict=True):
        assert _luma(frame) == pytest.approx(clock_luma(t, clip.clock_slope), abs=one_frame)


def test_fps_and_cap_options(tools, video_clips):
    clip = video_clips["h264.mp4"]
    got = _sample(clip, tools, replace(CFG, fps=2.0, max_frames=20))
    assert got.times == tuple(k / 2 for k in range(10))
    capped = _sample(clip, tools, replace(CFG, max_frames=2))
    assert capped.times == (0.0, 2.5)


def test_resize_keeps_aspect_and_never_upscales(tools, video_clips):
    small = _sample(video_clips["h264.mp4"], tools, replace(CFG, max_side=32))
    assert (small.width, small.height) == (32, 24)
    same = _sample(video_clips["h264.mp4"], tools, replace(CFG, max_side=4096))
    assert (same.width, same.height) == (64, 48)


def test_rotated_clip_comes_out_upright(tools, video_clips):
    got = _sample(video_clips["rotated.mp4"], tools, replace(CFG, max_side=32))
    assert (got.width, got.height) == (24, 32)


def test_system_ffmpeg_gives_the_same_clip(tools, video_clips, tmp_path, monkeypatch):
    (tmp_path / "ffmpeg").symlink_to(tools.ffmpeg)
    monkeypatch.setenv("PATH", str(tmp_path))
    system = find_tools()
    assert system.source == SYSTEM
    clip = video_clips["clock5.avi"]
    assert _sample(clip, system) == _sample(clip, tools)


def test_bytes_round_trip(tools, video_clips):
    clip = video_clips["vp8.webm"] if "vp8.webm" in video_clips else video_clips["mjpeg.avi"]
    data = clip.path.read_bytes()
    assert sample_video_bytes(data, CFG, tools, clip.path.suffix) == _sample(clip, tools)
    with pytest.raises(VideoRejected) as e:
        sample_video_bytes(data, replace(CFG, max_bytes=len(data) - 1), tools)
    assert e.value.reason == "too_large"


def test_video_sample_record(tools, video_clips):
    got = _sample(video_clips["mjpeg.avi"], tools)
    ref = VideoRef("http://example.com/a.avi", "a test pattern", "list.csv#row0")
    sample = to_video_sample(got, ref)
    assert sample.sample_id == video_sample_id(ref.url, ref.caption)
    assert sample.sample_id != video_sample_id(ref.url, "another caption")
    assert (sample.url, sample.caption, sample.frames) == (ref.url, ref.caption, got.frames)
    assert sample.frame_times == got.times and sample.duration == got.duration


# ------------------------------------------------------------------ rejections


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("audio_only.m4a", {"no_video_stream"}),
        ("wide_strip.avi", {"absurd_dimensions"}),
        ("zero_frames.avi", {"zero_duration"}),
        ("truncated.mp4", {"missing_frames"}),
        ("truncated_moov.mp4", {"corrupt_container"}),
        ("garbage.mp4", {"corrupt_container"}),
        # ffmpeg versions differ in whether noise fails the run or just yields no frames.
        ("corrupt_payload.mp4", {"decode_error", "missing_frames"}),
        ("still.jpg", {"unsupported_format"}),
        ("playlist.m3u8", {"unsupported_format"}),
    ],
)
def test_bad_clips_are_rejected_with_a_reason(tools, video_clips, name, reasons):
    assert _rejected(str(video_clips[name].path), tools).reason in reasons


def test_file_checks(tools, video_clips, tmp_path):
    assert _rejected(str(tmp_path / "missing.mp4"), tools).reason == "unreadable_file"
    assert _rejected(str(tmp_path), tools).reason == "not_a_file"
    os.mkfifo(tmp_path / "fifo.mp4")
    assert _rejected(str(tmp_path / "fifo.mp4"), tools).reason == "not_a_file"
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert _rejected(str(tmp_path / "empty.mp4"), tools).reason == "empty_file"
    path = str(video_clips["h264.mp4"].path)
    size = os.path.getsize(path)
    assert _rejected(path, tools, replace(CFG, max_bytes=size - 1)).reason == "too_large"


def test_small_and_tall_limits(tools, video_clips):
    path = str(video_clips["h264.mp4"].path)
    assert _rejected(path, tools, replace(CFG, min_side=49)).reason == "absurd_dimensions"
    assert _rejected(path, tools, replace(CFG, max_input_side=63)).reason == "absurd_dimensions"
    assert _rejected(path, tools, replace(CFG, max_aspect_ratio=1.2)).reason == "absurd_dimensions"


def test_time_limit(tools, video_clips):
    path = str(video_clips["long10min.mp4"].path)
    assert _rejected(path, tools, replace(CFG, time_limit_s=1e-9)).reason == "timeout"
