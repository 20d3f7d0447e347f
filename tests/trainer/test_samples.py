"""Video frame choice: evenly spaced moments by `frame_times`, index spacing as the fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.trainer_data import TINY_VISION, jpeg
from trainer.model.vision import build_vision_encoder
from trainer.samples import decode_image, frame_indices, pick_frames, video_example
from trainer.tokenizer import load_tokenizer, special_ids

# Frames at 0..5 s, then a gap (frames 6..19 s lost in decoding), then 20..22 s.
GAPPED = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 20.0, 21.0, 22.0]


def test_a_gap_in_time_moves_the_picks_to_evenly_spaced_moments():
    # Moments 0, 7.3, 14.7, 22 s: nearest frames are 0 s, 5 s, 20 s, 22 s.
    assert pick_frames(GAPPED, 9, 4) == [0, 5, 6, 8]
    # By index the same clip gives 0, 3, 5, 8: three of four picks inside the first 5 s.
    assert frame_indices(9, 4) == [0, 3, 5, 8]


def test_an_evenly_sampled_capped_clip_picks_as_index_spacing_does():
    # A 10-minute clip capped to 8 frames: the curation side spreads them 75 s apart.
    times = [75.0 * k for k in range(8)]
    for wanted in (1, 3, 4, 8, 12):
        assert pick_frames(times, 8, wanted) == frame_indices(8, wanted)


def test_fewer_frames_than_wanted_repeat_in_time_order():
    assert pick_frames([0.0, 1.0, 2.0], 3, 5) == [0, 0, 1, 2, 2]  # not 0, 0, 1, 1, 2
    assert pick_frames([4.0], 1, 3) == [0, 0, 0]


@pytest.mark.parametrize(
    "times",
    [
        None,
        [],
        [0.0, 1.0, 2.0],  # fewer times than frames
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],  # more
        [0.0, 1.0, math.nan, 3.0, 20.0],
        [0.0, 1.0, 2.0, 3.0, math.inf],
        [0.0, 1.0, 1.0, 3.0, 20.0],  # not strictly increasing
        [20.0, 3.0, 2.0, 1.0, 0.0],
        [0.0, 1.0, None, 3.0, 20.0],
        [-1.7e308, 0.0, 1.0, 2.0, 1.7e308],  # a span past float range
    ],
)
def test_unusable_times_fall_back_to_index_spacing(times):
    assert pick_frames(times, 5, 3) == frame_indices(5, 3) == [0, 2, 4]


@settings(max_examples=100, deadline=None)
@given(
    times=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=12),
    extra=st.integers(-1, 1),
    wanted=st.integers(1, 10),
)
def test_picks_are_in_range_ordered_and_nearest(times, extra, wanted):
    available = max(1, len(times) + extra)
    picks = pick_frames(times, available, wanted)
    assert len(picks) == wanted
    assert all(0 <= p < available for p in picks)
    assert picks == sorted(picks)
    t = np.asarray(times, dtype=np.float64)
    usable = len(t) == available and np.isfinite(t).all() and (np.diff(t) > 0).all()
    if not (usable and np.isfinite(t[-1] - t[0])):
        assert picks == frame_indices(available, wanted)
        return
    if wanted > 1:
        assert picks[0] == 0 and picks[-1] == available - 1
    for p, moment in zip(picks, np.linspace(t[0], t[-1], wanted), strict=True):
        assert abs(t[p] - moment) <= np.abs(t - moment).min()


@settings(max_examples=50, deadline=None)
@given(available=st.integers(1, 40), wanted=st.integers(1, 16))
def test_index_spacing_is_the_rounded_even_spread(available, wanted):
    # The spacing the trainer used before frame times were read; untimed rows keep it.
    rounded = [int(i) for i in np.linspace(0, available - 1, wanted).round()]
    assert frame_indices(available, wanted) == rounded


@settings(max_examples=50, deadline=None)
@given(
    available=st.integers(1, 40),
    wanted=st.integers(1, 16),
    scale=st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]),
)
def test_evenly_spaced_times_pick_as_index_spacing_does(available, wanted, scale):
    times = [scale * k for k in range(available)]  # power-of-two scale: ties stay exact
    assert pick_frames(times, available, wanted) == frame_indices(available, wanted)


@pytest.fixture(scope="module")
def preprocess():
    return build_vision_encoder("ViT-S-32", None, TINY_VISION)[1]


def test_video_example_decodes_the_frames_picked_by_time(lm_dirs, preprocess):
    tok = load_tokenizer(str(lm_dirs["gpt2"]))
    frames = [jpeg((25 * i, 200 - 20 * i, 90), "stripe", seed=i) for i in range(len(GAPPED))]
    row = {"sample_id": "c", "caption": "a stripe", "frames": frames, "frame_times": GAPPED}
    ids = special_ids(tok)
    ex = video_example(row, tok, ids, preprocess, 32, frames=4)
    want = torch.stack([decode_image(frames[i], preprocess) for i in (0, 5, 6, 8)])
    assert torch.equal(ex.images[0], want)
    by_index = video_example(
        {**row, "frame_times": [1.0]}, tok, special_ids(tok), preprocess, 32, 4
    )
    want = torch.stack([decode_image(frames[i], preprocess) for i in (0, 3, 5, 8)])
    assert torch.equal(by_index.images[0], want)
