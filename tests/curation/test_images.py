"""Tests of image validation, decoding, conversion, resizing and hashing."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, features

import curation.images as images_mod
import curation.resample as resample_mod
from curation.hashing import hamming, phash64
from curation.images import ImageConfig, ImageRejected, fit_within, process_image, to_rgb
from tests.fixtures import images as fx

URL = "https://example.com/a.jpg"


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _reject(data: bytes, cfg: ImageConfig | None = None) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        process_image(data, URL, cfg)
    return info.value


def _mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    arr_a = np.asarray(a.convert("RGB"), dtype=float)
    arr_b = np.asarray(b.convert("RGB"), dtype=float)
    return float(np.abs(arr_a - arr_b).mean())


@pytest.mark.parametrize(
    "make", [fx.jpeg_bytes, fx.png_bytes, fx.webp_bytes, fx.gif_bytes, fx.bmp_bytes, fx.tiff_bytes]
)
def test_every_web_format_is_stored_as_jpeg(make):
    cfg = ImageConfig(formats=(*ImageConfig().formats, "TIFF"))
    record = process_image(make(320, 240), URL, cfg)
    stored = _decode(record.bytes)
    assert stored.format == "JPEG" and stored.mode == "RGB"
    assert (record.width, record.height) == stored.size == (320, 240)
    assert record.sha256 == hashlib.sha256(record.bytes).hexdigest()
    assert record.url == URL
    assert hamming(record.phash, phash64(fx.make_image(320, 240))) <= 8  # same picture
    assert _mean_abs_diff(stored, fx.make_image(320, 240)) < 12 or make is fx.gif_bytes


def test_large_image_resized_to_max_side_keeping_aspect():
    record = process_image(fx.jpeg_bytes(2048, 1024), URL)
    assert (record.width, record.height) == (1024, 512)
    assert _decode(record.bytes).size == (1024, 512)
    record = process_image(fx.png_bytes(600, 1500), URL, ImageConfig(max_side=500))
    assert (record.width, record.height) == (200, 500)


def test_small_images_are_never_upscaled():
    record = process_image(fx.png_bytes(151, 200), URL)
    assert (record.width, record.height) == (151, 200)


def test_big_jpeg_is_decoded_downscaled(monkeypatch):
    """JPEG draft mode: a 4096x2048 photo is decoded at 1/2 scale or less, never in full."""
    seen: list[tuple[int, int]] = []
    real = images_mod._shrink

    def spy(img, cfg):  # type: ignore[no-untyped-def]
        seen.append(img.size)  # the decoded size, before any resize
        return real(img, cfg)

    monkeypatch.setattr(images_mod, "_shrink", spy)
    record = process_image(fx.jpeg_bytes(4096, 2048), URL)
    assert seen and seen[0][0] <= 2048 and (record.width, record.height) == (1024, 512)


def _psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a.convert("RGB"), dtype=float) - np.asarray(b.convert("RGB"), dtype=float)
    mse = float(np.mean(diff**2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize(
    ("make", "source", "size"),
    [
        (fx.jpeg_bytes, (4096, 2048), (1024, 512)),  # draft: decoded at 1/2
        (fx.jpeg_bytes, (1280, 960), (1024, 768)),  # under 2x: full decode, then resize
        (fx.png_bytes, (1600, 1200), (1024, 768)),
        (fx.webp_bytes, (1600, 1200), (1024, 768)),
    ],
    ids=["jpeg_draft", "jpeg_full", "png", "webp"],
)
def test_resized_image_is_close_to_a_full_size_lanczos(make, source, size):
    """Draft decoding, libvips and the box pre-reduce stay near one LANCZOS pass on all pixels."""
    data = make(*source, seed=4)
    reference = _decode(data).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    record = process_image(data, URL)
    assert (record.width, record.height) == _decode(record.bytes).size == size
    assert _psnr(_decode(record.bytes), reference) > 35  # JPEG q90 storage alone: ~38-42 dB
    assert hamming(record.phash, phash64(reference)) <= 2


@pytest.mark.parametrize("make", [fx.jpeg_bytes, fx.png_bytes])
def test_records_with_and_without_libvips_agree(make, monkeypatch):
    """An eval index hashed before libvips (or on a machine without it) still matches."""
    data = make(1600, 1200, seed=9)
    with_vips = process_image(data, URL)
    monkeypatch.setattr(resample_mod, "pyvips", None)
    pillow_only = process_image(data, URL)
    assert (with_vips.width, with_vips.height) == (pillow_only.width, pillow_only.height)
    assert hamming(with_vips.phash, pillow_only.phash) <= 2  # decontamination radius: 8
    assert _psnr(_decode(with_vips.bytes), _decode(pillow_only.bytes)) > 45


def test_resize_failure_is_a_rejection(monkeypatch):
    def fail(img, size, gap):  # type: ignore[no-untyped-def]
        raise resample_mod.ResampleError(f"{img.mode} {img.size} -> {size}: out of memory")

    monkeypatch.setattr(resample_mod, "_use_vips", lambda *_: True)
    monkeypatch.setattr(resample_mod, "_vips_resize", fail)
    err = _reject(fx.jpeg_bytes(1280, 960))
    assert err.reason == "resize_error" and "out of memory" in err.detail


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        ((149, 300), "too_small"),
        ((300, 149), "too_small"),
        ((150, 451), "bad_aspect_ratio"),
        ((1000, 200), "bad_aspect_ratio"),
    ],
)
def test_geometry_filters(size, reason):
    assert _reject(fx.png_bytes(*size)).reason == reason


def test_geometry_limits_are_inclusive():
    assert process_image(fx.png_bytes(150, 450), URL).height == 450


def test_decompression_bomb_rejected_before_decoding():
    err = _reject(fx.decompression_bomb_png())
    assert err.reason == "decompression_bomb" and "900000000" in err.detail


def test_own_pixel_cap_checked_from_the_header():
    # Signature, IHDR and an IDAT chunk header with no pixel data at all: the cap must be
    # applied before decoding, since decoding this fails.
    header_only = fx.decompression_bomb_png(400, 400)[:33] + b"\x00\x00\x10\x00IDAT"
    err = _reject(header_only, ImageConfig(max_pixels=100_000))
    assert err.reason == "decompression_bomb" and "400x400" in err.detail
    assert _reject(header_only).reason == "decode_error"  # under the cap: it is decoded, and fails


def test_truncated_jpeg_is_a_decode_error():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    err = _reject(fx.truncated_jpeg(320, 240))
    assert err.reason == "decode_error" and "truncated" in err.detail
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_refuses_to_run_if_truncated_loading_was_enabled(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process_image(fx.jpeg_bytes(), URL)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (fx.svg_bytes(), "svg"),
        (fx.ico_bytes(), "icon"),
        (fx.pdf_bytes(), "pdf"),
        (fx.html_bytes(), "html"),
        (b"\x00\x01\x02 definitely not an image", "unknown"),
    ],
)
def test_unsupported_formats(data, detail):
    err = _reject(data)
    assert err.reason == "unsupported_format" and detail in err.detail


def test_format_allow_list_is_configurable():
    assert _reject(fx.gif_bytes(), ImageConfig(formats=("JPEG", "PNG"))).reason == (
        "unsupported_format"
    )
    assert _reject(fx.tiff_bytes()).reason == "unsupported_format"  # TIFF is opt-in


def test_avif_when_pillow_supports_it():
    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    record = process_image(fx.encode(fx.make_image(320, 240), "AVIF"), URL)
    assert (record.width, record.height) == (320, 240)


def test_empty():
    assert _reject(b"").reason == "empty"


def test_corrupt_body_with_valid_magic_is_a_decode_error():
    data = bytearray(fx.png_bytes(300, 200))
    data[60:400] = b"\xff" * 340  # smash the IDAT stream
    assert _reject(bytes(data)).reason == "decode_error"


def test_cmyk_jpeg_converted_to_rgb():
    stored = _decode(process_image(fx.cmyk_jpeg(320, 240), URL).bytes)
    assert stored.mode == "RGB"
    assert _mean_abs_diff(stored, fx.make_image(320, 240)) < 12


@pytest.mark.parametrize("make", [fx.rgba_png, fx.la_png, fx.palette_png_transparent])
def test_transparency_composited_on_white(make):
    stored = _decode(process_image(make(320, 240), URL).bytes)
    left = np.asarray(stored.crop((0, 0, 150, 240)), dtype=float)  # the transparent half
    right = np.asarray(stored.crop((170, 0, 320, 240)), dtype=float)
    assert left.min() >= 245
    assert right.mean() < 240  # the opaque half keeps its content


def test_background_colour_is_configurable():
    record = process_image(fx.rgba_png(), URL, ImageConfig(background=(0, 0, 0)))
    assert np.asarray(_decode(record.bytes).crop((0, 0, 150, 240))).max() <= 10


def test_16_bit_greyscale_keeps_its_range():
    stored = _decode(process_image(fx.gray16_png(320, 240), URL).bytes).convert("L")
    arr = np.asarray(stored, dtype=float)
    assert arr[:, :20].mean() < 30 and arr[:, -20:].mean() > 225  # not clipped to white


@pytest.mark.parametrize(
    ("orientation", "transpose"),
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_270),
        (8, Image.Transpose.ROTATE_90),
        (2, Image.Transpose.FLIP_LEFT_RIGHT),
        (5, Image.Transpose.TRANSPOSE),
    ],
)
def test_exif_orientation_applied(orientation, transpose):
    record = process_image(fx.exif_rotated_jpeg(320, 200, orientation=orientation), URL)
    upright = fx.make_image(320, 200).transpose(transpose)
    assert (record.width, record.height) == upright.size
    assert _mean_abs_diff(_decode(record.bytes), upright) < 12


def test_exif_orientation_applied_after_resize():
    data = fx.encode(fx.make_image(2000, 1200), "JPEG", exif=_orientation_exif(6))
    record = process_image(data, URL)
    assert (record.width, record.height) == (614, 1024)
    upright = fx.make_image(2000, 1200).transpose(Image.Transpose.ROTATE_270).resize((614, 1024))
    assert _mean_abs_diff(_decode(record.bytes), upright) < 12


def _orientation_exif(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@pytest.mark.parametrize("make", [fx.rgba_png, fx.palette_png_transparent, fx.gray16_png])
def test_resized_special_modes_keep_their_look(make):
    """Shrinking before flattening looks the same as flattening the full image, then shrinking."""
    data = make(1600, 1200)
    reference = to_rgb(_decode(data)).resize((320, 240), Image.Resampling.LANCZOS)
    big = _decode(process_image(data, URL, ImageConfig(max_side=320)).bytes)
    assert big.size == (320, 240)
    assert _mean_abs_diff(big, reference) < 6


def test_animated_gif_keeps_the_first_frame():
    record = process_image(fx.animated_gif(240, 200, frames=3), URL)
    red = np.asarray(_decode(record.bytes), dtype=float).mean(axis=(0, 1))
    assert red[0] > 240 and red[1] < 15 and red[2] < 15


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "YCbCr", "I", "F"])
def test_to_rgb_accepts_every_common_mode(mode):
    out = to_rgb(fx.make_image(64, 48, mode=mode))
    assert out.mode == "RGB" and out.size == (64, 48)


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((2000, 1000), 1024, (1024, 512)),
        ((1000, 3000), 1024, (341, 1024)),
        ((1024, 10), 1024, (1024, 10)),
        ((100, 100), 1024, (100, 100)),
        ((5000, 1), 1024, (1024, 1)),
    ],
)
def test_fit_within(size, max_side, expected):
    assert fit_within(size, max_side) == expected


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_only_ever_raise_image_rejected(data):
    try:
        process_image(data, URL)
    except ImageRejected as err:
        assert err.reason in {"empty", "unsupported_format", "decode_error", "too_small"}


_SEEDS = [
    fx.jpeg_bytes(200, 160),
    fx.png_bytes(200, 160),
    fx.gif_bytes(200, 160),
    fx.webp_bytes(200, 160),
    fx.bmp_bytes(200, 160),
    fx.exif_rotated_jpeg(200, 160),
    fx.animated_gif(200, 160),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_damaged_real_images_only_ever_raise_image_rejected(seed, edits, cut):
    """Flipped bytes and truncation in valid files reach deep decoder paths."""
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    try:
        record = process_image(bytes(data), URL)
    except ImageRejected as err:
        assert err.reason and err.detail is not None
        return
    assert max(record.width, record.height) <= 1024 and 0 <= record.phash < 2**64
    assert _decode(record.bytes).size == (record.width, record.height)
