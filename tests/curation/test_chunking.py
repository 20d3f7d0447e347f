"""Tests of curation.chunking: the M3W text format, the L/N limits, both modes, exact counts."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import curation.chunking
from curation.chunking import (
    ChunkConfig,
    ChunkingError,
    chunk_document,
    format_document,
    render_pieces,
)
from curation.tokenizer import (
    END_OF_TEXT,
    TokenizerError,
    load_tokenizer,
    neutralise_markers,
    reserved_tokens,
)
from schemas.records import (
    END_OF_CHUNK,
    IMAGE_MARKER,
    Document,
    ImageNode,
    ImageRecord,
    M3WSample,
    Node,
    TextNode,
)
from tests.fixtures.tokenizer import _WORDS, make_sentencepiece_style_dir, tokenizer_dir

__all__ = ["tokenizer_dir"]  # the session fixture, used by name below

MARKER_RE = re.compile(re.escape(IMAGE_MARKER) + "|" + re.escape(END_OF_CHUNK))


@pytest.fixture(scope="module")
def tok(tokenizer_dir: Path):
    """The trained byte-level BPE (GPT-2 style)."""
    return load_tokenizer(tokenizer_dir)


@pytest.fixture(scope="module")
def sp_tok(tmp_path_factory: pytest.TempPathFactory):
    """A Llama-like tokenizer whose counts change when text is cut (the "▁" word prefix)."""
    return load_tokenizer(make_sentencepiece_style_dir(tmp_path_factory.mktemp("sp")))


@pytest.fixture(scope="module", params=["bpe", "sentencepiece"])
def any_tok(request: pytest.FixtureRequest, tok, sp_tok):
    return tok if request.param == "bpe" else sp_tok


def image(i: int) -> ImageRecord:
    return ImageRecord(b"img%d" % i, f"https://example.com/{i}.jpg", f"{i:064x}", i, 64, 48)


def image_node(i: int) -> ImageNode:
    return ImageNode(src=f"https://example.com/{i}.jpg", image=image(i))


def words(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def doc_of(nodes: Sequence[Node], doc_id: str = "doc-0") -> Document:
    return Document(doc_id=doc_id, url=f"https://example.com/{doc_id}", nodes=tuple(nodes))


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text)


def doc_text(doc: Document, tok) -> str:
    """The document text as the chunker formats it (empty blocks skipped, markers neutralised)."""
    return "".join(p for p in format_document(doc, reserved_tokens(tok)) if isinstance(p, str))


def check_invariants(samples: list[M3WSample], doc: Document, tok, cfg: ChunkConfig) -> None:
    """Every rule a sample must satisfy, as the end-to-end test re-checks them."""
    image_id, eoc_id = tok.convert_tokens_to_ids([IMAGE_MARKER, END_OF_CHUNK])
    doc_images = [n.image for n in doc.nodes if isinstance(n, ImageNode) and n.image]
    last_image = -1
    assert [s.chunk_index for s in samples] == list(range(len(samples)))
    for s in samples:
        ids = tok.encode(s.text, add_special_tokens=False)
        assert len(ids) == s.num_tokens <= cfg.max_tokens
        assert s.num_tokens > 0 and strip_markers(s.text)
        k = len(s.images)
        assert k <= cfg.max_images
        assert ids.count(image_id) == s.text.count(IMAGE_MARKER) == k
        assert ids.count(eoc_id) == s.text.count(END_OF_CHUNK) == k
        # Every <image> but the first is preceded by <|endofchunk|>; a sample with images ends
        # with one.
        assert s.text.count(END_OF_CHUNK + IMAGE_MARKER) == max(k - 1, 0)
        assert s.text.endswith(END_OF_CHUNK) == (k > 0)
        assert not s.text.startswith(END_OF_CHUNK)
        # Images keep document order, across samples too (tile) and none is repeated.
        for img in s.images:
            index = doc_images.index(img, last_image + 1)
            last_image = index
        assert s.doc_id == doc.doc_id and s.url == doc.url and s.tokenizer == "tok-test"


def chunk(doc: Document, tok, **cfg) -> list[M3WSample]:
    config = ChunkConfig(**cfg)
    samples = chunk_document(doc, tok, config, "tok-test")
    check_invariants(samples, doc, tok, config)
    return samples


# --- text format -----------------------------------------------------------------------------


def test_format_document_joins_blocks_and_places_images_before_the_next_block() -> None:
    doc = doc_of(
        [
            image_node(0),
            TextNode("first"),
            TextNode(""),
            TextNode("second"),
            image_node(1),
            ImageNode(src="https://example.com/unfetched.jpg"),
            image_node(2),
            TextNode("third"),
            image_node(3),
        ]
    )
    assert format_document(doc) == (
        image(0),
        "first\nsecond\n",
        image(1),
        image(2),
        "third",
        image(3),
    )


def test_render_pieces_follows_the_openflamingo_convention() -> None:
    pieces = ("a ", image(0), "b ", image(1), "c")
    text, images = render_pieces(pieces, max_images=5)
    assert text == f"a {IMAGE_MARKER}b {END_OF_CHUNK}{IMAGE_MARKER}c{END_OF_CHUNK}"
    assert images == (image(0), image(1))
    assert render_pieces(("only text",), 5) == ("only text", ())


def test_render_pieces_drops_images_beyond_n_with_their_markers() -> None:
    pieces = tuple(x for i in range(4) for x in (f"t{i}", image(i)))
    text, images = render_pieces(pieces, max_images=2)
    assert images == (image(0), image(1))
    assert text == f"t0{IMAGE_MARKER}t1{END_OF_CHUNK}{IMAGE_MARKER}t2t3{END_OF_CHUNK}"
    assert render_pieces(pieces, max_images=0) == ("t0t1t2t3", ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see <image> here", "see < image> here"),
        ("<|endofchunk|>", "< |endofchunk|>"),
        ("<<image>image>", "<< image>image>"),
        ("<|endofchunk|><image>", "< |endofchunk|>< image>"),
        ("plain < image > text", "plain < image > text"),
    ],
)
def test_neutralise_markers(text: str, expected: str) -> None:
    assert neutralise_markers(text) == expected


def test_neutralise_repeats_until_no_reserved_string_is_left() -> None:
    # Overlapping reserved strings: breaking "<ab" leaves "b>" intact, a second pass breaks it.
    out = neutralise_markers("<ab>", ("<ab", "b>"))
    assert "<ab" not in out and "b>" not in out


def test_literal_markers_in_text_never_become_images(any_tok) -> None:
    reserved = reserved_tokens(any_tok)  # the markers, <|endoftext|> or <s> </s> <unk>
    doc = doc_of([TextNode("Tags like " + ", ".join(reserved) + ".")])
    (sample,) = chunk(doc, any_tok)
    assert sample.images == ()
    assert not any(t in sample.text for t in reserved)
    ids = any_tok.encode(sample.text, add_special_tokens=False)
    assert not set(ids) & set(any_tok.all_special_ids)


def test_markers_adjacent_to_text_without_spaces(tok) -> None:
    doc = doc_of([TextNode("abc"), image_node(0), TextNode("def"), image_node(1), TextNode("ghi")])
    (sample,) = chunk(doc, tok)
    assert sample.text == (f"abc\n{IMAGE_MARKER}def\n{END_OF_CHUNK}{IMAGE_MARKER}ghi{END_OF_CHUNK}")
    assert sample.images == (image(0), image(1))


# --- the recipe ------------------------------------------------------------------------------


def test_short_document_is_one_sample_with_the_first_five_of_twelve_images(any_tok) -> None:
    nodes: list[Node] = []
    for i in range(12):
        nodes += [TextNode(words(5, seed=i)), image_node(i)]
    doc = doc_of(nodes)
    for mode in ("sample", "tile"):
        (sample,) = chunk(doc, any_tok, mode=mode)
        assert sample.images == tuple(image(i) for i in range(5))
        assert strip_markers(sample.text) == doc_text(
            doc, any_tok
        )  # dropped images lose only markers


def test_tile_with_twelve_images_in_a_long_document(any_tok) -> None:
    nodes: list[Node] = []
    for i in range(12):
        nodes += [TextNode(words(60, seed=i)), image_node(i), image_node(100 + i)]
    doc = doc_of(nodes)
    samples = chunk(doc, any_tok, mode="tile", min_tokens=0)
    assert len(samples) > 3
    assert "".join(strip_markers(s.text) for s in samples) == doc_text(doc, any_tok)
    kept = [img for s in samples for img in s.images]
    assert len(kept) < 24 and image(0) in kept


def test_text_chunks_without_images_are_valid_samples(any_tok) -> None:
    doc = doc_of([TextNode(words(400)), image_node(0)])
    samples = chunk(doc, any_tok, mode="tile", min_tokens=0)
    assert samples[0].images == () and samples[-1].images == (image(0),)


def test_long_words_unicode_and_emoji_are_covered_exactly(any_tok) -> None:
    texts = [
        "x" * 3000,
        "Supercalifragilisticexpialidocious" * 40,
        "日本語のテキストです。中文网页内容。한국어 문장입니다。" * 30,
        "👩‍👩‍👧‍👦👍🏽🇯🇵❤️‍🔥" * 80,
        "naïve café " * 100,
    ]
    doc = doc_of([TextNode(t) for t in texts] + [image_node(0)])
    samples = chunk(doc, any_tok, mode="tile", min_tokens=0, max_tokens=64)
    assert "".join(strip_markers(s.text) for s in samples) == doc_text(doc, any_tok)
    # Chunks are reasonably full: the cutter does not fall back to tiny pieces.
    assert sum(s.num_tokens for s in samples[:-1]) >= 0.8 * 64 * (len(samples) - 1)


def test_tile_covers_the_whole_document(any_tok) -> None:
    nodes: list[Node] = []
    for i in range(30):
        nodes.append(TextNode(words(random.Random(i).randint(1, 80), seed=i)))
        if i % 3 == 0:
            nodes.append(image_node(i))
    doc = doc_of(nodes)
    samples = chunk(doc, any_tok, mode="tile", min_tokens=0)
    assert "".join(strip_markers(s.text) for s in samples) == doc_text(doc, any_tok)
    assert [img for s in samples for img in s.images] == [
        n.image for n in nodes if isinstance(n, ImageNode)
    ]


def test_tile_drops_a_short_tail_unless_it_is_the_only_chunk(any_tok) -> None:
    body = words(300)
    full = chunk(doc_of([TextNode(body)]), any_tok, mode="tile", min_tokens=0)
    tail = full[-1].num_tokens
    assert len(full) > 1 and tail < 256
    trimmed = chunk(doc_of([TextNode(body)]), any_tok, mode="tile", min_tokens=tail + 1)
    assert trimmed == full[:-1]
    (only,) = chunk(doc_of([TextNode("tiny")]), any_tok, mode="tile", min_tokens=100)
    assert strip_markers(only.text) == "tiny"


def test_sample_mode_is_deterministic_per_doc_and_varies_across_docs(any_tok) -> None:
    nodes = [TextNode(words(1500)), image_node(0), TextNode(words(500, seed=1))]
    picks = set()
    for i in range(12):
        doc = doc_of(nodes, doc_id=f"doc-{i}")
        first = chunk(doc, any_tok)
        assert len(first) == 1 and first == chunk(doc, any_tok)
        picks.add(first[0].text)
    assert len(picks) > 6
    doc = doc_of(nodes, doc_id="doc-0")
    assert {chunk(doc, any_tok, seed=s)[0].text for s in range(6)} != {chunk(doc, any_tok)[0].text}


def test_sample_mode_chunks_are_full_and_inside_the_document(tok) -> None:
    doc = doc_of([TextNode(words(2000))])
    text = doc_text(doc, tok)
    for i in range(5):
        (sample,) = chunk(doc_of(doc.nodes, doc_id=f"d{i}"), tok)
        assert sample.text in text
        assert sample.num_tokens >= 250  # a random window of L tokens, not a tail


def test_sample_mode_takes_the_whole_short_document(tok) -> None:
    doc = doc_of([TextNode("a short page"), image_node(0)])
    (sample,) = chunk(doc, tok, mode="sample", seed=7)
    assert sample.text == f"a short page{IMAGE_MARKER}{END_OF_CHUNK}"


@pytest.mark.parametrize(
    "nodes",
    [
        [],
        [TextNode("")],
        [image_node(0), image_node(1)],
        [ImageNode(src="https://example.com/unfetched.jpg")],
    ],
)
def test_documents_without_text_give_no_samples(tok, nodes: list[Node]) -> None:
    for mode in ("sample", "tile"):
        assert chunk_document(doc_of(nodes), tok, ChunkConfig(mode=mode), "t") == []


def test_small_limits(any_tok) -> None:
    doc = doc_of([TextNode(words(50)), image_node(0), TextNode(words(50, seed=2))])
    samples = chunk(doc, any_tok, mode="tile", max_tokens=4, max_images=1, min_tokens=0)
    assert "".join(strip_markers(s.text) for s in samples) == doc_text(doc, any_tok)
    assert sum(len(s.images) for s in samples) == 1


def test_recount_shortens_chunks_when_cutting_changes_the_tokens(sp_tok, monkeypatch) -> None:
    # Under a SentencePiece-style tokenizer, a word cut from its "▁" prefix or placed after a
    # marker takes more tokens than inside the whole document; the recount must catch it.
    shortened = []
    window = curation.chunking._window

    def spy(lay, start, budget, max_images, limit):
        shortened.append(limit < lay.size)
        return window(lay, start, budget, max_images, limit)

    monkeypatch.setattr(curation.chunking, "_window", spy)
    nodes: list[Node] = []
    for i in range(8):
        nodes += [TextNode(words(40, seed=i)), image_node(i)]
    doc = doc_of(nodes)
    for max_tokens in (7, 16, 33):
        samples = chunk(doc, sp_tok, mode="tile", min_tokens=0, max_tokens=max_tokens)
        assert "".join(strip_markers(s.text) for s in samples) == doc_text(doc, sp_tok)
    assert any(shortened)


def test_tokenizer_name_defaults_to_the_directory_name(tok, tokenizer_dir: Path) -> None:
    (sample,) = chunk_document(doc_of([TextNode("hello")]), tok)
    assert sample.tokenizer == tokenizer_dir.name


def test_lone_surrogates_are_replaced_not_fatal(tok) -> None:
    (sample,) = chunk(doc_of([TextNode("bad \ud800 char")]), tok)
    assert sample.text == "bad ? char"


@pytest.mark.parametrize(
    "kwargs", [{"mode": "random"}, {"max_tokens": 0}, {"max_images": -1}, {"min_tokens": -2}]
)
def test_bad_config_is_refused(kwargs: dict) -> None:
    with pytest.raises(ChunkingError) as err:
        ChunkConfig(**kwargs)
    assert err.value.reason == "bad_config"


def test_tokenizer_without_markers_is_refused(tokenizer_dir: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel()
    bare = PreTrainedTokenizerFast(tokenizer_object=backend)
    with pytest.raises(TokenizerError) as err:
        chunk_document(doc_of([TextNode("ab")]), bare, ChunkConfig(), "bare")
    assert err.value.reason == "marker_missing"


# --- properties ------------------------------------------------------------------------------

LOOKALIKES = [IMAGE_MARKER, END_OF_CHUNK, END_OF_TEXT, "<", ">", "<|", "|>", "image", "<image"]
text_strategy = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet="ab <>|\n\t日本🙂👍🏽é", max_size=30),
        st.sampled_from(LOOKALIKES),
        st.sampled_from(_WORDS).map(lambda w: w + " "),
    ),
    max_size=12,
).map("".join)
node_strategy = st.one_of(
    text_strategy.map(TextNode),
    st.integers(0, 40).map(image_node),
    st.just(ImageNode(src="https://example.com/unfetched.jpg")),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(node_strategy, max_size=25),
    max_tokens=st.integers(1, 80),
    max_images=st.integers(0, 6),
    mode=st.sampled_from(["sample", "tile"]),
    doc_id=st.text(max_size=8),
)
def test_property_invariants_hold_on_random_documents(
    any_tok, nodes, max_tokens, max_images, mode, doc_id
) -> None:
    doc = doc_of(nodes, doc_id=doc_id)
    samples = chunk(
        doc, any_tok, max_tokens=max_tokens, max_images=max_images, mode=mode, min_tokens=0
    )
    assert samples == chunk(
        doc, any_tok, max_tokens=max_tokens, max_images=max_images, mode=mode, min_tokens=0
    )
    if mode == "tile" and max_tokens >= 8:
        # No character needs more than 4 tokens, so nothing is skipped: tiles cover the text.
        assert "".join(strip_markers(s.text) for s in samples) == doc_text(doc, any_tok)
    if mode == "sample":
        assert len(samples) <= 1
        if samples:
            assert strip_markers(samples[0].text) in doc_text(doc, any_tok)
