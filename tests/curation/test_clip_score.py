"""CLIP scores from a tiny random-weight open_clip model built offline, and the keep rules."""

from __future__ import annotations

import importlib
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.clip_score import (
    ClipError,
    ClipFilterConfig,
    ClipScorer,
    check_config,
    keep_score,
    top_fraction_cutoff,
)
from tests.fixtures.clip_models import TINY_CLIP_CONFIG, TINY_CLIP_NAME, write_tiny_clip
from tests.fixtures.images import jpeg_bytes

torch = importlib.import_module("torch")
open_clip = importlib.import_module("open_clip")

CAPTIONS = ["a red kite in the sky", "a bowl of soup", "two dogs on a beach", "a city at night"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def scorer(tiny):
    config, checkpoint = tiny
    return ClipScorer(ClipFilterConfig(model=config, checkpoint=checkpoint, threshold=0.0))


def test_scores_are_the_cosine_of_the_checkpoint_model(tiny, scorer):
    _, checkpoint = tiny
    images = [jpeg_bytes(seed=i) for i in range(4)]
    scores = scorer.score(images, CAPTIONS)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    # The same weights through open_clip directly: our scores are its normalised dot products.
    model, _, preprocess = open_clip.create_model_and_transforms(
        TINY_CLIP_NAME, pretrained=checkpoint
    )
    import io

    from PIL import Image

    pixels = torch.stack([preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in images])
    with torch.no_grad():
        img = model.encode_image(pixels, normalize=True)
        txt = model.encode_text(open_clip.get_tokenizer(TINY_CLIP_NAME)(CAPTIONS), normalize=True)
    expected = (img * txt).sum(-1).tolist()
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(set(round(s, 6) for s in scores)) == 4  # the pairs are told apart


def test_unreadable_images_score_none(scorer):
    scores = scorer.score([b"not an image", jpeg_bytes()], ["x", "a photo of a thing"])
    assert scores[0] is None and isinstance(scores[1], float)
    assert scorer.score([b"junk"], ["x"]) == [None]


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path, tiny):
    config, _ = tiny
    other = dict(TINY_CLIP_CONFIG, embed_dim=8)
    other_config = tmp_path / "other-tiny-clip.json"
    other_config.write_text(json.dumps(other))
    open_clip.add_model_config(str(other_config))
    model = open_clip.create_model("other-tiny-clip", pretrained=None)
    torch.save(model.state_dict(), tmp_path / "other.pt")
    with pytest.raises(ClipError) as err:
        ClipScorer(
            ClipFilterConfig(model=config, checkpoint=str(tmp_path / "other.pt"), top_fraction=0.5)
        )
    assert err.value.reason == "clip_checkpoint_mismatch"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"threshold": 0.3, "top_fraction": 0.3}, "bad_clip_config"),
        ({}, "bad_clip_config"),
        ({"threshold": 1.5}, "bad_clip_config"),
        ({"top_fraction": 0.0}, "bad_clip_config"),
        ({"threshold": 0.3, "checkpoint": None}, "clip_checkpoint_missing"),
        ({"threshold": 0.3, "checkpoint": "/no/such/file.pt"}, "clip_checkpoint_missing"),
        ({"threshold": 0.3, "model": "hf-hub:org/model"}, "clip_model_remote"),
        ({"threshold": 0.3, "model": "/no/such/config.json"}, "clip_model_unknown"),
        ({"threshold": 0.3, "model": "local-dir:/no/such/dir"}, "clip_model_unknown"),
    ],
)
def test_config_errors(tiny, kwargs, reason):
    config, checkpoint = tiny
    cfg = ClipFilterConfig(**{"model": config, "checkpoint": checkpoint, **kwargs})
    with pytest.raises(ClipError) as err:
        check_config(cfg)
    assert err.value.reason == reason


def test_unknown_model_name_is_refused(tiny):
    _, checkpoint = tiny
    with pytest.raises(ClipError) as err:
        ClipScorer(ClipFilterConfig(model="No-Such-Model", checkpoint=checkpoint, threshold=0.2))
    assert err.value.reason == "clip_model_unknown"


def test_top_fraction_cutoff_edges():
    assert top_fraction_cutoff([], 0.3) == math.inf
    q = [0.0, 0.1, 0.2, 0.3, 0.4]
    assert top_fraction_cutoff(q, 1.0) == 0.0  # keep everything
    assert top_fraction_cutoff(q, 0.25) == 0.3
    assert keep_score(0.3, 0.3) and not keep_score(0.29, 0.3)


def _exact_quantiles(values: list[float], n: int) -> list[float]:
    ordered = sorted(values)
    return [ordered[round(i * (len(ordered) - 1) / (n - 1))] for i in range(n)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-1, 1), min_size=1, max_size=300, unique=True),
    st.floats(0.01, 1.0),
)
def test_top_fraction_keeps_about_that_fraction(values, fraction):
    cutoff = top_fraction_cutoff(_exact_quantiles(values, 1001), fraction)
    kept = sum(keep_score(v, cutoff) for v in values)
    # The cut is one of the values, at the rank nearest 1 - fraction (two roundings: the
    # quantile grid, then the rank within it).
    assert abs(kept - fraction * len(values)) <= 2 + 0.002 * len(values)
    assert cutoff in values


def test_top_thirty_percent_of_many_scores():
    values = [i / 1000 for i in range(1000)]
    cutoff = top_fraction_cutoff(_exact_quantiles(values, 1001), 0.3)
    assert 299 <= sum(keep_score(v, cutoff) for v in values) <= 301
