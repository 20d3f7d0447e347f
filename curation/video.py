"""Video clip → JPEG frames at a fixed rate (Flamingo VTP), or a VideoRejected with a reason.

A clip gets one frame every 1/fps seconds from t = 0, or, when that is more than
``max_frames``, ``max_frames`` timestamps spread evenly over it. Frames are taken in one
decode through ffmpeg's ``fps`` filter, unless they lie ``seek_spacing_s`` or more apart:
then each comes from its own input-level seek, so a ten-minute video costs a few GOPs of
decoding instead of ten minutes of it. Every ffmpeg run shares one per-clip deadline.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import ffmpeg
from PIL import Image

from curation.ffmpeg_tools import (
    FfmpegTools,
    ProbeResult,
    StreamInfo,
    ToolError,
    guard_options,
    input_url,
    measure_duration,
    probe,
    run_tool,
    stderr_tail,
)
from curation.hashing import phash64
from schemas.records import ImageRecord, VideoSample

# Demuxers a web video arrives in. Anything else (HLS/DASH playlists, concat lists, image
# sequences, raw streams) is refused before ffmpeg parses it: playlists make ffmpeg open
# further files, and still images are not clips. Names match any alias of a demuxer.
WEB_VIDEO_FORMATS = (
    "mov",
    "mp4",
    "matroska",
    "webm",
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "ogg",
    "asf",
    "gif",
)
# Seeks per ffmpeg run: each holds an open input and a decoder (8 = Flamingo's T, one run).
SEEKS_PER_RUN = 8


@dataclass(frozen=True)
class VideoConfig:
    """How clips are accepted and sampled."""

    fps: float = 1.0  # Flamingo VTP: frames sampled at 1 FPS
    max_frames: int = 8  # Flamingo trains on video with T = 8 frames
    max_side: int = 480  # stored frame size cap: Flamingo trains at 320 px, fine-tunes at 480
    jpeg_qscale: int = 3  # ffmpeg -q:v for MJPEG (2 best … 31 worst); 2-5 is visually lossless
    time_limit_s: float = 60.0  # probe + decode per clip; a 22 s VTP clip needs well under 1 s
    max_bytes: int = 256 * 1024 * 1024  # VTP clips average 22 s: tens of MB even at high bitrate
    min_side: int = 16  # below this a frame holds nothing an encoder can see
    max_input_side: int = 8192  # 8K; beyond it decode memory, not content, is what grows
    max_aspect_ratio: float = 8.0  # 32:9 super-wide is 3.6; 8 leaves room and drops strips
    missing_frames_allowed: int = 1  # header durations often overstate the last frame
    decode_threads: int = 0  # 0: ffmpeg picks; seek inputs always use 1 (they run side by side)
    # A seek decodes from the keyframe before t: up to a GOP, 10 s with x264's defaults at
    # 25 fps. bench/video.py: seeks beat one full decode once frames are ~5 s apart.
    seek_spacing_s: float = 5.0
    formats: tuple[str, ...] = WEB_VIDEO_FORMATS

    def __post_init__(self) -> None:
        if not self.fps > 0 or self.max_frames < 1 or self.max_side < 1:
            raise ValueError(f"need fps > 0, max_frames >= 1, max_side >= 1: {self}")


class VideoRejected(Exception):
    """A clip we will not store; `reason` is a counter name, `detail` the offending value."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class VideoRef:
    """One row of a video list: where the clip is and its caption."""

    url: str  # http(s) URL, local path, file:// URL or another Beam filesystem path
    caption: str
    key: str  # where the row came from, "list.parquet#row"


@dataclass(frozen=True)
class FramePlan:
    """The timestamps to sample and the rate they amount to."""

    times: tuple[float, ...]
    fps: float  # the requested fps, or max_frames / duration when the cap spreads them out
    seek: bool  # True: one seek per frame; False: one decode of the clip through `fps`


