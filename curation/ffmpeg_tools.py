"""Finding and running ffmpeg: the system binary or imageio-ffmpeg's, with or without ffprobe.

A fresh machine without root has no system ffmpeg, but ``pip install imageio-ffmpeg`` ships a
static ``ffmpeg`` (no ``ffprobe``). So probing has two paths that give the same `ProbeResult`:
``ffprobe -print_format json`` when ffprobe exists, else the stream banner that
``ffmpeg -i FILE`` prints to stderr. Every run has a wall-clock limit and is killed with its
whole process group when it overruns, so one hostile file cannot stall a worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SYSTEM, IMAGEIO = "system", "imageio-ffmpeg"
# Input options that keep ffmpeg on the one local file we hand it: no network protocols and
# no `concat:`/`subfile:` tricks (playlists that read other files are the classic ffmpeg SSRF).
PROTOCOL_WHITELIST = "file"
_STDERR_TAIL = 600  # characters of ffmpeg's stderr kept in a rejection's detail


class ToolError(Exception):
    """ffmpeg/ffprobe failed; `reason` is a counter name, `detail` the offending value."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FfmpegTools:
    """The binaries to run; `ffprobe` None means probing through ffmpeg's banner."""

    ffmpeg: str
    ffprobe: str | None = None
    source: str = SYSTEM  # SYSTEM or IMAGEIO: where `ffmpeg` was found


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a container as the probe saw it."""

    index: int
    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    duration: float | None = None  # seconds, when the stream declares its own
    attached_pic: bool = False  # cover art: a still image, not a video track


@dataclass(frozen=True)
class ProbeResult:
    """What a container holds."""

    format_name: str
    duration: float | None  # seconds; None when the header does not say
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        """The first real video stream (cover art does not count)."""
        return next((s for s in self.streams if s.kind == "video" and not s.attached_pic), None)


@dataclass(frozen=True)
class ToolRun:
    returncode: int
    stdout: str
    stderr: str


def find_tools(prefer_system: bool = True) -> FfmpegTools:
    """ffmpeg on PATH first, else imageio-ffmpeg's binary; ffprobe only from PATH."""
    system = shutil.which("ffmpeg") if prefer_system else None
    ffprobe = shutil.which("ffprobe") if prefer_system else None
    if system:
        return FfmpegTools(system, ffprobe, SYSTEM)
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise ToolError("ffmpeg_not_found", "no ffmpeg on PATH and imageio-ffmpeg missing") from e
    try:
        binary = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:  # the wheel has no binary for this platform
        raise ToolError("ffmpeg_not_found", str(e)) from e
    return FfmpegTools(binary, ffprobe, IMAGEIO)


def run_tool(args: Sequence[str], timeout_s: float) -> ToolRun:
    """Run a command in its own process group; kill the group and raise "timeout" on overrun."""
    if timeout_s <= 0:
        raise ToolError("timeout", f"no time left to run {os.path.basename(args[0])}")
    proc = subprocess.Popen(
        list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group, so the kill also reaches any helper it forks
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ToolError(
            "timeout", f"{os.path.basename(args[0])} ran past {timeout_s:.3g}s"
        ) from None
    return ToolRun(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group, then reap the leader so no zombie is left."""
    with contextlib.suppress(ProcessLookupError):  # it exited between timeout and kill
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def input_url(path: str) -> str:
    """`path` as an explicit file: URL, so names with ':' are never read as protocols."""
    return "file:" + os.path.abspath(path)


def guard_options(formats: Sequence[str]) -> list[str]:
    """Input options that confine ffmpeg to local files in the allowed container formats."""
    opts = ["-protocol_whitelist", PROTOCOL_WHITELIST]
    if formats:
        opts += ["-format_whitelist", ",".join(formats)]
    return opts


def probe(
    path: str, tools: FfmpegTools, timeout_s: float, formats: Sequence[str] = ()
) -> ProbeResult:
    """Streams and duration of a local file; ToolError on an unreadable container."""
    if tools.ffprobe:
        args = [tools.ffprobe, "-v", "error", *guard_options(formats)]
        args += ["-print_format", "json", "-show_format", "-show_streams", input_url(path)]
        run = run_tool(args, timeout_s)
        if run.returncode != 0:
            raise open_error(run.stderr)
        return parse_ffprobe_json(run.stdout)
    args = [tools.ffmpeg, "-hide_banner", "-nostdin", *guard_options(formats)]
    run = run_tool([*args, "-i", input_url(path)], timeout_s)
    # Without an output file ffmpeg always exits 1; the banner is the answer.
    result = parse_ffmpeg_banner(run.stderr)
    if result is None:
        raise open_error(run.stderr)
    return result


def measure_duration(
    path: str, tools: FfmpegTools, stream: int, timeout_s: float, formats: Sequence[str] = ()
) -> float | None:
    """Seconds of one stream by demuxing it to null (no decode); for headers without duration."""
    args = [tools.ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-nostats"]
    args += [*guard_options(formats), "-i", input_url(path), "-map", f"0:{stream}"]
    run = run_tool([*args, "-c", "copy", "-progress", "pipe:1", "-f", "null", "-"], timeout_s)
    if run.returncode != 0:
        raise ToolError("decode_error", stderr_tail(run.stderr))
    return parse_progress_time(run.stdout)


def open_error(stderr: str) -> ToolError:
    """The ToolError for a file ffmpeg could not open, classified from its message."""
    if "not on whitelist" in stderr:
        return ToolError("unsupported_format", stderr_tail(stderr))
    return ToolError("corrupt_container", stderr_tail(stderr))


def stderr_tail(stderr: str) -> str:
    """The last lines of ffmpeg's stderr, enough to say what went wrong."""
    text = " | ".join(line.strip() for line in stderr.strip().splitlines() if line.strip())
    return text[-_STDERR_TAIL:] if text else "(ffmpeg said nothing)"


# ------------------------------------------------------------------------- parsers

_INPUT = re.compile(r"^Input #0, (.+?), from ", re.M)
_DURATION = re.compile(r"^\s*Duration: (N/A|(\d+):(\d\d):(\d\d(?:\.\d+)?))", re.M)
_STREAM = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (\w+): ([^\s,(]+)(.*)$", re.M
)
# WxH follows a comma; a codec tag like "0x31637661" follows a slash and is not a size.
_SIZE = re.compile(r",\s(\d{1,7})x(\d{1,7})(?=[\s,\[]|$)")
_FPS = re.compile(r",\s([\d.]+)(k?) (fps|tbr)\b")
_KINDS = {"Video": "video", "Audio": "audio", "Subtitle": "subtitle", "Data": "data"}


def parse_ffmpeg_banner(stderr: str) -> ProbeResult | None:
    """The ProbeResult in ``ffmpeg -i FILE``'s stderr; None when no input was opened."""
    head = _INPUT.search(stderr)
    if head is None:
        return None
    body = stderr[head.end() :]
    duration = _DURATION.search(body)
    streams = tuple(_banner_stream(m) for m in _STREAM.finditer(body))
    return ProbeResult(head.group(1), _hms(duration), streams)


def _hms(m: re.Match[str] | None) -> float | None:
    if m is None or m.group(1) == "N/A":
        return None
    return int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))


