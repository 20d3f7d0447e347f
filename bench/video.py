"""Clips/s and frames/s of 1 FPS frame sampling (curation.video) on generated 10-60 s clips.

    python bench/video.py [--clips 12] [--size 640x360] [--rate 25] [--repeat 2]

Generates H.264 clips (testsrc2, x264 defaults: a keyframe every 250 frames = 10 s at 25 fps)
with durations spread over 10-60 s, then times, per clip and in one process:

  probe          ffmpeg -i banner (or ffprobe) only
  decode         the same ffmpeg reads (fps filter, or one seek per frame) to -f null:
                 demux + decode, no resize, no JPEG
  decode+scale   as decode, plus the resize filter
  full           sample_video_file: probe + decode + resize + JPEG encode + reading the files

for three settings: the default (at most 8 frames; clips of 40 s or more, where the 8 frames lie
5 s or more apart, take one seek per frame), the same without seeks (one decode through the fps
filter), and uncapped 1 FPS (every second of the clip). The baseline is the naive way to the
default's 8 frames: every 1 FPS frame decoded and encoded (the uncapped run), then 8 kept; the
ratio is default / baseline clips per second. Shares are of CPU time (children's rusage), which
a loaded machine disturbs far less than wall time; JPEG encode = full - probe - decode+scale.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import ffmpeg

from curation.ffmpeg_tools import (
    FfmpegTools,
    find_tools,
    input_url,
    probe,
    run_tool,
)
from curation.video import (
    VideoConfig,
    plan_frame_times,
    sample_video_file,
    scale_filter,
    seek_start,
)


def make_clips(d: Path, tools: FfmpegTools, n: int, size: str, rate: int) -> list[Path]:
    """n H.264 clips, durations evenly spread over 10-60 s."""
    paths = []
    for i in range(n):
        seconds = 10 + 50 * i / max(n - 1, 1)
        path = d / f"clip{i:02d}_{seconds:.0f}s.mp4"
        src = f"testsrc2=size={size}:rate={rate}:duration={seconds:.2f}"
        args = [tools.ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", src, "-c:v", "libx264"]
        args += ["-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)]
        run = run_tool(args, 600)
        if run.returncode:
            raise SystemExit(run.stderr)
        paths.append(path)
    return paths


def null_command(path: Path, cfg: VideoConfig, tools: FfmpegTools, scale: bool) -> list[str]:
    """The reads sample_video_file makes, writing to -f null instead of JPEG files."""
    info = probe(str(path), tools, 60)
    stream = info.video
    assert stream is not None and info.duration
    plan = plan_frame_times(info.duration, cfg.fps, cfg.max_frames, cfg.seek_spacing_s)
    outs = []
    if not plan.seek:
        src = ffmpeg.input(input_url(str(path)), threads=cfg.decode_threads)
        v = src[str(stream.index)].filter("fps", fps=plan.fps, round="up")
        v = v.filter("scale", **scale_filter(cfg.max_side)) if scale else v
        outs.append(v.output("-", f="null", vframes=len(plan.times)))
    else:
        for t in plan.times:
            src = ffmpeg.input(input_url(str(path)), ss=f"{seek_start(t, stream):.6f}", threads=1)
            v = src[str(stream.index)]
            v = v.filter("scale", **scale_filter(cfg.max_side)) if scale else v
            outs.append(v.output("-", f="null", vframes=1))
    args = ffmpeg.compile(ffmpeg.merge_outputs(*outs), cmd=tools.ffmpeg)
    return [args[0], "-hide_banner", "-nostdin", "-v", "error", *args[1:]]


def _timed(fn) -> tuple[float, float]:
    """(wall s, CPU s of finished child processes): ffmpeg's CPU does not depend on load."""
    cpu0, wall0 = _child_cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - wall0, _child_cpu() - cpu0


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(clips: list[Path], cfg: VideoConfig, tools: FfmpegTools, repeat: int) -> dict:
    """Best-of-`repeat` (wall, CPU) seconds per phase, summed over the clips, and frames."""
    commands = {
        name: [null_command(c, cfg, tools, scale) for c in clips]
        for name, scale in (("decode", False), ("decode+scale", True))
    }
    phases = {
        "probe": lambda: [probe(str(c), tools, 60) for c in clips],
        "decode": lambda: [run_tool(cmd, 600) for cmd in commands["decode"]],
        "decode+scale": lambda: [run_tool(cmd, 600) for cmd in commands["decode+scale"]],
        "full": lambda: [sample_video_file(str(c), cfg, tools) for c in clips],
    }
    runs = {name: [_timed(fn) for _ in range(repeat)] for name, fn in phases.items()}
    wall = {name: min(w for w, _ in r) for name, r in runs.items()}
    cpu = {name: min(c for _, c in r) for name, r in runs.items()}
    frames = sum(len(sample_video_file(str(c), cfg, tools).frames) for c in clips)
    return {"wall": wall, "cpu": cpu, "frames": frames, "clips": len(clips)}


def report(name: str, r: dict) -> None:
    """One row: throughput by wall clock and by CPU, and each phase's share of the CPU."""
    c = r["cpu"]
    parts = {
        "probe": c["probe"],
        "decode": c["decode"],
        "scale": c["decode+scale"] - c["decode"],
        "encode": c["full"] - c["probe"] - c["decode+scale"],  # JPEG + writing/reading files
    }
    shares = "".join(f"{v / c['full']:>8.0%}" for v in parts.values())
    print(
        f"{name:<24}{r['clips'] / r['wall']['full']:>8.2f}{r['frames'] / r['wall']['full']:>9.1f}"
        f"{r['clips'] / c['full']:>11.2f}{r['frames'] / c['full']:>11.1f}{shares}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--rate", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=2, help="best of N timings per phase")
    args = ap.parse_args()
    tools = find_tools()
    print(f"ffmpeg: {tools.ffmpeg} ({tools.source}), ffprobe: {tools.ffprobe or 'none'}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        clips = make_clips(Path(tmp), tools, args.clips, args.size, args.rate)
        seconds = sum(probe(str(c), tools, 60).duration or 0 for c in clips)
        print(
            f"{len(clips)} clips, {args.size} @ {args.rate} fps, {seconds:.0f} s of video "
            f"(median {statistics.median(s.stat().st_size for s in clips) / 1e6:.1f} MB), "
            f"made in {time.perf_counter() - t0:.1f}s\n"
        )
        default = VideoConfig()
        results = {
            "default (8 frames max)": measure(clips, default, tools, args.repeat),
            "no seeks (8 frames max)": measure(
                clips, replace(default, seek_spacing_s=math.inf), tools, args.repeat
            ),
            "uncapped 1 FPS": measure(
                clips, replace(default, max_frames=10**6), tools, args.repeat
            ),
        }
    print(f"{'':<24}{'-- per wall second --':>17}{'-- per CPU second --':>22}{'share of CPU':>24}")
    print(
        f"{'setting':<24}{'clips':>8}{'frames':>9}{'clips':>11}{'frames':>11}"
        f"{'probe':>8}{'decode':>8}{'scale':>8}{'encode':>8}"
    )
    for name, r in results.items():
        report(name, r)
    base, ours = results["uncapped 1 FPS"], results["default (8 frames max)"]
    for unit in ("wall", "cpu"):
        ratio = (base[unit]["full"]) / ours[unit]["full"]
        print(
            f"clips/s default vs the baseline (every 1 FPS frame, keep 8), by {unit}: {ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