@dataclass(frozen=True)
class SampledClip:
    """The frames of one clip, ready to become a VideoSample."""

    frames: tuple[bytes, ...]  # JPEG, in time order
    times: tuple[float, ...]  # seconds from the start, one per frame
    fps: float
    duration: float
    width: int  # of the stored frames (after rotation and resize)
    height: int


def plan_frame_times(
    duration: float, fps: float, max_frames: int, seek_spacing_s: float = math.inf
) -> FramePlan:
    """t = k/fps for every step inside the clip, or max_frames evenly spaced when more."""
    steps = max(1, math.ceil(duration * fps - 1e-6))  # a 5.0 s clip at 1 FPS: t = 0..4
    if steps <= max_frames:
        return FramePlan(tuple(k / fps for k in range(steps)), fps, 1 / fps >= seek_spacing_s)
    # Spread out from t=0 with the same spacing rule, so the plan is continuous in duration.
    step = duration / max_frames
    return FramePlan(tuple(k * step for k in range(max_frames)), 1 / step, step >= seek_spacing_s)


def video_sample_id(url: str, caption: str) -> str:
    """A stable id for a (clip, caption) pair."""
    return hashlib.sha256(f"{url}\0{caption}".encode()).hexdigest()[:24]


def to_video_sample(clip: SampledClip, ref: VideoRef) -> VideoSample:
    """The VideoSample record of a sampled clip."""
    return VideoSample(
        sample_id=video_sample_id(ref.url, ref.caption),
        url=ref.url,
        caption=ref.caption,
        frames=clip.frames,
        frame_times=clip.times,
        fps=clip.fps,
        duration=clip.duration,
        width=clip.width,
        height=clip.height,
    )


def frame_url(url: str, t: float) -> str:
    """A frame's address: the clip URL with a W3C media-fragment time, ``clip.mp4#t=2.000``."""
    return f"{url}#t={t:.3f}"


def frame_records(sample: VideoSample) -> tuple[ImageRecord, ...]:
    """Each frame as an ImageRecord (for decontamination), hashed like a crawled image.

    The pHash is taken on the decoded JPEG exactly as curation.images does, so a frame
    that is an eval image stored unchanged hashes identically to its index entry.
    """
    records = []
    for data, t in zip(sample.frames, sample.frame_times, strict=True):
        try:
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
                rgb = im.convert("RGB")
        except (OSError, SyntaxError) as e:
            raise VideoRejected("decode_error", f"frame t={t:.3f}s: {e}") from None
        sha = hashlib.sha256(data).hexdigest()
        url = frame_url(sample.url, t)
        records.append(ImageRecord(data, url, sha, phash64(rgb), rgb.width, rgb.height))
    return tuple(records)


def sample_video_file(path: str, cfg: VideoConfig, tools: FfmpegTools) -> SampledClip:
    """Probe, check and sample one local clip; VideoRejected for anything we do not keep."""
    deadline = time.monotonic() + cfg.time_limit_s
    check_file(path, cfg.max_bytes)
    try:
        info = probe(path, tools, deadline - time.monotonic(), cfg.formats)
        stream = check_video_stream(info, cfg)
        duration = clip_duration(path, info, stream, tools, cfg, deadline)
        plan = plan_frame_times(duration, cfg.fps, cfg.max_frames, cfg.seek_spacing_s)
        with tempfile.TemporaryDirectory(prefix="frames-") as workdir:
            frames = extract_frames(path, stream, plan, cfg, tools, workdir, deadline)
    except ToolError as e:
        raise VideoRejected(e.reason, e.detail) from None
    return _assemble(frames, plan, duration, cfg)


def sample_video_bytes(
    data: bytes, cfg: VideoConfig, tools: FfmpegTools, suffix: str = ""
) -> SampledClip:
    """sample_video_file on bytes (a download), through a temporary file ffmpeg can seek in."""
    if len(data) > cfg.max_bytes:
        raise VideoRejected("too_large", f"{len(data)} bytes > {cfg.max_bytes}")
    with tempfile.TemporaryDirectory(prefix="clip-") as tmp:
        path = os.path.join(tmp, "clip" + suffix)
        with open(path, "wb") as f:
            f.write(data)
        return sample_video_file(path, cfg, tools)


