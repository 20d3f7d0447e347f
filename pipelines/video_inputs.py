"""Inputs of `curate video`: list files (CSV/TSV/Parquet/JSONL, read by curation.url_lists)
whose rows name a clip (URL or path) and its caption."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from curation.url_lists import (
    PairSource,
    UrlListConfig,
    UrlListError,
    check_columns,
    input_format,
)
from curation.video import VideoRef
from pipelines.counting import REJECTED, StageCounters
from pipelines.jobs import CliError
from pipelines.pair_inputs import read_list_file
from schemas import Rejection

LIST_FORMATS = ("csv", "tsv", "jsonl", "parquet")  # curation.url_lists formats that name clips
REFS = "refs"


def resolve_location(value: str, list_path: str) -> str:
    """A URL or absolute path as is; a relative path against the list's directory."""
    if urlsplit(value).scheme or os.path.isabs(value):
        return value
    if "://" in list_path:
        return posixpath.join(posixpath.dirname(list_path), value)
    return os.path.join(os.path.dirname(os.path.abspath(list_path)), value)


def source_to_ref(source: PairSource, list_path: str) -> VideoRef:
    """A list row (read by curation.url_lists) as a VideoRef; its caption is judged later, by
    the ``filter_caption`` stage (an empty one included), as in `curate pairs`."""
    return VideoRef(resolve_location(source.url, list_path), source.caption, source.key)


def clip_key(ref: VideoRef) -> str:
    """What a rejection names: the clip's location, as the ``video`` stage does."""
    return ref.url


def iter_video_list(path: str, cfg: UrlListConfig) -> Iterator[VideoRef | Rejection]:
    """VideoRefs of every row of a list file; a Rejection per bad row or unreadable file."""
    try:
        kind = input_format(path)
    except UrlListError as e:
        yield Rejection("read", e.reason, path, e.detail)
        return
    if kind not in LIST_FORMATS:
        detail = f"{path}: a video list is one of {LIST_FORMATS}"
        yield Rejection("read", "unknown_format", path, detail)
        return
    for item in read_list_file(path, cfg):
        yield item if isinstance(item, Rejection) else source_to_ref(item, path)


class _ReadListFn(beam.DoFn):
    def __init__(self, cfg: UrlListConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters("read")

    def process(self, path: str) -> Iterator[Any]:
        for item in iter_video_list(path, self._cfg):
            yield self._c.admit(item)


class ReadVideoList(beam.PTransform):
    """List-file patterns → VideoRefs on ``refs`` and Rejections on ``rejected``."""

    def __init__(self, patterns: Iterable[str], cfg: UrlListConfig) -> None:
        super().__init__()
        self._patterns = list(patterns)
        self._fn = _ReadListFn(cfg)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda m: m.path)
            | "Dedup" >> beam.Distinct()
            | "Read" >> beam.ParDo(self._fn).with_outputs(REJECTED, main=REFS)
        )


def expand_lists(patterns: Iterable[str], cfg: UrlListConfig, check_files: int = 8) -> list[str]:
    """Every list file the patterns match; CliError for no match, a format or a column missing.

    Only the first `check_files` lists have their columns read: thousands of shards would crawl.
    """

    paths: list[str] = []
    for pattern in patterns:
        matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not matched:
            raise CliError(f"--input {pattern!r} matches no file")
        paths += matched
    paths = sorted(set(paths))
    try:
        for i, path in enumerate(paths):
            if input_format(path) not in LIST_FORMATS:
                raise CliError(f"{path}: not a video list; expected {', '.join(LIST_FORMATS)}")
            if i < check_files:
                with FileSystems.open(path) as f:
                    check_columns(f, path, cfg)
    except UrlListError as e:
        raise CliError(e.detail) from None
    return paths
