"""Tokenizer loading: a local Hugging Face tokenizer plus Flamingo's two marker tokens."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.records import END_OF_CHUNK, IMAGE_MARKER
from trainer.errors import ModelError

BYTE_TOKENIZER = "byte"  # built-in byte-level tokenizer: no files, for CPU demos
BYTE_EOS = "<|endoftext|>"


@dataclass(frozen=True)
class SpecialIds:
    """Token ids the model and the data pipeline agree on."""

    image: int
    end_of_chunk: int
    eos: int
    pad: int
    bos: int | None


def load_tokenizer(path: str):
    """Load a tokenizer from a local directory (or the built-in "byte") and add the markers."""
    from transformers import AutoTokenizer

    if path == BYTE_TOKENIZER:
        tok = byte_tokenizer()
    else:
        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ModelError("tokenizer_not_found", f"{path}: {e}") from e
    add_marker_tokens(tok)
    return tok


def add_marker_tokens(tok) -> None:
    """Add `<|endofchunk|>` then `<image>` (OpenFlamingo's order, so --init-from ids line up)."""
    missing = [t for t in (END_OF_CHUNK, IMAGE_MARKER) if t not in tok.get_vocab()]
    if missing:
        tok.add_special_tokens({"additional_special_tokens": missing})
    if tok.eos_token is None:
        raise ModelError("tokenizer_without_eos", f"{tok.name_or_path}: no eos_token")
    if tok.pad_token is None:
        # Padding is masked out of loss and attention, so reusing EOS adds no embedding row.
        tok.pad_token = tok.eos_token


def special_ids(tok) -> SpecialIds:
    """The marker, EOS, pad and BOS ids of a tokenizer prepared by `load_tokenizer`."""
    vocab = tok.get_vocab()
    return SpecialIds(
        image=vocab[IMAGE_MARKER],
        end_of_chunk=vocab[END_OF_CHUNK],
        eos=tok.eos_token_id,
        pad=tok.pad_token_id,
        bos=tok.bos_token_id,
    )


def base_vocab_size(tok, ids: SpecialIds) -> int:
    """Embedding rows the LM needs for this tokenizer: every id but markers appended at the end.

    Markers that `load_tokenizer` appended get their own trainable rows after the LM's table;
    markers a tokenizer already had (a curation tokenizer) sit inside it like any other token.
    """
    size = max(tok.get_vocab().values()) + 1
    markers = {ids.image, ids.end_of_chunk}
    while size - 1 in markers:
        size -= 1
    return size


def byte_tokenizer():
    """A 256-symbol byte-level tokenizer with no merges: works offline on any text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens([BYTE_EOS])
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token=BYTE_EOS)
