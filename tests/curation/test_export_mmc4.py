"""M3W rows → OpenFlamingo MMC4 JSON, checked with OpenFlamingo's own parsing where importable."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from curation.export_mmc4 import (
    ExportRejected,
    Mmc4Config,
    image_extension,
    m3w_row_to_mmc4,
    normalise_text,
    shard_pattern,
    text_to_sentences,
    write_shard,
)
from schemas.records import END_OF_CHUNK, IMAGE_MARKER
from tests.fixtures.images import jpeg_bytes, png_bytes, webp_bytes

# --- OpenFlamingo's reading of one sample -------------------------------------------------


def _load_openflamingo_data() -> ModuleType | None:
    """open_flamingo/train/data.py, or None when it cannot be imported here.

    data.py does `from data_utils import *` (it expects to run from its own folder), so
    data_utils is loaded first under that name.
    """
    spec = importlib.util.find_spec("open_flamingo")
    if spec is None or not spec.submodule_search_locations:
        return None
    train = Path(next(iter(spec.submodule_search_locations))) / "train"
    # data.py raises Pillow's process-wide bomb limit to 1e9 on import; put it back so
    # the rest of the suite sees Pillow as users do.
    max_pixels = Image.MAX_IMAGE_PIXELS
    try:
        for name, file in (("data_utils", "data_utils.py"), ("_openflamingo_data", "data.py")):
            mod_spec = importlib.util.spec_from_file_location(name, train / file)
            assert mod_spec is not None and mod_spec.loader is not None
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = module
            mod_spec.loader.exec_module(module)
    except (ImportError, FileNotFoundError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = max_pixels
    return module


OPENFLAMINGO = _load_openflamingo_data()


class _RecordingTokenizer:
    """Stands in for the HF tokenizer: records the text OpenFlamingo builds."""

    eos_token = "</s>"
    additional_special_tokens = ("<|endofchunk|>", "<image>")
    additional_special_tokens_ids = (1, 2)

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str, **_: Any) -> dict[str, Any]:
        import torch

        self.texts.append(text)
        ids = torch.tensor([[2] * text.count(IMAGE_MARKER) + [5]])  # ends on a text token
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _real_view(payload: bytes) -> tuple[str, list[bytes]]:
    import torch

    assert OPENFLAMINGO is not None
    tokenizer, images = _RecordingTokenizer(), []

    def clip_processor(image: Image.Image) -> torch.Tensor:
        images.append(image.tobytes())
        return torch.zeros(3, 2, 2)

    try:
        OPENFLAMINGO.preprocess_interleaved(
            (payload,), tokenizer, clip_processor, 0.5, min_num_images=1, max_num_images=5
        )
    except ValueError as e:  # after tokenising: it drops half the one-image samples at random
        assert tokenizer.texts, e
    (text,) = tokenizer.texts
    return text.removesuffix(tokenizer.eos_token), images


def _reimplemented_view(payload: bytes) -> tuple[str, list[bytes]]:
    """The json parsing of OpenFlamingo's preprocess_interleaved, line for line."""
    info = json.loads(payload)
    sentences, images, ixs = list(info["text_list"]), [], []
    for image, sims in zip(info["image_info"], info["similarity_matrix"], strict=False):
        raw = base64.b64decode(image["image_base64"])
        ix = max(range(len(sims)), key=sims.__getitem__)
        if len(raw) // 1000 <= 10 or sims[ix] < 0.5:
            continue
        images.append(Image.open(io.BytesIO(raw)).convert("RGB").tobytes())
        ixs.append(ix)
    for ix in ixs:
        sentences[ix] = f"<|endofchunk|><image>{sentences[ix]}"
    text = " ".join(sentences).replace("<|endofchunk|>", "", 1)
    text = text.replace(" <|endofchunk|>", "<|endofchunk|>").replace("<image> ", "<image>")
    return f"{text.replace(' <image>', '<image>')}<|endofchunk|>", images


