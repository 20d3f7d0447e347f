"""LANCZOS downscaling of decoded pixels: libvips' vectorised kernel when installed, else Pillow.

Pillow's resampling is a scalar loop: fitting a 1280x960 photo into 1024 px took 20 of the
33 ms of `process_image`, and neither JPEG draft decoding (only at <= 1/2) nor
`reducing_gap` (only at <= 1/6) helps between 1/2 and 1/1, where most photos land after
draft. libvips' lanczos3 computes the same antialiased filter with SIMD, 2-3x faster
(1280x960 -> 1024x768 RGB: 19 -> 7 ms, copies in and out included), and matches Pillow to
rounding (PSNR ~55 dB, phash within 2 bits on real photos: bench/resample_quality.py).

libvips only ever sees pixels that Pillow already decoded and validated, never file bytes.
"""

from __future__ import annotations

from PIL import Image

try:
    import pyvips
except (ImportError, OSError):  # OSError: the pyvips module is there but libvips is not
    pyvips = None
else:
    # The operation cache would keep up to 100 inputs (our pixel buffers) alive for reuse
    # that never comes: every call has new pixels.
    pyvips.cache_set_max(0)
    # Images are resized in parallel already, one per thread (curation is called from thread
    # pools and many workers); libvips' own thread pool per call would only oversubscribe.
    pyvips.concurrency_set(1)

# Pillow modes libvips resizes as they are (8-bit, no alpha to premultiply) → band count.
_VIPS_BANDS = {"RGB": 3, "L": 1}
# A libvips call costs ~1 ms to set up (pyvips introspection, pipeline build), so Pillow stays
# as fast below ~2^18 source pixels, and from a shrink of 2 * reducing_gap on, where Pillow's
# integer box pre-reduce does most of the work (measured: 300x225 RGB, 1.3 ms Pillow vs 2.1 ms
# libvips; 2400x1800 to 1/10, 8.9 vs 12.0 ms; 640x480 to 1/2.5, 3.6 vs 2.0 ms).
_VIPS_MIN_PIXELS = 1 << 18


class ResampleError(Exception):
    """libvips failed on pixels Pillow had decoded; `reason` is a counter name."""

    def __init__(self, detail: str):
        super().__init__(f"resize_error: {detail}")
        self.reason = "resize_error"
        self.detail = detail


def resampler() -> str:
    """Which implementation `resize_lanczos` uses for RGB and L: "libvips X.Y.Z" or "pillow"."""
    if pyvips is None:
        return "pillow"
    return "libvips " + ".".join(str(pyvips.version(i)) for i in range(3))


def resize_lanczos(
    img: Image.Image, size: tuple[int, int], reducing_gap: float = 3.0
) -> Image.Image:
    """`img` resampled to `size` with a 3-lobe Lanczos filter (antialiased when shrinking).

    `reducing_gap` as in Pillow: first an integer box reduce by ratio // reducing_gap.
    """
    if _use_vips(img, size, reducing_gap):
        return _vips_resize(img, size, reducing_gap)
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=reducing_gap)


def _use_vips(img: Image.Image, size: tuple[int, int], reducing_gap: float) -> bool:
    """Whether libvips is there, takes this mode, and is faster for this shrink."""
    if pyvips is None or img.mode not in _VIPS_BANDS or img.width * img.height < _VIPS_MIN_PIXELS:
        return False
    shrink = max(img.width / size[0], img.height / size[1])
    return 1 < shrink < 2 * reducing_gap  # never upscales: fit_within only shrinks


def _vips_resize(img: Image.Image, size: tuple[int, int], gap: float) -> Image.Image:
    """The libvips path: one copy of the pixels in, one out."""
    width, height = size
    try:
        src = pyvips.Image.new_from_memory(
            img.tobytes(), img.width, img.height, _VIPS_BANDS[img.mode], "uchar"
        )
        # libvips rounds width * scale to the output size, which gives `size` back exactly.
        out = src.resize(width / img.width, vscale=height / img.height, kernel="lanczos3", gap=gap)
        pixels = out.write_to_memory()
    except pyvips.Error as err:
        raise ResampleError(f"{img.mode} {img.size} -> {size}: {err.message}") from err
    if (out.width, out.height) != size:  # a libvips rounding change would corrupt the record
        raise ResampleError(f"libvips gave {out.width}x{out.height} for {width}x{height}")
    return Image.frombytes(img.mode, size, pixels)
