"""Tests of the Gopher / C4 text filters: one failing and one passing document per reason."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from curation.language import LanguageConfig
from curation.text_filters import (
    KEEP,
    REASONS,
    FilterDecision,
    TextFilterConfig,
    all_failures,
    apply_text_filters,
    check_duplicate_ngrams,
    check_repetition,
    check_top_ngrams,
)
from schemas.records import Document, ImageNode, TextNode

# Test prose written for these tests: ten distinct English lines that pass every check.
BASE_EN = (
    "The river that runs past our village rose by almost a metre after three days of heavy rain.",
    "Farmers moved their sheep to higher fields, and the school closed early on Thursday.",
    "By Friday morning the water had reached the old stone bridge, which was built in 1862.",
    "Volunteers filled sandbags outside the bakery while children watched from the library.",
    "A retired engineer explained that the bridge has survived worse floods than this one.",
    "Most shops reopened on Saturday once the council confirmed that the roads were safe again.",
    "The local newspaper printed photographs of ducks swimming across the flooded car park.",
    "Nobody was hurt, although several cellars will need weeks to dry out completely.",
    "Next spring the county plans to plant willows along the banks to slow the current.",
    "Residents have been invited to a meeting with the engineers at the town hall next month.",
)

FRENCH = (
    "Le marché du samedi matin attire des habitants de toute la vallée depuis cinquante ans.",
    "On y trouve des fromages de chèvre, du miel de lavande et des légumes cueillis la veille.",
    "Les enfants adorent le stand du boulanger, qui prépare des brioches tièdes à huit heures.",
    "Cette année, la mairie a installé de nouveaux bancs à l'ombre des platanes de la place.",
    "Un musicien joue de l'accordéon près de la fontaine pendant que les clients font la queue.",
    "Vers midi, les marchands rangent leurs caisses et la place retrouve son calme habituel.",
)

JAPANESE = (
    "駅前の小さな本屋は、今年で開店して五十年になります。",
    "店主の田中さんは、毎朝七時に店を開けて新聞を並べています。",
    "最近は子ども向けの絵本の棚を広げ、週末には読み聞かせの会も開いています。",
    "近所の大学生がアルバイトとして手伝うようになり、店の雰囲気も少し明るくなりました。",
    "田中さんは、これからも町の人が気軽に立ち寄れる場所でありたいと話しています。",
)

# Mostly one- to three-letter words: a mean word length under 3.
SHORT_WORDS = (
    "I am at home. He is in the car. We go up to the top of the old hill. Do you see me? "
    "It is a big day for us. My cat and my dog ran to the bed. So I sat on the mat by the fire. "
    "She is my pal and we eat a pie at ten. Go to bed now, it is far too late. Oh no, the bus "
    "is not yet here. You and I can try it out one day. Let us go out for a jog by the bay."
)

# English prose with at most one of Gopher's stop words.
NO_STOP_WORDS = (
    "Cats sleep most afternoons. My neighbour keeps three cats in her garden, each one loving "
    "a different sunny corner. Every evening she calls them by name, yet only Pepper, an old "
    "grey tom, ever answers. Visitors often ask why those others ignore her. She laughs, "
    "shrugs, then says cats simply choose their own schedules. Last winter Pepper caught a "
    "cold, so she knitted him a tiny blanket. He refused it, naturally, preferring a cardboard "
    "box near our radiator."
)

COOKIE_LINES = (
    "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    "Please enable JavaScript in your browser to view this page.",
    "Privacy Policy | Terms of Use",
    "This site uses cookies. Manage your cookie settings here.",
)


def make_doc(*blocks: str, images: int = 0) -> Document:
    """A document with one text node per block and `images` image nodes after the first."""
    nodes: list[TextNode | ImageNode] = [TextNode(b) for b in blocks]
    for i in range(images):
        nodes.insert(1 + i, ImageNode(src=f"https://example.org/img{i}.jpg"))
    return Document(doc_id="d1", url="https://example.org/page", nodes=tuple(nodes))


def base_text(*extra: str) -> str:
    return "\n".join(BASE_EN + extra)


def reasons(doc: Document, cfg: TextFilterConfig | None = None, lang=None) -> list[str]:
    return [f.reason for f in all_failures(doc, cfg, lang)]


def assert_only(reason: str, failing: Document, passing: Document, cfg=None, lang=None) -> None:
    """`failing` trips exactly `reason`; `passing` trips nothing; apply reports the same."""
    assert reason in REASONS
    assert reasons(failing, cfg, lang) == [reason]
    assert reasons(passing, cfg, lang) == []
    _, decision = apply_text_filters(failing, cfg, lang)
    assert decision.keep is False
    assert decision.reason == reason
    assert decision.detail
    assert apply_text_filters(passing, cfg, lang)[1] == KEEP


def test_base_text_passes_and_gets_language() -> None:
    out, decision = apply_text_filters(make_doc(base_text()))
    assert decision == FilterDecision(keep=True)
    assert out.language == "en"


def test_too_few_words() -> None:
    assert_only("too_few_words", make_doc(base_text()[:120]), make_doc(base_text()))
    _, decision = apply_text_filters(make_doc("Only five words are here."))
    assert decision.detail == "words=5 < 50"


def test_too_many_words() -> None:
    cfg = TextFilterConfig(max_words=100)
    assert_only("too_many_words", make_doc(base_text()), make_doc("\n".join(BASE_EN[:6])), cfg)


def test_mean_word_length() -> None:
    assert_only("mean_word_length", make_doc(SHORT_WORDS), make_doc(base_text()))


def test_mean_word_length_skipped_for_languages_without_spaces() -> None:
    out, decision = apply_text_filters(make_doc("\n".join(JAPANESE)))
    assert out.language == "ja"
    assert decision == KEEP
    cfg = TextFilterConfig(no_space_languages=())
    assert "mean_word_length" in reasons(make_doc("\n".join(JAPANESE)), cfg)


def test_symbol_word_ratio_hashes() -> None:
    topics = "rain flood river bridge village spring willow town weather news local storm"
    tags = " ".join(f"#{w} #{w}{year}" for w in topics.split() for year in ("2024",))
    failing = make_doc(base_text(tags))
    assert_only("symbol_word_ratio", failing, make_doc(base_text("#rain #flood")))


def test_symbol_word_ratio_ellipses() -> None:
    first = "photos videos maps updates interviews diaries sketches letters recordings charts"
    second = "poems songs films posters menus tickets stamps coins postcards recipes"
    teasers = (
        " ".join(f"{w}{dots}" for w in words.split()) + " and much more to come."
        for words, dots in ((first, "..."), (second, "…"))
    )
    failing = make_doc(base_text(*teasers))
    passing = make_doc(base_text("More photos soon..."))
    assert_only("symbol_word_ratio", failing, passing)


def test_bullet_lines() -> None:
    failing = make_doc("\n".join(f"• {line}" for line in BASE_EN))
    passing = make_doc("\n".join(f"- {line}" if i % 2 else line for i, line in enumerate(BASE_EN)))
    assert_only("bullet_lines", failing, passing)


def test_ellipsis_lines() -> None:
    lines = [line[:-1] + ("..." if i < 4 else ".") for i, line in enumerate(BASE_EN)]
    fewer = [line[:-1] + ("…" if i < 2 else ".") for i, line in enumerate(BASE_EN)]
    assert_only("ellipsis_lines", make_doc("\n".join(lines)), make_doc("\n".join(fewer)))


def test_non_alpha_words() -> None:
    table = " ".join(f"{1900 + 7 * i}:{i * 13 % 97}" for i in range(45))
    passing = make_doc(base_text("Water levels: 1.2 m, 1.9 m and 2.4 m."))
    assert_only("non_alpha_words", make_doc(base_text(table)), passing)


def test_no_stop_words() -> None:
    assert_only("no_stop_words", make_doc(NO_STOP_WORDS), make_doc(base_text()))
    assert all_failures(make_doc(NO_STOP_WORDS))[0].detail == "stop_words=0 < 2 (en)"


def test_no_stop_words_uses_the_document_language() -> None:
    out, decision = apply_text_filters(make_doc("\n".join(FRENCH)))
    assert (out.language, decision) == ("fr", KEEP)
    # Without a list for the language the check is skipped (Japanese has none).
    assert "no_stop_words" not in reasons(make_doc("\n".join(JAPANESE)))


def test_duplicate_lines() -> None:
    # Many short repeated lines: over 30% of lines, but few characters.
    lines = [x for line in BASE_EN for x in (line, "Reply")][:-3]
    fewer = [x for line in BASE_EN[:3] for x in (line, "Reply")] + list(BASE_EN[3:])
    assert_only("duplicate_lines", make_doc("\n".join(lines)), make_doc("\n".join(fewer)))


def test_duplicate_line_chars() -> None:
    # A few long repeated rule lines: few lines, many characters, no words.
    rule = "=" * 300
    failing = make_doc("\n".join((*BASE_EN[:5], rule, *BASE_EN[5:], rule, rule)))
    passing = make_doc("\n".join((*BASE_EN[:5], rule, *BASE_EN[5:])))
    assert_only("duplicate_line_chars", failing, passing)


def test_duplicate_paragraphs() -> None:
    blocks = ["\n".join(BASE_EN[i : i + 2]) for i in range(0, 10, 2)]
    failing = make_doc(*(x for block in blocks for x in (block, "Share")))
    passing = make_doc(*blocks[:2], "Share", *blocks[2:], "Share")
    assert_only("duplicate_paragraphs", failing, passing)


def test_duplicate_paragraph_chars() -> None:
    # A repeated paragraph repeats its lines too; relax the line check to isolate this one.
    cfg = TextFilterConfig(max_duplicate_line_char_fraction=1.0)
    rule = "\n".join(("-=" * 100, "=-" * 100))
    failing = make_doc(base_text(), rule, "\n".join(FRENCH[:1]), rule)
    passing = make_doc(base_text(), rule, "\n".join(FRENCH[:1]))
    assert_only("duplicate_paragraph_chars", failing, passing, cfg)
    result = check_repetition(
        ["aa", "bbbbbbbbbb", "bbbbbbbbbb", "c", "d", "e"], "paragraph", 0.3, 0.2
    )
    assert result is not None and result.reason == "duplicate_paragraph_chars"


NAMES = [
    "Anna",
    "Bruno",
    "Clara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Lars",
    "Maya",
    "Nils",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomas",
    "Uma",
    "Viktor",
    "Wanda",
    "Xavier",
    "Yusuf",
]
ENDINGS = (
    "last spring with her sister",
    "during the winter holidays",
    "after finishing a degree",
    "before moving to Lisbon",
    "twice for work",
    "once as a child",
    "alone to see the museums",
    "because of a wedding",
    "for a marathon",
    "with three old friends",
    "in the rainy autumn",
    "on a tight budget",
    "by train from Montreal",
    "to study jazz",
    "while writing a novel",
    "every summer",
    "without any luggage",
    "under grey skies",
    "at the height of summer",
    "shortly before retiring",
    "despite the long flight",
    "just for the food",
    "so as to meet cousins",
    "purely on a whim",
    "again and again",
)


def test_top_ngram_chars() -> None:
    lines = [f"{n} visited New York {e}." for n, e in zip(NAMES, ENDINGS, strict=True)]
    failing = make_doc("\n".join(lines))
    passing = make_doc(base_text(*lines[:3]))
    assert_only("top_ngram_chars", failing, passing)
    assert check_top_ngrams(["a", "b"], "en", TextFilterConfig()) is None


def test_duplicate_ngram_chars() -> None:
    repeated = "volunteers from the rowing club carried sandbags down to the riverside cottages"
    days = ("On Friday", "On Saturday", "On Sunday")
    failing = make_doc(base_text(*(f"{day} {repeated}." for day in days)))
    passing = make_doc(base_text(f"{days[0]} {repeated}."))
    assert_only("duplicate_ngram_chars", failing, passing)


def test_duplicate_ngrams_sorted_by_n_and_not_stopped_while_a_limit_can_fail() -> None:
    words = ("alpha beta gamma delta epsilon zeta " * 2).split() + [f"w{i}" for i in range(40)]
    cfg = TextFilterConfig(duplicate_ngram_max_char_fraction=((6, 0.2), (5, 0.9)))
    decision = check_duplicate_ngrams(words, "en", cfg)
    assert decision is not None and decision.detail.startswith("duplicate_6gram_chars=")


def test_lorem_ipsum() -> None:
    failing = make_doc(base_text("Lorem ipsum dolor sit amet, consectetur adipiscing elit."))
    assert_only("lorem_ipsum", failing, make_doc(base_text()))


def test_boilerplate_lines_removed_and_images_kept() -> None:
    doc = make_doc(COOKIE_LINES[0], base_text(COOKIE_LINES[1]), images=2)
    out, decision = apply_text_filters(doc)
    assert decision == KEEP
    assert out.nodes[0] == doc.nodes[1] and out.nodes[1] == doc.nodes[2]  # images, in order
    assert out.text == base_text()
    assert "cookie" not in out.text.lower() and "javascript" not in out.text.lower()


def test_boilerplate_document_dropped() -> None:
    failing = make_doc(base_text(*(COOKIE_LINES * 3)))
    passing = make_doc(base_text(*COOKIE_LINES[:2]))
    assert_only("boilerplate", failing, passing)


def test_language_not_kept() -> None:
    lang = LanguageConfig(languages=("en",))
    assert_only("language_not_kept", make_doc("\n".join(FRENCH)), make_doc(base_text()), lang=lang)


def test_language_low_confidence() -> None:
    # English and French lines interleaved: neither language is clearly ahead.
    mixed = [x for pair in zip(BASE_EN[:6], FRENCH, strict=True) for x in pair]
    lang = LanguageConfig(languages=("en", "fr"), min_confidence=0.9)
    failing = make_doc("\n".join(mixed))
    assert_only("language_low_confidence", failing, make_doc(base_text()), lang=lang)


def test_language_kept_when_no_languages_configured() -> None:
    out, decision = apply_text_filters(make_doc("\n".join(FRENCH)), lang=LanguageConfig())
    assert (out.language, decision) == ("fr", KEEP)


def test_document_without_text_nodes() -> None:
    doc = Document(doc_id="d", url="u", nodes=(ImageNode(src="https://example.org/a.png"),))
    out, decision = apply_text_filters(doc)
    assert decision.reason == "too_few_words"
    assert out.nodes == doc.nodes
    assert out.language == "und"
    empty = Document(doc_id="e", url="u")
    assert apply_text_filters(empty)[1].reason == "too_few_words"


def test_input_is_not_mutated() -> None:
    doc = make_doc(COOKIE_LINES[0], base_text(), images=1)
    snapshot = replace(doc)
    out, _ = apply_text_filters(doc)
    assert doc == snapshot and doc.language == ""
    assert out is not doc and out.language == "en"


node_strategy = st.one_of(
    st.builds(TextNode, st.text(max_size=400)),
    st.builds(ImageNode, st.just("https://example.org/x.jpg")),
)


def test_reasons_are_stable_snake_case_names() -> None:
    assert len(set(REASONS)) == len(REASONS) == 18
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", reason) for reason in REASONS)
    assert {"too_few_words", "boilerplate", "language_not_kept"} <= set(REASONS)


@settings(max_examples=100, deadline=None)
@given(nodes=st.lists(node_strategy, max_size=8), languages=st.sampled_from([(), ("en",)]))
def test_any_text_never_crashes_and_is_deterministic(nodes, languages) -> None:
    doc = Document(doc_id="h", url="u", nodes=tuple(nodes))
    lang = LanguageConfig(languages=languages)
    out, decision = apply_text_filters(doc, lang=lang)
    assert apply_text_filters(doc, lang=lang) == (out, decision)
    assert decision.reason in {"", *REASONS}
    assert decision.keep == (decision.reason == "")
    assert out.images == doc.images  # boilerplate removal never touches images
    assert len(out.text) <= len(doc.text)
