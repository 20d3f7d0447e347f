"""The first stages of `curate pairs`: read pair inputs, filter captions, check inputs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
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
from pipelines.jobs import CliError
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
    def __init__(self, cfg: CaptionFilterConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters("filter_caption")
        if self._cfg.language.languages:
            load_language_model()

    def process(self, src: PairSource) -> Iterator[Any]:
        self._c.received()
        caption, decision = filter_caption(src.caption, self._cfg)
        if not decision.keep:
            yield self._c.reject(decision.reason, pair_key(src), decision.detail)
            return
        self._c.passed()
        yield replace(src, caption=caption)


class FilterCaptions(beam.PTransform):
    """PairSources → those with a usable caption, cleaned (main output ``pairs``)."""

    def __init__(self, cfg: CaptionFilterConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, pairs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return pairs | "Filter" >> beam.ParDo(_FilterCaptionsFn(self._cfg)).with_outputs(
            REJECTED, main="pairs"
        )


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
