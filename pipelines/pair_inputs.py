"""The first stages of `curate pairs`: read pair inputs, filter captions (also used by
`curate video`), check inputs."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from curation.captions import CaptionFilterConfig, filter_caption
from curation.language import load_language_model
from curation.url_lists import (
    PairSource,
    UrlListConfig,
    UrlListError,
    check_columns,
    input_format,
    iter_pairs,
)
from pipelines.counting import REJECTED, StageCounters
from pipelines.jobs import CliError, csv_list
from pipelines.pair_downloads import pair_key
from schemas import Rejection

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- read


class _ReadListFn(beam.DoFn):
    """One input file → PairSources (with bytes when the input holds them) or rejections."""

    def __init__(self, cfg: UrlListConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters("read")

    def process(self, path: str) -> Iterator[Any]:
        started, n = time.monotonic(), 0
        for item in read_list_file(path, self._cfg):
            n += 1
            yield self._c.admit(item)
        log.info("read %s: %d rows in %.1fs", path, n, time.monotonic() - started)


def read_list_file(path: str, cfg: UrlListConfig) -> Iterator[PairSource | Rejection]:
    """Rows of one list file (any Beam filesystem); a Rejection per bad row or bad file."""
    try:
        with FileSystems.open(path) as f:  # .gz is decompressed by extension
            yield from iter_pairs(f, path, cfg)
    except UrlListError as e:
        yield Rejection("read", e.reason, path, e.detail)
    except (OSError, ValueError) as e:  # the file as a whole is unreadable
        yield Rejection("read", "unreadable_file", path, f"{type(e).__name__}: {e}")


class ReadPairInputs(beam.PTransform):
    """File patterns → PairSources (main output ``pairs``) and rejections."""

    def __init__(self, patterns: Iterable[str], cfg: UrlListConfig) -> None:
        super().__init__()
        self._patterns, self._cfg = list(patterns), cfg

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda m: m.path)
            | "Dedup" >> beam.Distinct()
            # Spread files over workers: each file is read by one worker, front to back.
            | "SpreadFiles" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadListFn(self._cfg)).with_outputs(REJECTED, main="pairs")
        )


# ---------------------------------------------------------------- captions


class _FilterCaptionsFn(beam.DoFn):
    """A record with a ``caption`` (PairSource, VideoRef …) → the same record with its caption
    cleaned, or a Rejection keyed by ``key_of(record)``."""

    def __init__(self, cfg: CaptionFilterConfig, key_of: Callable[[Any], str]) -> None:
        self._cfg, self._key_of = cfg, key_of

    def setup(self) -> None:
        self._c = StageCounters("filter_caption")
        if self._cfg.language.languages:
            load_language_model()

    def process(self, record: Any) -> Iterator[Any]:
        self._c.received()
        caption, decision = filter_caption(record.caption, self._cfg)
        if not decision.keep:
            yield self._c.reject(decision.reason, self._key_of(record), decision.detail)
            return
        self._c.passed()
        yield replace(record, caption=caption)


class FilterCaptions(beam.PTransform):
    """Captioned records → those with a usable caption, cleaned (main output `main`).

    `key_of` (a module-level function: the DoFn is pickled) names a record in a rejection.
    """

    def __init__(
        self,
        cfg: CaptionFilterConfig,
        key_of: Callable[[Any], str] = pair_key,
        main: str = "pairs",
    ) -> None:
        super().__init__()
        self._cfg, self._key_of, self._main = cfg, key_of, main

    def expand(self, records: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        fn = _FilterCaptionsFn(self._cfg, self._key_of)
        return records | "Filter" >> beam.ParDo(fn).with_outputs(REJECTED, main=self._main)


def add_caption_filter_options(p: argparse._ActionsContainer) -> None:
    """--min-words, --max-words, --min-chars, --max-chars, --languages (pairs and video)."""
    cap = CaptionFilterConfig()  # defaults and their sources: curation.captions
    words = "caption words (default %(default)s)"
    chars = "caption characters, after cleaning (default %(default)s)"
    p.add_argument("--min-words", type=int, default=cap.min_words, help=f"fewest {words}")
    p.add_argument("--max-words", type=int, default=cap.max_words, help=f"most {words}")
    p.add_argument("--min-chars", type=int, default=cap.min_chars, help=f"fewest {chars}")
    p.add_argument("--max-chars", type=int, default=cap.max_chars, help=f"most {chars}")
    p.add_argument(
        "--languages",
        type=csv_list,
        default=cap.language.languages,
        metavar="en,fr,…",
        help="keep captions in these languages only (default: every language)",
    )


def caption_filter_config(args: argparse.Namespace) -> CaptionFilterConfig:
    """The caption filter config from the options `add_caption_filter_options` registered."""
    cap = CaptionFilterConfig()
    return replace(
        cap,
        min_words=args.min_words,
        max_words=args.max_words,
        min_chars=args.min_chars,
        max_chars=args.max_chars,
        language=replace(cap.language, languages=tuple(args.languages)),
    )


# ---------------------------------------------------------------- checks


def expand_pair_inputs(
    patterns: Sequence[str], cfg: UrlListConfig, check_files: int = 50
) -> list[str]:
    """Every file the patterns match, its format known and (for the first files) its columns
    present; CliError otherwise, before any worker starts."""

    paths: list[str] = []
    for pattern in patterns:
        matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not matched:
            raise CliError(f"--input {pattern!r} matches no file")
        paths += matched
    paths = sorted(set(paths))
    for i, path in enumerate(paths):
        try:
            input_format(path)
            if i < check_files:  # a header or footer read each; thousands of shards would crawl
                with FileSystems.open(path) as f:
                    check_columns(f, path, cfg)
        except UrlListError as e:
            # A damaged file is the job's to reject (and count); a wrong column is the user's.
            if e.reason != "unreadable_file":
                raise CliError(e.detail) from None
    return paths