def openflamingo_view(payload: bytes) -> tuple[str, list[bytes]]:
    """(text with markers, RGB pixels of each image) as OpenFlamingo's MMC4 loader sees them."""
    return (_real_view if OPENFLAMINGO is not None else _reimplemented_view)(payload)


def pixels(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


# --- rows ------------------------------------------------------------------------------------


def big_jpeg(seed: int) -> bytes:
    """A JPEG over OpenFlamingo's 10 KB floor (it skips smaller images)."""
    data = jpeg_bytes(400, 300, seed=seed, quality=95)
    assert len(data) > 11_000
    return data


def image_row(data: bytes, seed: int = 0) -> dict[str, Any]:
    return {
        "bytes": data,
        "url": f"https://example.com/{seed}.jpg",
        "sha256": f"{seed:064x}",
        "phash": seed,
        "width": 400,
        "height": 300,
    }


def m3w_row(text: str, images: list[bytes], doc_id: str = "d0", chunk: int = 0) -> dict[str, Any]:
    return {
        "doc_id": doc_id,
        "chunk_index": chunk,
        "url": f"https://example.com/{doc_id}",
        "text": text,
        "images": [image_row(b, i) for i, b in enumerate(images)],
        "num_tokens": 10,
        "tokenizer": "test",
    }


EOC = END_OF_CHUNK


def test_openflamingo_import_state_is_known() -> None:
    # Either OpenFlamingo's data.py loaded (torch + webdataset present) or the fallback is used.
    assert OPENFLAMINGO is None or hasattr(OPENFLAMINGO, "preprocess_interleaved")


@pytest.mark.parametrize(
    ("text", "sentences", "matched"),
    [
        (
            f"Intro.\n<image>Caption one.{EOC}<image>Second.{EOC}",
            ["Intro.", "Caption one.", "Second."],
            [1, 2],
        ),
        (f"<image>First line.\nSecond line.{EOC}", ["First line.", "Second line."], [0]),
        (f"A.\n<image>{EOC}<image>B.{EOC}", ["A.", "B."], [1, 1]),
        (f"A.\n<image>{EOC}", ["A.", ""], [1]),
        ("Just text.\nMore.", ["Just text.", "More."], []),
    ],
)
def test_text_to_sentences(text: str, sentences: list[str], matched: list[int]) -> None:
    assert text_to_sentences(text) == (sentences, matched)


def test_row_round_trips_through_openflamingo() -> None:
    images = [big_jpeg(1), big_jpeg(2), big_jpeg(3)]
    text = f"Title.\n<image>A red {EOC}<image>thing.\nBody text{EOC}<image>{EOC}"
    sample = m3w_row_to_mmc4(m3w_row(text, images), 7, Mmc4Config())
    assert sample.key == "000000007"
    seen_text, seen_images = openflamingo_view(json.dumps(sample.doc).encode())
    assert normalise_text(seen_text) == normalise_text(text)
    assert seen_images == [pixels(b) for b in images]


def test_json_carries_mmc4_fields() -> None:
    data = big_jpeg(4)
    doc = m3w_row_to_mmc4(m3w_row(f"x\n<image>y{EOC}", [data]), 0, Mmc4Config()).doc
    (info,) = doc["image_info"]
    assert info["image_name"] == f"{0:064x}.jpg"
    assert info["raw_url"] == "https://example.com/0.jpg"
    assert (info["matched_text_index"], info["matched_sim"]) == (1, 1.0)
    assert base64.b64decode(info["image_base64"]) == data
    assert doc["similarity_matrix"] == [[0.0, 1.0]]
    assert (doc["doc_id"], doc["chunk_index"], doc["url"]) == ("d0", 0, "https://example.com/d0")


@pytest.mark.parametrize(
    ("data", "ext"), [(jpeg_bytes(), "jpg"), (png_bytes(), "png"), (webp_bytes(), "webp")]
)
def test_image_extension(data: bytes, ext: str) -> None:
    assert image_extension(data) == ext


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (m3w_row(f"a<image>b{EOC}", []), "marker_image_mismatch"),
        (m3w_row("no markers", [jpeg_bytes()]), "marker_image_mismatch"),
        (m3w_row("text only", []), "no_images"),
        (m3w_row(f"a<image>b{EOC}", [b"GIF89a not allowed"]), "unknown_image_format"),
        ({**m3w_row("x", []), "text": None}, "missing_text"),
    ],
)
def test_rows_that_cannot_convert_are_rejected(row: dict[str, Any], reason: str) -> None:
    with pytest.raises(ExportRejected) as e:
        m3w_row_to_mmc4(row, 0, Mmc4Config())
    assert e.value.reason == reason and e.value.detail


