"""The sample crawl's building blocks: sentence banks, the composer, URL forms, images."""

from __future__ import annotations

import io
import random
from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from curation.sample_banks import BANKS
from curation.sample_chrome import url_ref
from curation.sample_images import (
    BOMB_SIDE,
    bomb_png,
    png_declared_size,
    render_scene,
    scene_bytes,
    truncated_jpeg,
)
from curation.sample_pages import ROWS, TOPICS
from curation.sample_text import (
    SlotError,
    compose_paragraphs,
    count_words,
    fill_template,
    lorem_paragraphs,
)

PAGE_SLOTS = {"feature": "Saltmere Lighthouse", "kind": "lighthouse", "product": "Trail Lantern"}
# Banks whose pages are served in a legacy encoding: every sentence must be encodable.
ENCODINGS = {
    (row.lang, row.topic or TOPICS[row.site]): row.charset for row in ROWS if row.charset != "utf-8"
}
FORBIDDEN = ("cookie", "javascript", "lorem", "privacy", "terms of use", "...", "…", "#", "{", "}")
TOPICS_USED = sorted({(row.lang, row.topic or TOPICS[row.site]) for row in ROWS if row.lang})


@pytest.mark.parametrize("key", sorted(BANKS))
def test_every_sentence_fills_and_reads_as_prose(key: tuple[str, str]) -> None:
    lang = key[0]
    filled = [fill_template(t, random.Random(0), lang, PAGE_SLOTS) for t in BANKS[key]]
    assert len(set(BANKS[key])) == len(BANKS[key])
    for sentence in filled:
        assert sentence.rstrip()[-1] in ".!?。！", sentence
        assert not any(bad in sentence.lower() for bad in FORBIDDEN), sentence
        sentence.encode(ENCODINGS.get(key, "utf-8"))


@pytest.mark.parametrize("key", TOPICS_USED)
def test_joined_banks_do_not_repeat_a_sentence(key: tuple[str, str]) -> None:
    lang, topic = key
    sentences = [s for part in topic.split("+") for s in BANKS[(lang, part)]]
    assert len(set(sentences)) == len(sentences)


def test_an_unknown_slot_is_an_error_with_a_reason() -> None:
    with pytest.raises(SlotError) as err:
        fill_template("The {nonsense} is here.", random.Random(0), "en", {})
    assert err.value.reason == "unknown_slot" and "nonsense" in err.value.detail


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    key=st.sampled_from(TOPICS_USED),
    n_words=st.integers(0, 1200),
)
def test_composed_prose_never_repeats_and_meets_its_length(seed, key, n_words) -> None:
    lang, topic = key
    paragraphs = compose_paragraphs(random.Random(seed), lang, topic, n_words, PAGE_SLOTS)
    sentences = [s for p in paragraphs for s in p]
    assert len(set(sentences)) == len(sentences)
    assert all(1 <= len(p) <= 5 for p in paragraphs)
    capacity = sum(len(BANKS[(lang, part)]) for part in topic.split("+"))
    words = sum(count_words(s) for s in sentences)
    assert words >= n_words or len(sentences) == capacity
    assert bool(paragraphs) == (n_words > 0)


def test_lorem_pages_start_with_the_canonical_phrase() -> None:
    paragraphs = lorem_paragraphs(random.Random(3), 150)
    assert paragraphs[0].startswith("Lorem ipsum dolor sit amet")
    assert sum(len(p.split()) for p in paragraphs) >= 150


_SEGMENT = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)


@settings(max_examples=100, deadline=None)
@given(
    base_dirs=st.lists(_SEGMENT, max_size=4),
    base_file=st.one_of(st.just(""), _SEGMENT),
    target=st.lists(_SEGMENT, min_size=1, max_size=4),
    form=st.sampled_from(["abs", "proto", "root", "rel"]),
    other_host=st.booleans(),
)
def test_url_references_resolve_back(base_dirs, base_file, target, form, other_host) -> None:
    base = "https://site.example/" + "".join(f"{d}/" for d in base_dirs) + base_file
    host = "cdn.example" if other_host and form in ("abs", "proto") else "site.example"
    absolute = f"https://{host}/" + "/".join(target) + ".jpg"
    ref = url_ref(absolute, base, form)
    assert urljoin(base, ref) == absolute
    if form in ("root", "rel"):
        assert not ref.startswith(("http", "//"))


def test_a_reference_that_would_not_resolve_back_is_refused() -> None:
    with pytest.raises(ValueError, match="resolves to"):
        url_ref("https://cdn.example/a.jpg", "https://site.example/page", "root")


def test_scenes_are_deterministic_and_differ_by_key() -> None:
    a = scene_bytes("one", 320, 240, "jpeg", "one")
    assert a == scene_bytes("one", 320, 240, "jpeg", "one")
    assert a != scene_bytes("two", 320, 240, "jpeg", "two")
    assert Image.open(io.BytesIO(a)).size == (320, 240)
    assert render_scene("x", 300, 200).size == (300, 200)
    webp = scene_bytes("w", 300, 200, "webp")
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"


def test_the_bomb_declares_hundreds_of_megapixels_in_a_few_kilobytes() -> None:
    data = bomb_png()
    assert png_declared_size(data) == (BOMB_SIDE, BOMB_SIDE)
    assert BOMB_SIDE**2 > 100_000_000 and len(data) < 100_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))


def test_a_truncated_jpeg_opens_but_does_not_decode() -> None:
    img = Image.open(io.BytesIO(truncated_jpeg("t")))
    assert img.size == (640, 480)
    with pytest.raises(OSError):
        img.load()


def test_png_declared_size_refuses_other_formats() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        png_declared_size(scene_bytes("j", 200, 200, "jpeg"))
