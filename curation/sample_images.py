"""Deterministic images for the sample crawl: photo-like scenes and deliberately bad files.

A scene is a two-colour gradient, a few drawn shapes (hills, buildings, fruit, boats…),
luminance noise, a soft bicubic upscale and a label box, so that every image has its own
low-frequency structure and therefore its own perceptual hash. Every function here is
a pure function of its arguments: the same key always gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Color = tuple[int, int, int]

# The classic 43-byte transparent 1x1 GIF that trackers and lazy-load placeholders serve.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
PIXEL_DATA_URI = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

# Pillow refuses images above 2 × Image.MAX_IMAGE_PIXELS (≈ 179 M) outright; 20000² = 400 M.
BOMB_SIDE = 20000

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def _seeds(key: str) -> tuple[random.Random, np.random.Generator]:
    """Two generators derived from a key (stable across runs, unlike hash())."""
    digest = hashlib.sha256(key.encode()).digest()
    return random.Random(digest), np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _color(rng: random.Random, lo: int = 0, hi: int = 255) -> Color:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def _gradient(rng: random.Random, width: int, height: int) -> Image.Image:
    """A two-colour linear gradient at a random angle."""
    top, bottom = np.array(_color(rng, 20, 235)), np.array(_color(rng, 20, 235))
    angle = rng.uniform(0, np.pi)
    # t = a·y + b·x as an outer sum of two ramps, quantised to a 256-entry palette.
    ys = np.linspace(0.0, np.cos(angle), height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, np.sin(angle), width, dtype=np.float32)[None, :]
    t = ys + xs
    t -= t.min()
    levels = (t * (255.0 / max(float(t.max()), 1e-6))).astype(np.uint8)
    ramp = np.linspace(0.0, 1.0, 256)[:, None]
    palette = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    return Image.fromarray(palette[levels], "RGB")


def _hills(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    sun = rng.randint(h // 12, h // 5)
    cx, cy = rng.randint(0, w), rng.randint(0, h // 3)
    draw.ellipse((cx - sun, cy - sun, cx + sun, cy + sun), fill=_color(rng, 180, 255))
    for layer in range(rng.randint(2, 4)):
        base = h * (0.45 + 0.15 * layer)
        points = [(0, h)]
        for x in range(0, w + 40, 40):
            points.append((x, base - rng.uniform(0, h * 0.25)))
        points.append((w, h))
        draw.polygon(points, fill=_color(rng, 10, 160))


def _city(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    x = 0
    while x < w:
        bw, bh = rng.randint(w // 14, w // 5), rng.randint(h // 4, int(h * 0.85))
        body = _color(rng, 30, 140)
        draw.rectangle((x, h - bh, x + bw, h), fill=body)
        window = _color(rng, 170, 255)
        for wy in range(h - bh + 8, h - 8, 16):
            for wx in range(x + 5, x + bw - 8, 12):
                if rng.random() < 0.6:
                    draw.rectangle((wx, wy, wx + 5, wy + 7), fill=window)
        x += bw + rng.randint(0, 6)


def _still_life(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    table = int(h * rng.uniform(0.55, 0.75))
    draw.rectangle((0, table, w, h), fill=_color(rng, 60, 200))
    for _ in range(rng.randint(3, 6)):
        r = rng.randint(min(w, h) // 12, min(w, h) // 5)
        cx, cy = rng.randint(r, max(r + 1, w - r)), table - rng.randint(0, r)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_color(rng))
        draw.ellipse((cx - r // 2, cy - r // 2, cx - r // 5, cy - r // 5), fill=(250, 250, 240))


def _sea(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    horizon = int(h * rng.uniform(0.35, 0.6))
    draw.rectangle((0, horizon, w, h), fill=_color(rng, 0, 120))
    for y in range(horizon + 6, h, rng.randint(9, 18)):
        x0 = rng.randint(0, w // 2)
        draw.line((x0, y, x0 + rng.randint(w // 8, w // 2), y), fill=_color(rng, 150, 255), width=2)
    for _ in range(rng.randint(1, 3)):
        bx, size = rng.randint(0, w), rng.randint(h // 12, h // 5)
        draw.polygon(
            [(bx, horizon), (bx + size // 2, horizon - size), (bx + size, horizon)],
            fill=_color(rng, 200, 255),
        )


def _shapes(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    for _ in range(rng.randint(5, 12)):
        x0, y0 = rng.randint(-w // 4, w), rng.randint(-h // 4, h)
        x1, y1 = x0 + rng.randint(w // 10, w // 2), y0 + rng.randint(h // 10, h // 2)
        box = (x0, y0, x1, y1)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=_color(rng), outline=_color(rng), width=3)
        else:
            draw.rectangle(box, fill=_color(rng))


SCENES: dict[str, Callable[[ImageDraw.ImageDraw, random.Random, int, int], None]] = {
    "hills": _hills,
    "city": _city,
    "still_life": _still_life,
    "sea": _sea,
    "shapes": _shapes,
}


def _label(image: Image.Image, text: str) -> None:
    """Draw `text` in a box near the bottom left, as a photo credit would sit."""
    draw = ImageDraw.Draw(image)
    size = max(11, min(image.size) // 18)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = 8, image.height - (bottom - top) - 14
    draw.rectangle((x - 4, y - 4, x + right - left + 4, y + bottom - top + 6), fill=(20, 20, 20))
    draw.text((x - left, y - top), text, fill=(245, 245, 245), font=font)


def render_scene(
    key: str,
    width: int,
    height: int,
    label: str = "",
    grain: bool = True,
    scene: str | None = None,
) -> Image.Image:
    """A photo-like RGB image, fully determined by its arguments (`scene`: one of SCENES)."""
    rng, noise_rng = _seeds(key)
    # Drawn at half size and scaled up: the bicubic upscale softens the hard edges of the
    # shapes like a lens would, at a quarter of the cost of drawing and blurring full size.
    w, h = max(1, width // 2), max(1, height // 2)
    image = _gradient(rng, w, h)
    picked = rng.choice(sorted(SCENES))
    SCENES[scene or picked](ImageDraw.Draw(image), rng, w, h)
    if grain:
        # Luminance grain (the same on all channels) looks like sensor noise, not confetti.
        noise = noise_rng.integers(-7, 8, (h, w, 1), dtype=np.int16)
        pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels, "RGB")
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    if label:
        _label(image, label)
    return image


def encode(image: Image.Image, fmt: str) -> bytes:
    """Encode as "jpeg", "png" or "webp" with fixed settings (deterministic bytes)."""
    out = io.BytesIO()
    if fmt == "jpeg":
        image.save(out, "JPEG", quality=80)
    elif fmt == "png":
        image.save(out, "PNG", compress_level=6)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=75, method=4)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return out.getvalue()


def scene_bytes(key: str, width: int, height: int, fmt: str, label: str = "") -> bytes:
    """`render_scene` encoded in `fmt`; PNGs (illustrations) get no grain, which would
    bloat lossless files tenfold."""
    return encode(render_scene(key, width, height, label, grain=fmt != "png"), fmt)


def truncated_jpeg(key: str, width: int = 640, height: int = 480, keep: float = 0.4) -> bytes:
    """A JPEG cut off after `keep` of its bytes: the header parses, the scan data ends early."""
    full = scene_bytes(key, width, height, "jpeg", label="truncated")
    return full[: int(len(full) * keep)]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A valid 1-bit PNG of side × side pixels, all black: tens of KB that decode to hundreds
    of megapixels (what Pillow's DecompressionBombError exists for)."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte "None" + packed bits
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(compressor.compress(row * (side % 1000)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def png_declared_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, without decoding anything."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"not a PNG: starts with {data[:16]!r}")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def svg_icon(name: str, color: str = "#336699") -> bytes:
    """A tiny SVG icon (logos, share buttons): must never become a training image."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">'
        f'<title>{name}</title><circle cx="12" cy="12" r="10" fill="{color}"/></svg>'
    ).encode()
