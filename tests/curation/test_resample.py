"""Tests of LANCZOS downscaling: libvips' path, Pillow's, and which one an image takes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import curation.resample as resample
from curation.hashing import hamming, phash64
from curation.images import fit_within
from curation.resample import ResampleError, resize_lanczos
from tests.fixtures.images import make_image

# pyvips is a dependency: its tests fail, not skip, without it (the fallback is tested by
# blocking the import, below).
needs_vips = pytest.mark.usefixtures("_require_vips")


@pytest.fixture
def _require_vips() -> None:
    assert resample.pyvips is not None, "pyvips is a dependency (pip install 'pyvips[binary]')"


def _pillow(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mse = float(np.mean(diff**2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def _spy_vips(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Sizes of the images that reach libvips."""
    calls: list[tuple[int, int]] = []
    real = resample._vips_resize

    def spy(img, size, gap):  # type: ignore[no-untyped-def]
        calls.append(img.size)
        return real(img, size, gap)

    monkeypatch.setattr(resample, "_vips_resize", spy)
    return calls


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize(
    ("source", "size"), [((1280, 960), (1024, 768)), ((1800, 600), (450, 150))]
)
def test_result_matches_pillow_lanczos(mode, source, size):
    """Whichever implementation runs, the pixels are Pillow's LANCZOS up to rounding."""
    img = make_image(*source, seed=5, mode=mode)
    out = resize_lanczos(img, size)
    assert out.size == size and out.mode == mode
    assert _psnr(out, _pillow(img, size)) > 45  # JPEG q90 itself costs ~38 dB on photos
    assert hamming(phash64(out), phash64(_pillow(img, size))) <= 2


@needs_vips
def test_big_rgb_and_grey_shrinks_go_to_libvips(monkeypatch):
    calls = _spy_vips(monkeypatch)
    resize_lanczos(make_image(1280, 960), (1024, 768))
    resize_lanczos(make_image(2000, 1500, mode="L"), (500, 375))  # shrink 4 < 2 * gap
    assert calls == [(1280, 960), (2000, 1500)]


@needs_vips
@pytest.mark.parametrize(
    ("mode", "source", "size"),
    [
        ("RGB", (400, 300), (200, 150)),  # small: libvips' set-up would cost more than it saves
        ("RGB", (2400, 1800), (300, 225)),  # shrink 8: Pillow's box pre-reduce does the work
        ("RGBA", (1280, 960), (1024, 768)),  # alpha: Pillow resamples it premultiplied
        ("CMYK", (1280, 960), (1024, 768)),
        ("RGB", (1280, 960), (1280, 960)),  # nothing to do
    ],
)
def test_other_cases_stay_with_pillow(monkeypatch, mode, source, size):
    calls = _spy_vips(monkeypatch)
    img = make_image(*source, mode=mode)
    out = resize_lanczos(img, size)
    assert calls == []
    assert out.tobytes() == _pillow(img, size).tobytes()


def test_without_pyvips_the_result_is_pillows(monkeypatch):
    monkeypatch.setattr(resample, "pyvips", None)
    img = make_image(1280, 960, seed=2)
    assert resize_lanczos(img, (1024, 768)).tobytes() == _pillow(img, (1024, 768)).tobytes()
    assert resample.resampler() == "pillow"


@needs_vips
def test_resampler_names_the_libvips_version():
    name = resample.resampler()
    assert name.startswith("libvips 8.") and name.count(".") == 2


@needs_vips
def test_a_libvips_failure_is_a_resample_error(monkeypatch):
    def fail(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise resample.pyvips.Error("vips_resize: out of memory")

    monkeypatch.setattr(resample.pyvips.Image, "resize", fail)
    with pytest.raises(ResampleError) as info:
        resize_lanczos(make_image(1280, 960), (1024, 768))
    assert info.value.reason == "resize_error" and "1280, 960" in info.value.detail


@needs_vips
@settings(max_examples=25, deadline=None)
@given(st.integers(600, 3000), st.integers(600, 3000), st.integers(200, 1024))
def test_libvips_gives_exactly_the_fitted_size(width, height, max_side):
    """The record's width/height come from fit_within; libvips' own rounding must agree."""
    size = fit_within((width, height), max_side)
    out = resize_lanczos(Image.new("RGB", (width, height), (90, 140, 200)), size)
    assert out.size == size
    assert np.abs(np.asarray(out, dtype=int) - (90, 140, 200)).max() <= 1  # flat stays flat
