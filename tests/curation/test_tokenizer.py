"""Tests of curation.tokenizer: offline BPE training, local loading, markers as single ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, GPT2TokenizerFast, PreTrainedTokenizerFast

from curation.tokenizer import (
    END_OF_TEXT,
    TokenizerError,
    load_tokenizer,
    marker_ids,
    tokenizer_name,
    train_bpe_tokenizer,
)
from schemas.records import END_OF_CHUNK, IMAGE_MARKER
from tests.fixtures.tokenizer import VOCAB_SIZE, corpus, tokenizer_dir

__all__ = ["tokenizer_dir"]  # the session fixture, used by name below


def make_gpt2_dir(path: Path, extra_special: tuple[str, ...] = ()) -> Path:
    """A GPT-2-style tokenizer built from a config (tiny vocab), without the Flamingo markers."""
    vocab = {END_OF_TEXT: 0}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("Ġ", "w")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.save(str(path / "backend.json"))
    tok = GPT2TokenizerFast(
        tokenizer_file=str(path / "backend.json"), additional_special_tokens=list(extra_special)
    )
    out = path / "gpt2-tiny"
    tok.save_pretrained(str(out))
    return out


def test_trained_tokenizer_saves_a_directory_auto_tokenizer_loads(tokenizer_dir: Path) -> None:
    names = {p.name for p in tokenizer_dir.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= names
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    assert isinstance(tok, PreTrainedTokenizerFast) and tok.is_fast
    assert 500 < len(tok) <= VOCAB_SIZE  # the corpus is rich enough to fill most of the vocab
    assert tok.eos_token == tok.bos_token == tok.pad_token == END_OF_TEXT
    for marker in (IMAGE_MARKER, END_OF_CHUNK, END_OF_TEXT):
        assert len(tok.encode(marker, add_special_tokens=False)) == 1, marker
    special_map = json.loads((tokenizer_dir / "special_tokens_map.json").read_text())
    assert special_map["additional_special_tokens"] == [IMAGE_MARKER, END_OF_CHUNK]


def test_training_is_deterministic(tmp_path: Path) -> None:
    texts = corpus(num_lines=400, seed=3)
    a = train_bpe_tokenizer(texts, tmp_path / "a", vocab_size=600)
    b = train_bpe_tokenizer(texts, tmp_path / "b", vocab_size=600)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert tokenizer_name(a).split("-")[1] == tokenizer_name(b).split("-")[1]


def test_trained_tokenizer_round_trips_unicode(tokenizer_dir: Path) -> None:
    tok = load_tokenizer(tokenizer_dir)
    text = "Straße 日本語 🙂👍🏽 مرحبا\n\ttabs  and  spaces"
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text
    # Byte-level: nothing is unknown.
    assert tok.unk_token_id not in ids


def test_load_tokenizer_adds_missing_markers_as_single_special_ids(tmp_path: Path) -> None:
    gpt2_dir = make_gpt2_dir(tmp_path, extra_special=("<|pad|>",))
    raw = AutoTokenizer.from_pretrained(str(gpt2_dir), local_files_only=True)
    assert len(raw.encode(IMAGE_MARKER, add_special_tokens=False)) > 1  # split before loading
    tok = load_tokenizer(gpt2_dir)
    image_id, eoc_id = marker_ids(tok)
    assert image_id >= len(raw) and eoc_id >= len(raw) and image_id != eoc_id
    assert (
        tok.encode(f"hello{IMAGE_MARKER}world{END_OF_CHUNK}", add_special_tokens=False).count(
            image_id
        )
        == 1
    )
    assert tok.encode(f"a{END_OF_CHUNK}{IMAGE_MARKER}b", add_special_tokens=False)[1:3] == [
        eoc_id,
        image_id,
    ]
    assert {IMAGE_MARKER, END_OF_CHUNK, "<|pad|>"} <= set(tok.all_special_tokens)
    assert tok.decode([image_id, eoc_id], skip_special_tokens=True) == ""


def test_load_tokenizer_keeps_existing_markers(tokenizer_dir: Path) -> None:
    raw = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    tok = load_tokenizer(tokenizer_dir)
    assert len(tok) == len(raw)
    assert marker_ids(tok) == tuple(raw.convert_tokens_to_ids([IMAGE_MARKER, END_OF_CHUNK]))


def test_load_tokenizer_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(TokenizerError, match="nope") as err:
        load_tokenizer(missing)
    assert err.value.reason == "tokenizer_not_found"

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TokenizerError, match="empty") as err:
        load_tokenizer(empty)
    assert err.value.reason == "not_a_tokenizer_dir"

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="broken") as err:
        load_tokenizer(broken)
    assert err.value.reason == "tokenizer_unloadable"


def test_tokenizer_name_is_stable_and_content_addressed(
    tmp_path: Path, tokenizer_dir: Path
) -> None:
    name = tokenizer_name(tokenizer_dir)
    assert name == tokenizer_name(str(tokenizer_dir))
    assert name.startswith(tokenizer_dir.name + "-")
    other = train_bpe_tokenizer(corpus(num_lines=200, seed=9), tmp_path / tokenizer_dir.name, 500)
    assert tokenizer_name(other) != name  # same basename, other vocabulary
    with pytest.raises(TokenizerError):
        tokenizer_name(tmp_path)
