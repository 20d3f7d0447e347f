"""Tests of offline language identification."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation import language
from curation.language import (
    UNDETERMINED,
    LanguageConfig,
    identify_language,
    language_sample,
    load_language_model,
)

# Sentences written for these tests.
SENTENCES = {
    "en": "Yesterday we walked along the coast until the lighthouse, then took the last bus home "
    "because my brother had forgotten his umbrella in the café.",
    "fr": "Hier soir, nous avons dîné chez mes grands-parents et ma grand-mère nous a raconté "
    "comment elle avait rencontré mon grand-père pendant un bal au village.",
    "de": "Am Sonntag sind wir mit dem Fahrrad zum See gefahren, weil das Wetter endlich wieder "
    "schön war. Meine Schwester hat einen Kuchen mitgebracht.",
    "es": "Mi abuela cocina una paella enorme cada domingo para toda la familia. Siempre dice que "
    "el secreto está en dejar reposar el arroz unos minutos.",
    "ja": "昨日は友達と一緒に京都の古いお寺を見に行きました。紅葉がとてもきれいで、"
    "たくさん写真を撮りました。",
    "ru": "Вчера мы всей семьёй ездили на дачу и собирали яблоки в саду. Вечером бабушка испекла "
    "пирог, и мы пили чай на веранде до самой ночи.",
}


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_identifies_language(code: str) -> None:
    found, probability = identify_language(SENTENCES[code])
    assert found == code
    assert 0.5 < probability <= 1.0


@pytest.mark.parametrize("text", ["", "   \n\t", "12345 678", "!!! ??? ...", "😀🎉"])
def test_text_without_letters_is_undetermined(text: str) -> None:
    assert identify_language(text) == (UNDETERMINED, 0.0)


def test_long_text_is_identified_on_a_bounded_sample() -> None:
    text = (SENTENCES["de"] + " ") * 5000
    assert identify_language(text)[0] == "de"
    sample = language_sample(text, max_chars=1000)
    assert len(sample) <= 1001
    assert sample.startswith(text[:500])
    assert text[len(text) // 2 : len(text) // 2 + 500] in sample


def test_sample_reads_start_and_middle() -> None:
    # A stray English first block does not decide a long German page.
    text = SENTENCES["en"] + "\n" + (SENTENCES["de"] + " ") * 200
    assert identify_language(text, max_chars=400)[0] == "de"
    assert language_sample("short", max_chars=10) == "short"


def test_identifier_is_loaded_once() -> None:
    load_language_model()
    first = language._identifier
    assert first is not None
    identify_language(SENTENCES["en"])
    identify_language(SENTENCES["fr"])
    assert language._get_identifier() is first


def test_config_defaults() -> None:
    cfg = LanguageConfig()
    assert cfg.languages == ()
    assert cfg.min_confidence == 0.5


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_gives_a_code_and_a_probability(text: str) -> None:
    code, probability = identify_language(text)
    assert isinstance(code, str) and code
    assert 0.0 <= probability <= 1.0
    assert identify_language(text) == (code, probability)
