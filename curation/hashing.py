"""Perceptual image hashing (64-bit DCT pHash, bit-compatible with imagehash.phash)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.fft import dct

# imagehash.phash defaults: an 8x8 hash taken from a 32x32 (hash_size * highfreq_factor 4) DCT.
_HASH_SIDE = 8
_DCT_SIDE = 32


def phash64(img: Image.Image) -> int:
    """The 64-bit DCT perceptual hash of `img` as an unsigned int (first coefficient = MSB).

    Same recipe as imagehash.phash: greyscale, LANCZOS resize to 32x32, 2-D DCT-II,
    keep the top-left 8x8 low frequencies, bit = coefficient > their median, row-major.
    """
    grey = img.convert("L").resize((_DCT_SIDE, _DCT_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    coeffs = dct(dct(pixels, axis=0), axis=1)[:_HASH_SIDE, :_HASH_SIDE]
    bits = (coeffs > np.median(coeffs)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()
