"""The Flamingo M3W recipe: a document becomes samples of at most L tokens and N images.

Text format (OpenFlamingo's MMC4 convention): the document's text blocks, in DOM order, are
joined by "\\n"; each image with a fetched `ImageRecord` becomes `<image>`, placed at the start
of the text block that follows it (after the "\\n"); within a sample every `<image>` but the
first is preceded by `<|endofchunk|>`, and a sample holding an image ends with
`<|endofchunk|>`. Each kept image thus costs exactly two tokens.

Text that merely looks like a marker (a page quoting "<image>" or "<|endoftext|>") must not
become a marker, or a sample would claim an image it does not carry. Every reserved string
(the two markers and the tokenizer's special tokens) found in page text is neutralised by a
space after its first character: "<image>" becomes "< image>". The text stays readable and
the tokenizer sees ordinary characters.

Token counts are exact: chunk boundaries are chosen from the offsets of one tokenisation of the
whole document, then each sample's text is re-tokenised; when boundary effects of BPE make it
longer than L, the chunk is shortened and checked again. `M3WSample.num_tokens` is the count of
that final check.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from curation.tokenizer import MARKERS, TokenizerInfo, neutralise_markers, tokenizer_info
from schemas.records import (
    END_OF_CHUNK,
    IMAGE_MARKER,
    Document,
    ImageNode,
    ImageRecord,
    M3WSample,
    TextNode,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MODES = ("sample", "tile")
# Tokens a kept image adds to a sample: its `<image>` and one `<|endofchunk|>`.
IMAGE_COST = 2
# Byte-level BPE tokens may straddle characters (the last bytes of one CJK character and the
# first of the next), chaining a whole line into one uncuttable unit; units longer than this
# are cut per character instead. One character is at most 4 bytes, hence 4 byte tokens.
_MAX_UNIT_TOKENS = 8

Piece = str | ImageRecord


class ChunkingError(ValueError):
    """A document or configuration cannot be chunked; `reason` names why, `detail` the value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ChunkConfig:
    """How documents are cut into M3W samples."""

    # L: tokens per sample (Flamingo paper, App. A.3.3: "L = 256 tokens").
    max_tokens: int = 256
    # N: images kept per sample, the first N inside the chunk (paper, App. A.3.3: N = 5).
    max_images: int = 5
    # "sample": one random chunk per document, as in the paper; "tile": consecutive chunks
    # covering the whole document (ours: uses all the text of small crawls).
    mode: str = "sample"
    # Mixed with the document id to choose the chunk in "sample" mode (ours).
    seed: int = 0
    # Tile mode drops a last chunk shorter than this unless it is the document's only chunk
    # (ours: a tail of a few tokens is a sentence fragment that teaches little).
    min_tokens: int = 16

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ChunkingError("bad_config", f"mode={self.mode!r}, expected one of {MODES}")
        if self.max_tokens < 1:
            raise ChunkingError("bad_config", f"max_tokens={self.max_tokens}, must be >= 1")
        if self.max_images < 0:
            raise ChunkingError("bad_config", f"max_images={self.max_images}, must be >= 0")
        if self.min_tokens < 0:
            raise ChunkingError("bad_config", f"min_tokens={self.min_tokens}, must be >= 0")


# --- text format -----------------------------------------------------------------------------


