"""Bundled image-text pairs and video clips for the demo, with the bad cases a real list has.

`make_sample_media(dir, base_url)` writes `pairs/` (JPEGs + `pairs.csv`) and `videos/` (MP4 clips +
`videos.csv`) under `dir`, the lists naming every file by its URL under `base_url`, so that
serving `dir` there (the demo starts `python -m http.server`) makes the lists downloadable.
Each list also holds entries that must be rejected (missing, truncated, too small, bad
caption, a planted evaluation image, not a video) and `media.json` says how many of each.
Everything is a pure function of the seed, except the clips' bytes, which depend on the
ffmpeg build that encodes them.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from curation.ffmpeg_tools import find_tools
from curation.sample_images import SCENES, render_scene, scene_bytes, truncated_jpeg

MEDIA_NAME = "media.json"
PAIRS_DIR = "pairs"
VIDEOS_DIR = "videos"
DEFAULT_BASE_URL = "http://127.0.0.1:8000/"

# What a captioner might say about each kind of scene render_scene draws.
SUBJECTS: dict[str, tuple[str, ...]] = {
    "hills": ("rolling green hills", "a quiet valley between hills", "hills under a pale sky"),
    "city": ("a row of tall buildings", "a city skyline at dusk", "office towers downtown"),
    "still_life": ("fruit on a wooden table", "a bowl of apples", "a still life with pears"),
    "sea": ("small boats on a calm sea", "sailing boats near the shore", "waves under clouds"),
    "shapes": ("bright shapes on a wall", "a colourful abstract poster", "circles and squares"),
}
OPENINGS = ("A photo of", "A picture of", "A view of", "Close-up of")
ENDINGS = ("in the morning.", "on a sunny day.", "in soft evening light.", "seen from afar.")
PAN = ("A slow pan across", "The camera drifts over", "A short clip of")


@dataclass(frozen=True)
class MediaCounts:
    """How many entries of a list the pipeline must keep, and why each other one goes."""

    total: int
    kept: int
    rejected: dict[str, str] = field(default_factory=dict)  # file or URL → why it must go


@dataclass(frozen=True)
class SampleMedia:
    """Where the lists are and what curating them must give."""

    base_url: str
    pairs_list: str
    videos_list: str
    pairs: MediaCounts
    videos: MediaCounts

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def caption(rng: random.Random, scene: str, opening: Sequence[str] = OPENINGS) -> str:
    """A short, plausible caption for a render of `scene`."""
    return f"{rng.choice(opening)} {rng.choice(SUBJECTS[scene])} {rng.choice(ENDINGS)}"


def _scenes(rng: random.Random, n: int) -> Iterator[str]:
    """`n` scene kinds, each kind equally often (so every caption subject is trained on)."""
    kinds = sorted(SCENES)
    order = [kinds[i % len(kinds)] for i in range(n)]
    rng.shuffle(order)
    yield from order


def write_pairs(root: Path, base_url: str, seed: int, n: int, planted: bytes | None) -> MediaCounts:
    """JPEGs with captions under root/pairs, the list pairs.csv; good and bad entries."""
    rng = random.Random(f"pairs-{seed}")
    images = root / PAIRS_DIR / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []
    for i, scene in enumerate(_scenes(rng, n)):
        name = f"pair-{i:03d}.jpg"
        img = render_scene(f"pair-{seed}-{i}", 320, 240, scene=scene)
        img.save(images / name, quality=88)
        rows.append((name, caption(rng, scene)))
    bad: dict[str, str] = {}

    def add_bad(name: str, data: bytes | None, text: str, why: str) -> None:
        if data is not None:
            (images / name).write_bytes(data)
        rows.append((name, text))
        bad[name] = why

    add_bad("missing.jpg", None, "A photo of a page that is gone.", "HTTP 404")
    cut = truncated_jpeg(f"trunc-{seed}")
    add_bad("truncated.jpg", cut, "A photo cut off in transfer.", "corrupt")
    tiny = scene_bytes(f"tiny-{seed}", 48, 36, "jpeg")
    add_bad("tiny.jpg", tiny, "A thumbnail far too small to learn from.", "too small")
    add_bad("short.jpg", scene_bytes(f"short-{seed}", 320, 240, "jpeg"), "img", "caption too short")
    if planted is not None:
        text = "A photo that is also in the evaluation set."
        add_bad("planted.jpg", planted, text, "evaluation-set duplicate")
    rng.shuffle(rows)
    urls = [(f"{base_url}{PAIRS_DIR}/images/{name}", text) for name, text in rows]
    _write_list(root / PAIRS_DIR / "pairs.csv", urls)
    return MediaCounts(len(rows), n, bad)


def pan_frames(key: str, scene: str, size: tuple[int, int], frames: int) -> Iterator[bytes]:
    """RGB24 frames of a camera panning across a scene twice as wide as the frame."""
    w, h = size
    wide = np.asarray(render_scene(key, 2 * w, h, scene=scene, grain=False))
    for f in range(frames):
        x = round(f * w / max(1, frames - 1))
        yield np.ascontiguousarray(wide[:, x : x + w]).tobytes()


def encode_clip(
    path: Path, frames: Iterator[bytes], size: tuple[int, int], fps: int, ffmpeg: str
) -> None:
    """Encode raw RGB frames to MP4 with H.264 (or MPEG-4 Part 2 where the build lacks x264)."""
    data = b"".join(frames)
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", str(fps)]
    for codec in (["-c:v", "libx264", "-preset", "veryfast"], ["-c:v", "mpeg4", "-q:v", "4"]):
        cmd = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", *raw, "-i", "-"]
        cmd += [*codec, "-pix_fmt", "yuv420p", str(path)]
        run = subprocess.run(cmd, input=data, capture_output=True, timeout=120)
        if run.returncode == 0:
            return
    raise RuntimeError(f"ffmpeg could not encode {path}: {run.stderr.decode(errors='replace')}")


def write_videos(root: Path, base_url: str, seed: int, n: int, seconds: int) -> MediaCounts:
    """Short panning MP4 clips with captions under root/videos, the list videos.csv."""
    rng = random.Random(f"videos-{seed}")
    folder = root / VIDEOS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg = find_tools().ffmpeg
    fps, size = 6, (192, 144)
    rows: list[tuple[str, str]] = []
    for i, scene in enumerate(_scenes(rng, n)):
        name = f"clip-{i:02d}.mp4"
        frames = pan_frames(f"clip-{seed}-{i}", scene, size, fps * seconds)
        encode_clip(folder / name, frames, size, fps, ffmpeg)
        rows.append((name, caption(rng, scene, PAN)))
    good = (folder / rows[0][0]).read_bytes()
    bad = {
        "missing.mp4": "HTTP 404",
        "truncated.mp4": "cut off in transfer",
        "not-a-video.mp4": "an HTML page saved as .mp4",
    }
    (folder / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (folder / "not-a-video.mp4").write_bytes(b"<!doctype html><title>Not found</title>")
    rows += [(name, f"A clip of something that is not there ({why}).") for name, why in bad.items()]
    rng.shuffle(rows)
    urls = [(f"{base_url}{VIDEOS_DIR}/{name}", text) for name, text in rows]
    _write_list(folder / "videos.csv", urls)
    return MediaCounts(len(rows), n, bad)


def _write_list(path: Path, rows: Sequence[tuple[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["url", "caption"])
        out.writerows(rows)


def make_sample_media(
    out_dir: str | Path,
    base_url: str = DEFAULT_BASE_URL,
    seed: int = 0,
    pairs: int = 40,
    videos: int = 6,
    seconds: int = 5,
    planted: bytes | None = None,
) -> SampleMedia:
    """Write the pair and video samples and media.json under `out_dir`; what was written."""
    if not base_url.endswith("/"):
        base_url += "/"
    root = Path(out_dir)
    media = SampleMedia(
        base_url,
        f"{PAIRS_DIR}/pairs.csv",
        f"{VIDEOS_DIR}/videos.csv",
        write_pairs(root, base_url, seed, pairs, planted),
        write_videos(root, base_url, seed, videos, seconds),
    )
    (root / MEDIA_NAME).write_text(media.to_json(), encoding="utf-8")
    return media


def caption_texts() -> Iterator[str]:
    """Every caption word the samples can use (tokenizer training text)."""
    for subjects in SUBJECTS.values():
        for subject in subjects:
            for opening in (*OPENINGS, *PAN):
                yield f"{opening} {subject} " + " ".join(ENDINGS)
