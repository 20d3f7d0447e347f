"""Caption filters: every reason on an example, kept captions cleaned, no input crashes them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.captions import (
    REASONS,
    CaptionFilterConfig,
    caption_words,
    clean_caption,
    filter_caption,
    is_boilerplate,
    is_file_name,
    is_url_only,
    longest_char_run,
)
from curation.language import LanguageConfig

ENGLISH_ONLY = CaptionFilterConfig(language=LanguageConfig(languages=("en",)))
# min_confidence above any probability: every caption is "not sure enough".
NEVER_SURE = CaptionFilterConfig(language=LanguageConfig(languages=("en",), min_confidence=1.01))

DROPPED = [
    ("x" * 1200, CaptionFilterConfig(), "too_long"),
    ("word " * 5000, CaptionFilterConfig(), "too_long"),
    ("   \t\n ", CaptionFilterConfig(), "empty_caption"),
    (None, CaptionFilterConfig(), "empty_caption"),
    ("https://example.com/photos/cat.jpg", CaptionFilterConfig(), "url_only"),
    ("www.example.org", CaptionFilterConfig(), "url_only"),
    ("example.com/gallery", CaptionFilterConfig(), "url_only"),
    ("IMG_1234", CaptionFilterConfig(), "file_name"),
    ("DSC_0001.JPG", CaptionFilterConfig(), "file_name"),
    ("DSCN0042", CaptionFilterConfig(), "file_name"),
    ("P1010001", CaptionFilterConfig(), "file_name"),
    ("PXL_20230101_123456789", CaptionFilterConfig(), "file_name"),
    ("my summer holiday photo.jpeg", CaptionFilterConfig(), "file_name"),
    ("Screenshot 2023-04-05 at 10.11.12", CaptionFilterConfig(), "file_name"),
    ("red-car-parked-outside", CaptionFilterConfig(), "file_name"),
    ("image", CaptionFilterConfig(), "boilerplate_caption"),
    ("Photo", CaptionFilterConfig(), "boilerplate_caption"),
    ("Untitled", CaptionFilterConfig(), "boilerplate_caption"),
    ("Image 3", CaptionFilterConfig(), "boilerplate_caption"),
    ("untitled-1", CaptionFilterConfig(), "boilerplate_caption"),
    ("Click to enlarge", CaptionFilterConfig(), "boilerplate_caption"),
    ("N/A", CaptionFilterConfig(), "boilerplate_caption"),
    ("...", CaptionFilterConfig(), "boilerplate_caption"),
    ("cat", CaptionFilterConfig(), "too_short"),
    ("a cat", CaptionFilterConfig(), "too_few_words"),
    (" ".join(f"w{i}" for i in range(130)), CaptionFilterConfig(), "too_many_words"),
    ("What a sunset!!!!!!!! over the bay", CaptionFilterConfig(), "repeated_characters"),
    ("BUY CHEAP WATCHES ONLINE TODAY", CaptionFilterConfig(), "all_caps"),
    ("cat cat cat cat dog", CaptionFilterConfig(), "repeated_words"),
    ("A dog running on the beach", NEVER_SURE, "language_low_confidence"),
    ("Le petit chat dort sur le canapé rouge du salon", ENGLISH_ONLY, "language_not_kept"),
]


@pytest.mark.parametrize(("caption", "cfg", "reason"), DROPPED)
def test_each_reason_drops_its_example(caption, cfg, reason):
    _, decision = filter_caption(caption, cfg)
    assert not decision.keep
    assert decision.reason == reason
    assert decision.detail  # the offending value or measure, for the rejection record


def test_every_reason_has_an_example():
    assert {r for _, _, r in DROPPED} == set(REASONS)


@pytest.mark.parametrize(
    "caption",
    [
        "A dog running on the beach",
        "Boeing 747 landing at dawn",
        "Population of 1000000 people in 2020",
        "NASA rocket launch at Cape Canaveral",
        "Photo of a red fox in the snow",
        "一只猫坐在垫子上",  # no spaces: each Han character is a word
        "The cat sat on the mat. The dog did not.",
    ],
)
def test_real_captions_are_kept(caption):
    cleaned, decision = filter_caption(caption)
    assert decision.keep, decision
    assert cleaned == caption


def test_kept_caption_is_cleaned():
    cleaned, decision = filter_caption("  Fish &amp; chips\u200b on\n\na  plate\x07 ")
    assert decision.keep
    assert cleaned == "Fish & chips on a plate"


def test_english_caption_is_kept_by_an_english_filter():
    _, decision = filter_caption("A small brown dog sleeping on a wooden porch", ENGLISH_ONLY)
    assert decision.keep


def test_thresholds_come_from_the_config():
    loose = replace(CaptionFilterConfig(), min_words=1, min_chars=1)
    assert filter_caption("a cat", loose)[1].keep
    assert not filter_caption("a cat")[1].keep
    strict = replace(CaptionFilterConfig(), max_words=3)
    assert filter_caption("a brown dog running", strict)[1].reason == "too_many_words"


def test_pattern_helpers():
    assert is_url_only("see http://a.example/x https://b.example/y") is False
    assert is_url_only("http://a.example/x https://b.example/y")
    assert not is_url_only("photo.jpg")  # a file name, not a domain
    assert is_file_name("photo.jpg") and not is_file_name("A photo of my dog")
    assert is_boilerplate("Figure 12") and not is_boilerplate("Figure skating final")
    assert longest_char_run("a----b 0000000") == 4  # digits do not count
    assert caption_words("Don't stop-me now, e.g. 3.5 kg") == [
        "don't",
        "stop-me",
        "now",
        "e.g",
        "3.5",
        "kg",
    ]


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=300)))
def test_no_caption_crashes_the_filters_and_reasons_are_known(text):
    cleaned, decision = filter_caption(text)
    assert decision.keep or decision.reason in REASONS
    assert cleaned == cleaned.strip() and "  " not in cleaned
    if decision.keep:
        # Cleaning is idempotent, so a kept caption is judged the same when read back.
        assert clean_caption(cleaned) == cleaned
        assert filter_caption(cleaned)[1].keep
