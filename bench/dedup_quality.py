"""How well does the phash (and phash + embedding) find edited copies of real photos?

Usage: python bench/dedup_quality.py --images DIR [--radii 0,2,4,...]
           [--embed-model NAME [--embed-checkpoint FILE]] [--min-cosine 0.9]

Loads every photo under DIR (recursive; undecodable files and images under 64 px are
skipped; files that are known edits of another, `*_resize|_hflip|_rotation|_gray|_corrupt`
as in imagededup's test data, and exact pixel duplicates, are left out so that every
remaining photo is distinct). Each photo becomes an "eval image"; each of its edits
(resize 0.5x, JPEG quality 30, centre crop 90% and 75%, rotation ±5°, colour jitter,
greyscale, letterbox border, text overlay, horizontal flip) becomes a "crawl image". All
go through the crawl's own `process_image` before hashing, as in the pipeline.

- recall(R): share of edits within R bits of their own original;
- FPR(R): share of (edit or original, other distinct original) pairs within R bits.

With --embed-model the same is measured for phash + embedding verification as the
decontamination stage does it (a phash candidate counts when its cosine >= --min-cosine;
with crop search, any original at cosine >= --crop-min-cosine also counts). Without
--embed-checkpoint the encoder has random weights: that checks the plumbing only.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from curation.eval_index import DEFAULT_RADIUS, EvalIndexConfig
from curation.images import ImageRejected, process_image

VARIANT = re.compile(r"_(resize|hflip|rotation|gray|corrupt)$")
MIN_SIDE = 64
# The corpus holds the same scene under other names (an alpha-channel copy of a UKBench
# photo, a stereo pair); those are duplicates, not negatives.
COPY_BITS = 4


def _jpeg(img: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _crop(img: Image.Image, keep: float) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return img.crop((dx, dy, w - dx, h - dy))


def _letterbox(img: Image.Image) -> Image.Image:
    w, h = img.size
    pad = max(8, h // 8)  # black bars top and bottom, as a video frame or a banner
    canvas = Image.new("RGB", (w, h + 2 * pad), (0, 0, 0))
    canvas.paste(img, (0, pad))
    return canvas


def _text(img: Image.Image) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, out.height // 10)
    font = ImageFont.load_default(size=size)
    draw.rectangle((0, out.height - size * 2, out.width, out.height), fill=(0, 0, 0))
    draw.text(
        (size // 2, out.height - int(size * 1.6)), "Breaking news: caption", fill="white", font=font
    )
    return out


def _jitter(img: Image.Image) -> Image.Image:
    img = ImageEnhance.Brightness(img).enhance(1.25)
    img = ImageEnhance.Contrast(img).enhance(0.8)
    return ImageEnhance.Color(img).enhance(1.4)


TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    "resize 0.5x": lambda im: _jpeg(im.resize((im.width // 2, im.height // 2), Image.LANCZOS)),
    "jpeg q30": lambda im: _jpeg(im, 30),
    "crop 90%": lambda im: _jpeg(_crop(im, 0.9)),
    "crop 75%": lambda im: _jpeg(_crop(im, 0.75)),
    "rotate +5": lambda im: _jpeg(im.rotate(5, Image.BICUBIC)),
    "rotate -5": lambda im: _jpeg(im.rotate(-5, Image.BICUBIC)),
    "colour jitter": lambda im: _jpeg(_jitter(im)),
    "greyscale": lambda im: _jpeg(ImageOps.grayscale(im)),
    "letterbox": lambda im: _jpeg(_letterbox(im)),
    "text overlay": lambda im: _jpeg(_text(im)),
    "flip": lambda im: _jpeg(ImageOps.mirror(im)),
}


def load_photos(root: Path) -> dict[str, Image.Image]:
    """Distinct photos by name: edits named as such and exact pixel copies are skipped."""
    photos: dict[str, Image.Image] = {}
    seen_pixels: set[bytes] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if VARIANT.search(path.stem) or path.stem in photos:
            continue
        try:
            with Image.open(path) as img:
                img.seek(0)
                rgb = img.convert("RGB")
        except (OSError, ValueError, SyntaxError):
            continue
        if min(rgb.size) < MIN_SIDE:
            continue
        fingerprint = rgb.resize((32, 32)).tobytes()
        if fingerprint in seen_pixels:
            continue
        seen_pixels.add(fingerprint)
        photos[path.stem] = rgb
    return photos


def drop_copies(photos: dict[str, Image.Image], hashes: dict[str, int]) -> list[str]:
    """Photos that are copies of an earlier one under another name (<= COPY_BITS apart),
    removed so that the negatives are distinct scenes; printed, so a reader can check."""
    kept: list[str] = []
    for name in list(photos):
        twin = next((k for k in kept if (hashes[k] ^ hashes[name]).bit_count() <= COPY_BITS), None)
        if twin is None:
            kept.append(name)
        else:
            print(f"left out {name}: {(hashes[twin] ^ hashes[name]).bit_count()} bits from {twin}")
            del photos[name]
    return kept


def crawl_view(data: bytes) -> tuple[int, bytes]:
    """(phash, stored bytes) as the pipeline computes them."""
    record = process_image(data, "bench", EvalIndexConfig().image)
    return record.phash, record.bytes


def distances(a: list[int], b: list[int]) -> np.ndarray:
    """(len(a), len(b)) Hamming distances."""
    x = np.array(a, dtype=np.uint64)[:, None] ^ np.array(b, dtype=np.uint64)[None, :]
    return np.bitwise_count(x).astype(np.int64)


def phash_table(orig: list[int], edits: dict[str, list[int]], radii: list[int]) -> None:
    """Recall per edit and pooled FPR, for each radius."""
    print("phash alone: recall per edit (share within R bits of its own original)")
    print(f"{'edit':<16}" + "".join(f"{'R=' + str(r):>7}" for r in radii) + "   median d")
    n = len(orig)
    off_diag = ~np.eye(n, dtype=bool)
    negatives = [distances(orig, orig)[off_diag]]
    for name, hashes in edits.items():
        d = distances(hashes, orig)
        own = np.diag(d)
        negatives.append(d[off_diag])
        cells = "".join(f"{(own <= r).mean():>7.2f}" for r in radii)
        print(f"{name:<16}{cells}   {int(np.median(own)):>7}")
    neg = np.concatenate(negatives)
    print(f"{'FPR (pairs)':<16}" + "".join(f"{(neg <= r).mean():>7.4f}" for r in radii))
    # Too few pairs here to see the tail that matters at scale: extrapolate it with a
    # normal fit of the negative distances (rough: real tails are likely heavier).
    mu, sd = float(neg.mean()), float(neg.std())
    tail = [0.5 * math.erfc((mu - r - 0.5) / (sd * math.sqrt(2))) for r in radii]
    print(f"{'E[false]/1M':<16}" + "".join(f"{t * 1e6:>7.1g}" for t in tail))
    print(
        f"{n} distinct photos, {len(neg)} negative pairs (edit or original vs another "
        f"original); closest: {int(neg.min())} bits, 1st percentile {np.percentile(neg, 1):.0f}, "
        f"mean {mu:.1f}, sd {sd:.1f}"
    )
    print("E[false]/1M: expected false matches of one crawl image against 1M eval images")


def embedding_table(
    args: argparse.Namespace, orig_bytes: list[bytes], orig: list[int], edits: dict
) -> None:
    from curation.embedding_verify import EmbeddingConfig, ImageEmbedder

    cfg = EmbeddingConfig(args.embed_model, args.embed_checkpoint)
    if not args.embed_checkpoint:
        print("\n(random encoder weights: the figures below check the plumbing only)")
    embedder = ImageEmbedder(cfg)
    e_orig = embedder.embed(orig_bytes)
    r = args.radius
    print(
        f"\nphash (R={r}) + embedding ({cfg.name}, cosine >= {args.min_cosine}; "
        f"crop search at >= {args.crop_min_cosine})"
    )
    print(f"{'edit':<16}{'recall':>8}{'FPR':>9}{'recall(no crop search)':>24}")
    n = len(orig)
    for name, (hashes, stored) in edits.items():
        cos = embedder.embed(stored) @ e_orig.T
        near = distances(hashes, orig) <= r
        confirmed = near & (cos >= args.min_cosine)
        found = confirmed | (cos >= args.crop_min_cosine)
        off = ~np.eye(n, dtype=bool)
        print(
            f"{name:<16}{np.diag(found).mean():>8.2f}{found[off].mean():>9.4f}"
            f"{np.diag(confirmed).mean():>24.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, type=Path)
    parser.add_argument("--radii", default="0,2,4,6,8,10,12,14,16")
    parser.add_argument(
        "--radius", type=int, default=DEFAULT_RADIUS, help="for the embedding table"
    )
    parser.add_argument("--embed-model")
    parser.add_argument("--embed-checkpoint")
    parser.add_argument("--min-cosine", type=float, default=0.90)
    parser.add_argument("--crop-min-cosine", type=float, default=0.95)
    args = parser.parse_args()
    photos = load_photos(args.images)
    if len(photos) < 2:
        print(f"{args.images}: fewer than 2 usable photos", file=sys.stderr)
        return 2
    first = {name: crawl_view(_jpeg(im))[0] for name, im in photos.items()}
    drop_copies(photos, first)
    orig_views = [crawl_view(_jpeg(im)) for im in photos.values()]
    orig = [h for h, _ in orig_views]
    edits: dict[str, tuple[list[int], list[bytes]]] = {}
    for name, transform in TRANSFORMS.items():
        try:
            views = [crawl_view(transform(im)) for im in photos.values()]
        except ImageRejected as e:
            print(f"{name}: skipped ({e})")
            continue
        edits[name] = ([h for h, _ in views], [b for _, b in views])
    radii = [int(r) for r in args.radii.split(",")]
    phash_table(orig, {k: v[0] for k, v in edits.items()}, radii)
    if args.embed_model:
        embedding_table(args, [b for _, b in orig_views], orig, edits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
