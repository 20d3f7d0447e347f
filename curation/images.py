"""Image bytes → validated, resized, re-encoded and hashed ImageRecord (the M3W image stage)."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

from PIL import Image, ImageFile

from curation.hashing import phash64
from curation.resample import ResampleError, resize_lanczos
from curation.sniff import sniff_content_type
from schemas.records import ImageRecord

# Sniffed media type → the one Pillow plugin allowed to open it. Opening with an explicit
# plugin keeps Pillow from trying its ~40 others (EPS would even start Ghostscript).
_PLUGIN_FOR_TYPE = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/avif": "AVIF",
}
# What corrupt or hostile files make Pillow raise while parsing headers or decoding.
_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
    MemoryError,
    RuntimeError,  # the AVIF plugin's decoder failures ("Failed to decode frame 0")
)


_ORIENTATION = 0x0112  # the EXIF Orientation tag
# EXIF orientation → the transpose that shows the image upright (as ImageOps.exif_transpose).
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_RESAMPLED_MODES = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})


@dataclass(frozen=True)
class ImageConfig:
    """How images are accepted, resized and stored."""

    max_pixels: int = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS bomb limit, checked by us
    min_side: int = 150  # OBELICS image filter: both sides >= 150 px
    max_aspect_ratio: float = 3.0  # OBELICS image filter: long side / short side <= 3
    max_side: int = 1024  # stored resolution cap; Flamingo trains at 320 px (480 in fine-tune)
    # Always flattened to RGB and stored as JPEG: the trainer feeds RGB to the vision encoder, so
    # alpha carries nothing for it, and one lossy format keeps shards small and decoding uniform.
    output_format: str = "JPEG"  # any Pillow writer that takes RGB: "JPEG", "PNG", "WEBP"
    quality: int = 90  # JPEG/WebP quality (img2dataset's default encode_quality is 95)
    background: tuple[int, int, int] = (255, 255, 255)  # transparency is composited on white
    # What browsers render. TIFF is opt-in: browsers do not show it, so web pages hardly use it,
    # and libtiff is a large attack surface that also floods stderr on corrupt files.
    formats: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "AVIF")


class ImageRejected(Exception):
    """An image we will not store; `reason` is a counter name, `detail` the offending value."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def process_image(data: bytes, url: str, cfg: ImageConfig | None = None) -> ImageRecord:
    """Validate `data` by its header, decode the first frame small, and store it re-encoded."""
    cfg = cfg or ImageConfig()
    if not data:
        raise ImageRejected("empty", url)
    plugin = _plugin_for(data, cfg)
    img = _open(data, plugin)
    with img:
        check_geometry(img.size, cfg)  # before decoding: bombs and rejects cost no pixels
        rgb = _decode_small_rgb(img, cfg)
    buf = io.BytesIO()
    rgb.save(buf, format=cfg.output_format, quality=cfg.quality)
    stored = buf.getvalue()
    return ImageRecord(
        bytes=stored,
        url=url,
        sha256=hashlib.sha256(stored).hexdigest(),
        phash=phash64(rgb),
        width=rgb.width,
        height=rgb.height,
    )


def check_geometry(size: tuple[int, int], cfg: ImageConfig) -> None:
    """Reject by header size alone: pixel cap, minimum side, aspect ratio."""
    width, height = size
    if width * height > cfg.max_pixels:
        raise ImageRejected("decompression_bomb", f"{width}x{height} > {cfg.max_pixels} pixels")
    if min(width, height) < cfg.min_side:
        raise ImageRejected("too_small", f"{width}x{height} < {cfg.min_side} px")
    if max(width, height) > cfg.max_aspect_ratio * min(width, height):
        raise ImageRejected("bad_aspect_ratio", f"{width}x{height} > {cfg.max_aspect_ratio}:1")


def fit_within(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` scaled down (never up) so its longer side is at most `max_side`, aspect kept."""
    width, height = size
    scale = max_side / max(width, height)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def _plugin_for(data: bytes, cfg: ImageConfig) -> str:
    """The Pillow plugin for the sniffed format, or unsupported_format."""
    sniffed = sniff_content_type(data)
    plugin = _PLUGIN_FOR_TYPE.get(sniffed or "")
    if plugin is None or plugin not in cfg.formats:
        raise ImageRejected("unsupported_format", sniffed or f"unknown magic {data[:8]!r}")
    return plugin


def _open(data: bytes, plugin: str) -> Image.Image:
    """Parse the header only (Pillow opens lazily); pixels are not decoded yet."""
    _require_strict_decoding()
    try:
        return Image.open(io.BytesIO(data), formats=[plugin])
    except Image.DecompressionBombError as err:  # Pillow's own check, at 2x its limit
        raise ImageRejected("decompression_bomb", str(err)) from err
    except _DECODE_ERRORS as err:
        raise ImageRejected("decode_error", f"{plugin}: {err!r}") from err


def _decode_small_rgb(img: Image.Image, cfg: ImageConfig) -> Image.Image:
    """The first frame, fitted to max_side, upright, as RGB, with few full-size pixels held."""
    try:
        # JPEG decodes straight at 1/2, 1/4 or 1/8 scale (DCT scaling) when that still covers
        # the target, so a big photo never exists at full size; other formats ignore this.
        img.draft("RGB", fit_within(img.size, cfg.max_side))
        img.seek(0)  # animated GIF/WebP/APNG: the first frame
        img.load()
        orientation = img.getexif().get(_ORIENTATION, 1)
        small = _shrink(img, cfg)
        rgb = to_rgb(small, cfg.background)
        # Rotating after shrinking is cheaper and gives the same result: the fitted size of a
        # transposed image is the transposed fitted size.
        method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
        return rgb.transpose(method) if method is not None else rgb
    except Image.DecompressionBombError as err:
        raise ImageRejected("decompression_bomb", str(err)) from err
    except _DECODE_ERRORS as err:
        raise ImageRejected("decode_error", f"{img.format} {img.mode}: {err!r}") from err
    except ResampleError as err:
        raise ImageRejected(err.reason, err.detail) from err


def _shrink(img: Image.Image, cfg: ImageConfig) -> Image.Image:
    """Resize to fit max_side, in the image's own mode when Pillow resamples it well."""
    size = fit_within(img.size, cfg.max_side)
    if size == img.size:
        return img
    # P and 1 would fall back to nearest-neighbour; a tRNS colour key would not survive blending.
    if img.mode not in _RESAMPLED_MODES or "transparency" in img.info:
        img = to_rgb(img, cfg.background)
    # reducing_gap=3: a fast integer box pre-shrink whose result Pillow documents as
    # indistinguishable from a full LANCZOS pass. RGBA/LA are resampled premultiplied (Pillow).
    return resize_lanczos(img, size, reducing_gap=3.0)


def to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; transparency is composited on `background`."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale: Pillow's I->L conversion clips at 255, so scale 65535 -> 255 first.
        img = img.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    elif img.mode == "F":
        img = img.convert("L")
    if img.mode == "PA" or (img.mode in ("P", "L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", img.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img if img.mode == "RGB" else img.convert("RGB")


def _require_strict_decoding() -> None:
    """Truncated files must fail to decode; another module flipping Pillow's flag is a bug."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: truncated images would be stored "
            "half grey; some imported module set it, and curation.images refuses to run so"
        )
