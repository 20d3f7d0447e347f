"""What `process_image` stores with libvips resizing against Pillow's LANCZOS, on real photos.

    python bench/resample_quality.py --corpus ../shared/corpus/images [--max-side 512 384 256 160]

Each photo goes through `process_image` twice per --max-side (the cap sets the shrink ratio):
with libvips (curation.resample) and with Pillow forced. Printed per cap:

- PSNR / SSIM of the libvips result against Pillow's, before JPEG encoding (the resampler alone)
  and after (the stored bytes, decoded);
- the JPEG floor: PSNR of Pillow's own stored bytes against its pixels before encoding, i.e.
  what storing at `quality` costs anyway (a resampler difference far above it is invisible);
- phash Hamming distance between the two records (decontamination radius: 8);
Photos that still take Pillow's path both times (RGBA, CMYK) are left out.

- milliseconds per photo of the resize and of the whole `process_image`, and their ratio.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from unittest import mock

import numpy as np
from PIL import Image, ImageOps
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curation import resample
from curation.hashing import hamming
from curation.images import ImageConfig, ImageRejected, process_image
from schemas import ImageRecord

T = TypeVar("T")

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays (99 when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the luma of two RGB arrays (Gaussian window, sigma 1.5, as Wang et al.)."""
    x, y = (np.asarray(Image.fromarray(v).convert("L"), np.float64) for v in (a, b))

    def blur(z: np.ndarray) -> np.ndarray:
        return gaussian_filter(z, 1.5, truncate=3.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    num = (2 * mx * my + c1) * (2 * cov + c2)
    return float(np.mean(num / ((mx * mx + my * my + c1) * (vx + vy + c2))))


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def _timed(fn: Callable[[], T], repeat: int = 3) -> tuple[T, float]:
    """(result, best milliseconds of `repeat` calls)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return out, best * 1000  # type: ignore[return-value]


@dataclass
class Run:
    """One photo through `process_image` with one resampler."""

    record: ImageRecord
    ms: float  # the whole process_image
    raw: np.ndarray  # the resized pixels before JPEG encoding
    resize_ms: float
    stored: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        with Image.open(io.BytesIO(self.record.bytes)) as img:
            self.stored = np.asarray(img.convert("RGB"))


def run(data: bytes, cfg: ImageConfig, vips: bool) -> Run | None:
    """`data` processed with libvips or with Pillow forced; None when no resize happens."""
    with nullcontext() if vips else mock.patch.object(resample, "pyvips", None):
        try:
            record, ms = _timed(lambda: process_image(data, "bench", cfg))
        except ImageRejected:
            return None
        with Image.open(io.BytesIO(data)) as img:
            rgb = ImageOps.exif_transpose(img).convert("RGB")  # upright, as the record
        size = (record.width, record.height)
        if size == rgb.size:
            return None
        raw, resize_ms = _timed(lambda: resample.resize_lanczos(rgb, size))
    return Run(record, ms, np.asarray(raw), resize_ms)


def compare(data: bytes, max_side: int) -> dict[str, float] | None:
    """The figures of one photo at one cap; None when either side did not resize it."""
    cfg = ImageConfig(max_side=max_side, min_side=1)
    new, old = run(data, cfg, vips=True), run(data, cfg, vips=False)
    if new is None or old is None:
        return None
    return {
        "same": float(new.record.bytes == old.record.bytes),  # RGBA, CMYK: Pillow both times
        "raw_psnr": psnr(new.raw, old.raw),
        "raw_ssim": ssim(new.raw, old.raw),
        "stored_psnr": psnr(new.stored, old.stored),
        "stored_ssim": ssim(new.stored, old.stored),
        "jpeg_floor": psnr(old.stored, old.raw),
        "hamming": hamming(new.record.phash, old.record.phash),
        "vips_ms": new.ms,
        "pillow_ms": old.ms,
        "vips_resize_ms": new.resize_ms,
        "pillow_resize_ms": old.resize_ms,
    }


def _speedup(before: float, after: float) -> str:
    return f"{before:.1f}->{after:.1f} x{before / after:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True, help="folder searched for photos (recursive)")
    ap.add_argument("--max-side", type=int, nargs="+", default=[512, 384, 256, 160])
    args = ap.parse_args()
    if resample.pyvips is None:
        sys.exit("pyvips is not installed: nothing to compare (pip install 'pyvips[binary]')")
    files = sorted(p for p in Path(args.corpus).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    photos = [p.read_bytes() for p in files]
    print(f"{len(photos)} files under {args.corpus}; {resample.resampler()} vs Pillow LANCZOS")
    head = ("max side", "n vips", "raw PSNR", "SSIM", "stored PSNR", "SSIM", "JPEG floor",
            "phash d mean/max", "resize ms", "image ms")  # fmt: skip
    print(("{:>9}{:>7}" + "{:>10}{:>8}{:>12}{:>8}{:>11}{:>18}{:>18}{:>18}").format(*head))
    for side in args.max_side:
        both = [r for r in (compare(p, side) for p in photos) if r is not None]
        got = [r for r in both if not r["same"]]
        if not got:
            continue
        m = {k: float(np.mean([r[k] for r in got])) for k in got[0]}
        worst = max(r["hamming"] for r in got)
        resize = _speedup(m["pillow_resize_ms"], m["vips_resize_ms"])
        whole = _speedup(m["pillow_ms"], m["vips_ms"])
        print(
            f"{side:>9}{len(got):>7}{m['raw_psnr']:>10.1f}{m['raw_ssim']:>8.4f}"
            f"{m['stored_psnr']:>12.1f}{m['stored_ssim']:>8.4f}{m['jpeg_floor']:>11.1f}"
            f"{m['hamming']:>13.2f}/{worst:<4}{resize:>18}{whole:>18}"
        )


if __name__ == "__main__":
    main()