def _clean_text(text: str, reserved: Sequence[str]) -> str:
    """Text made safe to tokenise: lone surrogates replaced, marker look-alikes neutralised."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (e.g. from surrogateescape decoding) cannot reach the Rust tokenizer.
        text = text.encode("utf-8", "replace").decode("utf-8")
    return neutralise_markers(text, reserved)


def format_document(doc: Document, reserved: Sequence[str] = MARKERS) -> tuple[Piece, ...]:
    """The document as text runs (str) and images (ImageRecord), in DOM order.

    Joining the text runs gives the document text (non-empty blocks joined by "\\n"); each
    image sits where the next text block starts. Image nodes without a fetched image are
    skipped, empty text blocks too.
    """
    pieces: list[Piece] = []
    run: list[str] = []
    pending: list[ImageRecord] = []
    seen_text = False
    for node in doc.nodes:
        if isinstance(node, ImageNode):
            if node.image is not None:
                pending.append(node.image)
            continue
        if not isinstance(node, TextNode) or not node.text:
            continue
        text = _clean_text(node.text, reserved)
        if seen_text:
            run.append("\n")  # the separator stays before the images, with the text above
        if pending:
            if run:
                pieces.append("".join(run))
                run = []
            pieces.extend(pending)
            pending = []
        run.append(text)
        seen_text = True
    if run:
        pieces.append("".join(run))
    pieces.extend(pending)
    return tuple(pieces)


def render_pieces(pieces: Iterable[Piece], max_images: int) -> tuple[str, tuple[ImageRecord, ...]]:
    """Sample text with markers, and its images: the first `max_images`, the rest dropped."""
    out: list[str] = []
    kept: list[ImageRecord] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif len(kept) < max_images:
            if kept:
                out.append(END_OF_CHUNK)
            out.append(IMAGE_MARKER)
            kept.append(piece)
    if kept:
        out.append(END_OF_CHUNK)
    return "".join(out), tuple(kept)


# --- the document as units ------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """The document as units the chunker never splits: a few tokens of text, or one image.

    Text units come from one tokenisation of each text run; a unit boundary is a token
    boundary where no token straddles it, so bytes of one character stay together.
    """

    runs: list[str]
    cum: list[int]  # cum[i]: estimated text tokens in units[:i] (images count 0)
    run_of: list[int]  # per unit: its run, -1 for an image
    starts: list[int]  # per unit: character span in its run
    ends: list[int]
    image_at: dict[int, ImageRecord]  # unit index -> image
    image_pos: list[int]  # sorted keys of image_at

    @property
    def size(self) -> int:
        return len(self.run_of)


def _text_units(text: str, offsets: Sequence[tuple[int, int]]) -> tuple[list, list, list]:
    """(tokens, starts, ends) of the units of one run; they partition the run."""
    n = len(offsets)
    if n == 0:
        return [0], [0], [len(text)]
    flat = np.fromiter(itertools.chain.from_iterable(offsets), dtype=np.int64, count=2 * n)
    starts, reach = flat[0::2], np.maximum.accumulate(flat[1::2])
    # A cut before token i is clean when no earlier token reaches past its start.
    first = np.flatnonzero(reach[:-1] <= starts[1:]) + 1
    cuts = reach[first - 1]
    keep = cuts > np.concatenate(([0], cuts[:-1]))  # strictly increasing, after position 0
    first, cuts = first[keep], cuts[keep]
    tokens = np.diff(np.concatenate(([0], first, [n]))).tolist()
    # The last unit also takes characters no token covers (stripped whitespace).
    unit_starts = [0, *cuts.tolist()]
    unit_ends = [*cuts.tolist(), len(text)]
    if max(tokens) > _MAX_UNIT_TOKENS:
        return _split_long_units(text, tokens, unit_starts, unit_ends)
    return tokens, unit_starts, unit_ends


def _split_long_units(text: str, tokens: list, starts: list, ends: list) -> tuple[list, list, list]:
    """Units of over `_MAX_UNIT_TOKENS` cut per character, their tokens shared by UTF-8 bytes."""
    out: tuple[list, list, list] = ([], [], [])
    for count, lo, hi in zip(tokens, starts, ends, strict=True):
        if count <= _MAX_UNIT_TOKENS or hi - lo < 2:
            pieces = [(count, lo, hi)]
        else:
            sizes = [len(c.encode("utf-8", "replace")) for c in text[lo:hi]]
            total = sum(sizes)
            # Rounding up over-estimates, so a chunk ends a little early; the re-tokenisation
            # check catches the rare under-estimate.
            pieces = [(-(-count * b // total), lo + i, lo + i + 1) for i, b in enumerate(sizes)]
        for column, value in zip(out, zip(*pieces, strict=True), strict=True):
            column.extend(value)
    return out


def _layout(pieces: Sequence[Piece], info: TokenizerInfo) -> _Layout:
    """The units of a formatted document, from one batch tokenisation of its text runs."""
    runs = [p for p in pieces if isinstance(p, str)]
    encodings = info.tokenizer.backend_tokenizer.encode_batch(runs, add_special_tokens=False)
    tokens: list[int] = []
    run_of: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    image_at: dict[int, ImageRecord] = {}
    run = 0
    for piece in pieces:
        if isinstance(piece, str):
            t, s, e = _text_units(piece, encodings[run].offsets)
            tokens += t
            starts += s
            ends += e
            run_of += [run] * len(t)
            run += 1
        else:
            image_at[len(run_of)] = piece
            tokens.append(0)
            starts.append(0)
            ends.append(0)
            run_of.append(-1)
    cum = [0, *itertools.accumulate(tokens)]
    return _Layout(runs, cum, run_of, starts, ends, image_at, sorted(image_at))


# --- windows ---------------------------------------------------------------------------------


def _window(lay: _Layout, start: int, budget: int, max_images: int, limit: int) -> tuple[int, int]:
    """Greedy window from `start`: (end, estimated tokens); images beyond N cost nothing."""
    budget = max(budget, 0)
    cost = kept = 0
    i = start
    k = bisect.bisect_left(lay.image_pos, start)
    while True:
        image = lay.image_pos[k] if k < len(lay.image_pos) else limit
        stop = min(image, limit)
        # Whole text units up to the next image, as many as the budget allows.
        i = bisect.bisect_right(lay.cum, lay.cum[i] + budget - cost, i, stop + 1) - 1
        cost = lay.cum[i] - lay.cum[start] + IMAGE_COST * kept
        if i < stop or stop == limit:
            return i, cost
        step = IMAGE_COST if kept < max_images else 0
        if cost + step > budget:
            return i, cost
        kept += step > 0
        cost += step
        i += 1
        k += 1


def _last_start(lay: _Layout, max_tokens: int, max_images: int) -> int:
    """The first unit from which the rest of the document fits in one sample."""

    def fits(b: int) -> bool:
        images = len(lay.image_pos) - bisect.bisect_left(lay.image_pos, b)
        return lay.cum[-1] - lay.cum[b] + IMAGE_COST * min(images, max_images) <= max_tokens

    lo, hi = 0, lay.size - 1  # the suffix cost only shrinks as b grows: bisect on it
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _sample_start(doc_id: str, seed: int, last_start: int) -> int:
    """The start unit of "sample" mode, from a hash (Python's hash() is salted per process)."""
    digest = hashlib.sha256(f"{seed}\0{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (last_start + 1)


def _window_pieces(lay: _Layout, start: int, end: int) -> list[Piece]:
    """The pieces of units[start:end]: a text slice between images, and the images."""
    pieces: list[Piece] = []
    i = start
    for pos in [*lay.image_pos[bisect.bisect_left(lay.image_pos, start) :], end]:
        stop = min(pos, end)
        if stop > i:  # units between two images all lie in one run
            pieces.append(lay.runs[lay.run_of[i]][lay.starts[i] : lay.ends[stop - 1]])
        if pos >= end:
            return pieces
        pieces.append(lay.image_at[pos])
        i = pos + 1
    return pieces


# --- chunks ----------------------------------------------------------------------------------


class _Chunk(NamedTuple):
    text: str
    images: tuple[ImageRecord, ...]
    num_tokens: int


def _check_markers(ids: Sequence[int], chunk: _Chunk, info: TokenizerInfo, key: str) -> None:
    """Raise unless the tokenised text holds one `<image>` per image and matching ends."""
    want = len(chunk.images)
    if ids.count(info.image_id) != want or ids.count(info.end_of_chunk_id) != want:
        raise ChunkingError(
            "marker_mismatch",
            f"{key}: {want} images but {ids.count(info.image_id)} <image> ids in "
            f"{chunk.text[:120]!r}",
        )


def _build_chunk(
    lay: _Layout, start: int, cfg: ChunkConfig, info: TokenizerInfo, key: str
) -> tuple[_Chunk | None, int]:
    """The verified chunk starting at `start` (None when it holds no text) and where it ends."""
    end, cost = _window(lay, start, cfg.max_tokens, cfg.max_images, lay.size)
    while end > start:
        if lay.cum[end] == lay.cum[start]:
            return None, end  # only images (or text that tokenises to nothing): no sample
        text, images = render_pieces(_window_pieces(lay, start, end), cfg.max_images)
        ids = info.tokenizer.encode(text, add_special_tokens=False)  # as the user re-counts
        if len(ids) <= cfg.max_tokens:
            chunk = _Chunk(text, images, len(ids))
            _check_markers(ids, chunk, info, key)
            return chunk, end
        # The tokenizer read the cut text differently from the whole document (a SentencePiece
        # prefix, a WordPiece "##" piece): shorten by the excess and check again. The end
        # strictly decreases, so this terminates.
        end, cost = _window(lay, start, cost - (len(ids) - cfg.max_tokens), cfg.max_images, end)
    # Not even the first unit fits in L tokens (a character that takes more than L tokens):
    # skip it rather than emit an over-long sample.
    return None, start + 1


def chunk_document(
    doc: Document,
    tokenizer: PreTrainedTokenizerBase,
    cfg: ChunkConfig = ChunkConfig(),  # frozen, so one shared default is safe
    tokenizer_name: str | None = None,
) -> list[M3WSample]:
    """Cut `doc` into M3W samples under `cfg`; [] when it has no text tokens.

    `tokenizer` must come from `load_tokenizer` (fast, with both markers as special tokens);
    `tokenizer_name` is stored in each sample (pass `curation.tokenizer.tokenizer_name(path)`;
    by default the basename of the tokenizer's `name_or_path`).
    """
    info = tokenizer_info(tokenizer)
    if tokenizer_name is None:
        tokenizer_name = Path(str(tokenizer.name_or_path)).name or "tokenizer"
    pieces = format_document(doc, info.reserved)
    if not any(isinstance(p, str) for p in pieces):
        return []
    lay = _layout(pieces, info)
    chunks: list[_Chunk] = []
    if cfg.mode == "sample":
        last = _last_start(lay, cfg.max_tokens, cfg.max_images)
        start = _sample_start(doc.doc_id, cfg.seed, last)
    else:
        start = 0
    while start < lay.size:
        chunk, start = _build_chunk(lay, start, cfg, info, doc.doc_id)
        if chunk is not None:
            chunks.append(chunk)
            if cfg.mode == "sample":  # the paper takes one chunk per document
                break
    if len(chunks) > 1 and chunks[-1].num_tokens < cfg.min_tokens:
        chunks.pop()  # tile mode's short tail
    return [
        M3WSample(
            doc_id=doc.doc_id,
            chunk_index=index,
            url=doc.url,
            text=chunk.text,
            images=chunk.images,
            num_tokens=chunk.num_tokens,
            tokenizer=tokenizer_name,
        )
        for index, chunk in enumerate(chunks)
    ]
