"""Hugging Face tokenizers from local paths only, with the Flamingo markers as special tokens.

Also what text must avoid under a tokenizer: its reserved strings (the markers and its own
special tokens), which `neutralise_markers` breaks up wherever page text happens to hold them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.records import END_OF_CHUNK, IMAGE_MARKER

# transformers takes seconds to import, so the functions that need it import it themselves.
if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# GPT-2's document separator doubles as bos/eos/unk/pad in the tokenizers we train: byte-level
# BPE never needs unk, and one reserved id keeps the vocabulary small.
END_OF_TEXT = "<|endoftext|>"
MARKERS = (IMAGE_MARKER, END_OF_CHUNK)

# Files a Hugging Face tokenizer directory may hold; their bytes define the tokenisation,
# so they make up the hash in `tokenizer_name`.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "tokenizer.model",
)

# Long enough for any M3W sample (L = 256) and for the trainer's context; it only sets where
# transformers starts warning about long inputs.
_MODEL_MAX_LENGTH = 2048


class TokenizerError(ValueError):
    """A tokenizer path cannot be used; `reason` is a machine name, `detail` the offending value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def train_bpe_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 4096) -> Path:
    """Train a byte-level BPE on `texts` offline and save a directory AutoTokenizer loads.

    The same texts give the same files (the BPE trainer breaks ties deterministically), so
    the bundled sample and the tests always get the same token ids.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    special = [END_OF_TEXT, *MARKERS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # Untrimmed offsets keep a token's leading space inside its span, which the chunker
    # relies on to cut text at token boundaries.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        # Every byte is in the vocabulary, so no input is ever unknown.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    _write_tokenizer_config(out)
    return out


def _write_tokenizer_config(out: Path) -> None:
    """Write tokenizer_config.json and special_tokens_map.json for a trained tokenizer.json."""
    # Written by hand rather than with save_pretrained: transformers 5 writes a class name
    # ("TokenizersBackend") that transformers 4 cannot load, and no special_tokens_map.json.
    special_map = {
        "bos_token": END_OF_TEXT,
        "eos_token": END_OF_TEXT,
        "unk_token": END_OF_TEXT,
        "pad_token": END_OF_TEXT,
        "additional_special_tokens": list(MARKERS),
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special_map,
        "model_max_length": _MODEL_MAX_LENGTH,
        "clean_up_tokenization_spaces": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load a fast tokenizer from a local directory, with `<image>` and `<|endofchunk|>` added.

    Like OpenFlamingo, markers the tokenizer lacks become additional special tokens, so each
    always encodes to exactly one id (a model using it must resize its embeddings).
    """
    from transformers import AutoTokenizer

    where = Path(path)
    if not where.is_dir():
        raise TokenizerError("tokenizer_not_found", f"{str(path)!r} is not a directory")
    if not any((where / name).is_file() for name in _TOKENIZER_FILES):
        raise TokenizerError(
            "not_a_tokenizer_dir",
            f"{str(path)!r} holds none of {', '.join(_TOKENIZER_FILES)}",
        )
    try:
        tok = AutoTokenizer.from_pretrained(str(where), local_files_only=True, use_fast=True)
    except Exception as exc:  # transformers raises OSError/ValueError/KeyError/Rust errors
        raise TokenizerError("tokenizer_unloadable", f"{str(path)!r}: {exc}") from exc
    if not getattr(tok, "is_fast", False):
        # The chunker needs character offsets, which only Rust-backed tokenizers give.
        raise TokenizerError("slow_tokenizer", f"{str(path)!r} loaded as {type(tok).__name__}")
    _add_markers(tok)
    # A config may ask to split special tokens as text; the markers must stay single ids.
    if getattr(tok, "split_special_tokens", False):
        tok.split_special_tokens = False
    return tok


def _add_markers(tok: PreTrainedTokenizerBase) -> None:
    """Register the markers as additional special tokens unless they already are."""
    have = set(tok.all_special_tokens)
    missing = [m for m in MARKERS if m not in have]
    if not missing:
        return
    # transformers 5 calls them "extra", 4 "additional"; passing the full list keeps the
    # tokenizer's own extras flagged special on both (the call replaces the list).
    extras = getattr(tok, "extra_special_tokens", None)
    if not isinstance(extras, list):
        extras = getattr(tok, "additional_special_tokens", None) or []
    tok.add_special_tokens({"additional_special_tokens": [*map(str, extras), *missing]})