def test_text_only_kept_when_asked() -> None:
    doc = m3w_row_to_mmc4(m3w_row("a\nb", []), 0, Mmc4Config(keep_text_only=True)).doc
    assert (doc["text_list"], doc["image_info"], doc["similarity_matrix"]) == (["a", "b"], [], [])


def test_shards_are_deterministic_and_ordered() -> None:
    config = Mmc4Config()
    rows = [m3w_row(f"t{i}\n<image>c{EOC}", [jpeg_bytes(seed=i)], f"d{i}") for i in range(3)]

    def shard() -> bytes:
        buf = io.BytesIO()
        samples = [m3w_row_to_mmc4(r, i, config) for i, r in enumerate(rows)]
        assert write_shard(buf, samples, config) == 3
        return buf.getvalue()

    first = shard()
    assert first == shard()
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["000000000.json", "000000001.json", "000000002.json"]
        assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}
        docs = [json.loads(tar.extractfile(m).read()) for m in members]  # type: ignore[union-attr]
    assert [d["doc_id"] for d in docs] == ["d0", "d1", "d2"]


def test_shard_pattern() -> None:
    assert shard_pattern(1) == "000000.tar"
    assert shard_pattern(12) == "{000000..000011}.tar"


# --- property: any marker layout round-trips through OpenFlamingo's text rebuild -------------

_words = st.text(alphabet="abc xyz.\n", max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_words, st.just(None)), max_size=10))
def test_any_layout_round_trips(pieces: list[str | None]) -> None:
    # None is an image; render as the chunker does: <eoc> before every image but the first.
    images = sum(p is None for p in pieces)
    out, seen = [], 0
    for p in pieces:
        if p is None:
            out.append((EOC if seen else "") + IMAGE_MARKER)
            seen += 1
        else:
            out.append(p)
    text = "".join(out) + (EOC if images else "")
    sentences, matched = text_to_sentences(text)
    assert len(matched) == images
    assert matched == sorted(matched) and all(0 <= m < len(sentences) for m in matched)
    assert all("\n" not in s and IMAGE_MARKER not in s for s in sentences)
    if images:
        rebuilt = list(sentences)
        for ix in matched:
            rebuilt[ix] = f"{EOC}{IMAGE_MARKER}{rebuilt[ix]}"
        joined = " ".join(rebuilt).replace(EOC, "", 1) + EOC
        assert normalise_text(joined) == normalise_text(text)
        assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text)


@pytest.mark.skipif(OPENFLAMINGO is None, reason="open_flamingo's data.py does not import here")
def test_fallback_parser_agrees_with_openflamingo() -> None:
    # The fallback is what runs where OpenFlamingo cannot import; keep it honest.
    text = f"<image>One.{EOC}<image>Two.\nThree{EOC}"
    doc = m3w_row_to_mmc4(m3w_row(text, [big_jpeg(5), big_jpeg(6)]), 0, Mmc4Config()).doc
    payload = json.dumps(doc).encode()
    assert _reimplemented_view(payload) == _real_view(payload)
