"""Tests of the 64-bit DCT perceptual hash."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance
from scipy.fft import dct

from curation.hashing import hamming, phash64
from tests.fixtures.images import make_image


def _reencode(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_identical_images_hash_equal():
    img = make_image(320, 240, seed=3)
    assert phash64(img) == phash64(img.copy())
    assert hamming(phash64(img), phash64(img)) == 0


@pytest.mark.parametrize(
    "variant",
    [
        lambda im: _reencode(im, 60),
        lambda im: im.resize((160, 120)),
        lambda im: im.resize((640, 480)),
        lambda im: ImageEnhance.Brightness(im).enhance(1.1),
        lambda im: im.convert("L"),
    ],
    ids=["jpeg_q60", "half_size", "double_size", "brighter", "greyscale"],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_near_duplicates_are_close(variant, seed):
    img = make_image(320, 240, seed=seed)
    assert hamming(phash64(img), phash64(variant(img))) <= 8


def test_unrelated_images_are_far():
    hashes = [phash64(make_image(320, 240, seed=s)) for s in range(10, 16)]
    distances = [hamming(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert min(distances) > 12
    assert np.mean(distances) > 20


def test_bit_order_matches_the_imagehash_recipe():
    img = make_image(200, 200, seed=7)
    grey = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=float)
    low = dct(dct(grey, axis=0), axis=1)[:8, :8]
    bits = "".join("1" if c else "0" for c in (low > np.median(low)).ravel())
    assert phash64(img) == int(bits, 2)
    assert f"{phash64(img):016x}" == f"{int(bits, 2):016x}"  # imagehash's str() of the hash


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 64),
    st.integers(1, 64),
    st.sampled_from(["RGB", "L", "RGBA", "P", "1", "CMYK"]),
    st.integers(0, 2**16),
)
def test_hash_is_a_64_bit_unsigned_int(width, height, mode, seed):
    value = phash64(make_image(width + 8, height + 8, seed=seed, mode=mode))
    assert isinstance(value, int) and 0 <= value < 2**64


def test_hamming():
    assert hamming(0, 0) == 0
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0001) == 2