def tokenizer_name(path: str | Path) -> str:
    """A short stable name for a tokenizer directory: its basename and a hash of its files."""
    where = Path(path).resolve()
    digest = hashlib.sha256()
    found = False
    for name in _TOKENIZER_FILES:
        file = where / name
        if file.is_file():
            found = True
            digest.update(name.encode() + b"\0")
            digest.update(file.read_bytes())
    if not found:
        raise TokenizerError("not_a_tokenizer_dir", f"{str(path)!r} holds no tokenizer file")
    return f"{where.name or 'tokenizer'}-{digest.hexdigest()[:10]}"


def marker_ids(tok: PreTrainedTokenizerBase) -> tuple[int, int]:
    """The ids of `<image>` and `<|endofchunk|>`; raises unless both are special tokens."""
    special = _special_tokens(tok)
    missing = [m for m in MARKERS if m not in special]
    if missing:
        raise TokenizerError(
            "marker_missing", f"{missing} are not special tokens; load it with load_tokenizer()"
        )
    image_id, end_of_chunk_id = tok.convert_tokens_to_ids(list(MARKERS))
    return image_id, end_of_chunk_id


def reserved_tokens(tok: PreTrainedTokenizerBase) -> tuple[str, ...]:
    """Every string `tok` turns into a special id: its special tokens and the two markers."""
    return tuple(sorted(_special_tokens(tok) | set(MARKERS)))


def _special_tokens(tok: PreTrainedTokenizerBase) -> set[str]:
    """The special tokens `tok` declares, named (bos, eos, extras) or only flagged as added."""
    special = {str(t) for t in tok.all_special_tokens}
    special |= {str(t) for t in tok.added_tokens_decoder.values() if getattr(t, "special", False)}
    return special


@dataclass(frozen=True)
class TokenizerInfo:
    """What chunking needs from a loaded tokenizer, computed once per tokenizer object."""

    tokenizer: PreTrainedTokenizerBase
    reserved: tuple[str, ...]  # strings that encode to a special id (see `reserved_tokens`)
    image_id: int
    end_of_chunk_id: int


_infos: weakref.WeakKeyDictionary[object, TokenizerInfo] = weakref.WeakKeyDictionary()


def tokenizer_info(tok: PreTrainedTokenizerBase) -> TokenizerInfo:
    """The cached `TokenizerInfo` of `tok`; raises unless it is fast and holds both markers."""
    try:
        return _infos[tok]
    except (KeyError, TypeError):  # TypeError: a tokenizer class that is not hashable
        pass
    if getattr(tok, "backend_tokenizer", None) is None:
        raise TokenizerError("slow_tokenizer", f"{type(tok).__name__} gives no offsets")
    info = TokenizerInfo(tok, reserved_tokens(tok), *marker_ids(tok))
    with contextlib.suppress(TypeError):
        _infos[tok] = info
    return info


@lru_cache(maxsize=64)
def _reserved_pattern(reserved: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching any reserved string, longest first (so "<|a|>" beats "<|a")."""
    # Strings with whitespace or under two characters cannot be neutralised by an inserted
    # space (and no real marker looks like that).
    usable = sorted({t for t in reserved if len(t) >= 2 and not any(c.isspace() for c in t)})
    if not usable:
        return None
    usable.sort(key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in usable))


def _insert_space(match: re.Match[str]) -> str:
    found = match.group()
    return f"{found[0]} {found[1:]}"


def neutralise_markers(text: str, reserved: Sequence[str] = MARKERS) -> str:
    """`text` with every reserved string broken by a space after its first character."""
    pattern = _reserved_pattern(tuple(reserved))
    if pattern is None:
        return text
    # One pass can expose a new occurrence where two reserved strings overlapped, so repeat;
    # each pass only inserts spaces, and reserved strings hold none, so this ends quickly.
    for _ in range(8):
        if pattern.search(text) is None:
            return text
        text = pattern.sub(_insert_space, text)
    raise TokenizerError("marker_lookalike", f"cannot neutralise markers in {text[:80]!r}")