def _banner_stream(m: re.Match[str]) -> StreamInfo:
    """One ``Stream #0:N: Kind: codec …`` line."""
    rest = m.group(4)
    size = _SIZE.search(rest)
    rates = {kind: float(v) * (1000 if k else 1) for v, k, kind in _FPS.findall(rest)}
    return StreamInfo(
        index=int(m.group(1)),
        kind=_KINDS.get(m.group(2), m.group(2).lower()),
        codec=m.group(3),
        width=int(size.group(1)) if size else None,
        height=int(size.group(2)) if size else None,
        fps=rates.get("fps") or rates.get("tbr") or None,
        attached_pic="(attached pic)" in rest,
    )


def parse_ffprobe_json(text: str) -> ProbeResult:
    """ffprobe's ``-show_format -show_streams`` JSON as a ProbeResult."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolError("corrupt_container", f"ffprobe printed no JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ToolError("corrupt_container", f"ffprobe printed {type(doc).__name__}, not an object")
    fmt = doc.get("format") if isinstance(doc.get("format"), dict) else {}
    streams = [s for s in doc.get("streams") or [] if isinstance(s, dict)]
    return ProbeResult(
        str(fmt.get("format_name", "")),
        _number(fmt.get("duration")),
        tuple(_json_stream(i, s) for i, s in enumerate(streams)),
    )


def _json_stream(position: int, s: dict[str, Any]) -> StreamInfo:
    disposition = s.get("disposition") if isinstance(s.get("disposition"), dict) else {}
    width, height = _number(s.get("width")), _number(s.get("height"))
    index = _number(s.get("index"))
    return StreamInfo(
        index=int(index) if index is not None else position,
        kind=str(s.get("codec_type", "unknown")),
        codec=str(s.get("codec_name", "none")),
        width=int(width) if width else None,
        height=int(height) if height else None,
        fps=_rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate")),
        duration=_number(s.get("duration")),
        attached_pic=bool(disposition.get("attached_pic")),
    )


def _number(value: object) -> float | None:
    """A JSON number or numeric string; None for anything else ("N/A", missing, NaN)."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None


def _rate(value: object) -> float | None:
    """ffprobe's "num/den" frame rate; None for "0/0" and junk."""
    if not isinstance(value, str) or "/" not in value:
        return None
    num, den = (_number(p) for p in value.split("/", 1))
    return num / den if num and den else None


def parse_progress_time(stdout: str) -> float | None:
    """The last ``out_time_us`` of ``-progress`` output, in seconds; None when unknown."""
    found = re.findall(r"^out_time_us=(-?\d+)\s*$", stdout, re.M)
    return int(found[-1]) / 1e6 if found else None