def check_file(path: str, max_bytes: int) -> None:
    """Reject what is not a regular, non-empty file of at most max_bytes."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise VideoRejected("unreadable_file", f"{path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise VideoRejected("not_a_file", f"{path} is not a regular file")
    if st.st_size == 0:
        raise VideoRejected("empty_file", path)
    if st.st_size > max_bytes:
        raise VideoRejected("too_large", f"{st.st_size} bytes > {max_bytes}")


def check_video_stream(info: ProbeResult, cfg: VideoConfig) -> StreamInfo:
    """The video stream to sample, if its codec is known and its size is plausible."""
    stream = info.video
    if stream is None:
        kinds = ", ".join(f"{s.kind}:{s.codec}" for s in info.streams) or "no streams"
        raise VideoRejected("no_video_stream", f"{info.format_name}: {kinds}")
    if stream.codec == "none":
        raise VideoRejected("unsupported_codec", f"stream {stream.index} of {info.format_name}")
    w, h = stream.width or 0, stream.height or 0
    if (
        min(w, h) < cfg.min_side
        or max(w, h) > cfg.max_input_side
        or max(w, h) > cfg.max_aspect_ratio * min(w, h)
    ):
        raise VideoRejected("absurd_dimensions", f"{w}x{h}")
    return stream


def clip_duration(
    path: str,
    info: ProbeResult,
    stream: StreamInfo,
    tools: FfmpegTools,
    cfg: VideoConfig,
    deadline: float,
) -> float:
    """The video stream's duration, else the container's, else measured by demuxing."""
    duration = stream.duration or info.duration
    if duration is None:
        # e.g. WebM from a browser's MediaRecorder: no duration in the header.
        duration = measure_duration(
            path, tools, stream.index, deadline - time.monotonic(), cfg.formats
        )
    if duration is None or duration <= 0:
        raise VideoRejected("zero_duration", f"{info.format_name}: duration {duration}")
    return duration


def scale_filter(max_side: int) -> dict[str, str]:
    """Fit the longer side into max_side, keeping the aspect; never upscale.

    In the filter graph iw/ih are after ffmpeg's autorotation, so phone videos come out upright.
    """
    return {
        "w": f"if(gte(iw,ih),min(iw,{max_side}),-1)",
        "h": f"if(gte(iw,ih),-1,min(ih,{max_side}))",
    }


def extract_frames(
    path: str,
    stream: StreamInfo,
    plan: FramePlan,
    cfg: VideoConfig,
    tools: FfmpegTools,
    workdir: str,
    deadline: float,
) -> dict[int, bytes]:
    """JPEG bytes by position in `plan.times`; positions ffmpeg produced nothing for are absent."""
    if not plan.seek:
        graphs = [_filter_graph(input_url(path), stream, plan, cfg, workdir)]
    else:
        # Each seek is an open input with its own decoder: bound how many run at once.
        positions = list(range(len(plan.times)))
        batches = [
            positions[i : i + SEEKS_PER_RUN] for i in range(0, len(positions), SEEKS_PER_RUN)
        ]
        graphs = [_seek_graph(input_url(path), stream, plan, b, cfg, workdir) for b in batches]
    for graph in graphs:
        args = ffmpeg.compile(graph, cmd=tools.ffmpeg)
        # Global options go first: ffmpeg 7+ ignores options trailing the last output.
        args = [args[0], "-hide_banner", "-nostdin", "-v", "error", *args[1:]]
        run = run_tool(args, _left(deadline))
        if run.returncode != 0:
            raise VideoRejected("decode_error", stderr_tail(run.stderr))
    return _read_frames(workdir, len(plan.times))


def _filter_graph(
    url: str, stream: StreamInfo, plan: FramePlan, cfg: VideoConfig, workdir: str
) -> Any:
    """One decode of the whole clip through ``fps``, writing 0000.jpg, 0001.jpg, …"""
    src = ffmpeg.input(url, threads=cfg.decode_threads, **_input_options(cfg))
    # round=up: tick t gets the last frame with pts <= t, the frame on screen at t.
    # (The default, round=near, shows a frame up to half a tick later.)
    frames = src[str(stream.index)].filter("fps", fps=plan.fps, round="up")
    frames = frames.filter("scale", **scale_filter(cfg.max_side))
    pattern = os.path.join(workdir, "%04d.jpg")
    return frames.output(pattern, vframes=len(plan.times), start_number=0, **_jpeg_options(cfg))


def _seek_graph(
    url: str,
    stream: StreamInfo,
    plan: FramePlan,
    positions: list[int],
    cfg: VideoConfig,
    workdir: str,
) -> Any:
    """One input-level seek and one single-frame output per planned time in `positions`."""
    outs = []
    for i in positions:
        # One decoder thread each: the seek inputs already decode side by side.
        start = f"{seek_start(plan.times[i], stream):.6f}"
        src = ffmpeg.input(url, ss=start, threads=1, **_input_options(cfg))
        frame = src[str(stream.index)].filter("scale", **scale_filter(cfg.max_side))
        name = os.path.join(workdir, f"{i:04d}.jpg")
        outs.append(frame.output(name, vframes=1, update=1, **_jpeg_options(cfg)))
    return ffmpeg.merge_outputs(*outs)


def seek_start(t: float, stream: StreamInfo) -> float:
    """Where to seek so that the first frame kept is the one at (or nearest to) `t`."""
    # An accurate seek to s yields the first frame with pts >= s, after s is rounded to the
    # stream's time base. Seeking half a source frame early gives the frame nearest to t (or,
    # where the time base is one frame, the frame on screen at t, as the fps filter picks):
    # off by at most one source frame, and exact for frames that start at t.
    lead = 0.5 / stream.fps if stream.fps else 0.0
    return max(t - lead, 0.0)


def _jpeg_options(cfg: VideoConfig) -> dict[str, Any]:
    return {"q:v": cfg.jpeg_qscale, "f": "image2"}


def _input_options(cfg: VideoConfig) -> dict[str, str]:
    """guard_options as ffmpeg-python keyword arguments."""
    opts = guard_options(cfg.formats)
    return {k.lstrip("-"): v for k, v in zip(opts[::2], opts[1::2], strict=True)}


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _read_frames(workdir: str, n: int) -> dict[int, bytes]:
    frames: dict[int, bytes] = {}
    for i in range(n):
        name = os.path.join(workdir, f"{i:04d}.jpg")
        if os.path.exists(name):
            with open(name, "rb") as f:
                data = f.read()
            if data:
                frames[i] = data
    return frames


def _assemble(
    frames: dict[int, bytes], plan: FramePlan, duration: float, cfg: VideoConfig
) -> SampledClip:
    """Frames in time order with their times; reject when too many planned frames are missing."""
    if not frames:
        raise VideoRejected("decode_error", f"no frame decoded from a {duration:.2f}s clip")
    missing = len(plan.times) - len(frames)
    if missing > cfg.missing_frames_allowed:
        raise VideoRejected(
            "missing_frames",
            f"header says {duration:.2f}s ({len(plan.times)} frames at {plan.fps:.3g} fps), "
            f"decoded {len(frames)}",
        )
    order = sorted(frames)
    width, height = _jpeg_size(frames[order[0]])
    return SampledClip(
        frames=tuple(frames[i] for i in order),
        times=tuple(plan.times[i] for i in order),
        fps=plan.fps,
        duration=duration,
        width=width,
        height=height,
    )


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the JPEG header (no decode)."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            return im.size
    except (OSError, SyntaxError) as e:
        raise VideoRejected("decode_error", f"ffmpeg wrote an unreadable JPEG: {e}") from None
