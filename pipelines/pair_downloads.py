"""The image side of `curate pairs`: download URL pairs, then validate, resize and hash.

Two downloaders, both taking batches of URL pairs (one batch is one shard of work):

- ``img2dataset`` runs img2dataset's `download()` on the shard in a child process
  (curation.img2dataset_runner) and reads its Parquet output back. It has no SSRF guard:
  only URLs that are not http(s) or that name a private IP literal are refused before it
  runs, so it must be pointed at public URL lists.
- ``builtin`` fetches each URL with our HttpFetcher (address policy on every hop and
  redirect, size and wall-time caps, X-Robots-Tag opt-out), several at a time.

Pairs whose input already held the bytes skip both and go straight to `ProcessPairImages`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import apache_beam as beam

from curation.addresses import AddressPolicy
from curation.fetch import FetchConfig, FetchError, HttpFetcher
from curation.images import ImageConfig, ImageRejected, process_image
from curation.img2dataset_runner import Img2DatasetConfig, download_shard, literal_address_refusal
from curation.url_lists import PairSource
from pipelines.counting import REJECTED, StageCounters
from schemas import PairSample

log = logging.getLogger(__name__)

DOWNLOADERS = ("img2dataset", "builtin")
DOWNLOADED = "downloaded"


def pair_key(src: PairSource) -> str:
    """What a rejection names: the image URL, or where the pair was read."""
    return src.url or src.key


class _Img2DatasetFn(beam.DoFn):
    """A batch of URL pairs → the same pairs with bytes, via one img2dataset shard."""

    def __init__(self, cfg: Img2DatasetConfig, fetch: FetchConfig, tmp_dir: str | None):
        # From FetchConfig: the same allow-list and size cap as the builtin downloader.
        self._cfg, self._allow, self._tmp_dir = cfg, fetch.allow_networks, tmp_dir
        self._max_bytes = fetch.max_bytes

    def setup(self) -> None:
        self._c = StageCounters("download")
        self._policy = AddressPolicy(self._allow)

    def process(self, batch: Sequence[PairSource]) -> Iterator[Any]:
        started, rows = time.monotonic(), []
        for i, src in enumerate(batch):
            self._c.received()
            refusal = literal_address_refusal(src.url, self._policy)
            if refusal is not None:
                yield self._c.reject(refusal[0], src.url, refusal[1])
            else:
                rows.append((str(i), src.url))  # batch positions: ids may repeat in a list
        got = 0
        for result in download_shard(rows, self._cfg, self._tmp_dir) if rows else ():
            src = batch[int(result.row_id)]
            if result.data is None:
                yield self._c.reject(result.reason, src.url, result.detail)
                continue
            if len(result.data) > self._max_bytes:  # img2dataset reads any size; we cap after
                detail = f"{len(result.data)} bytes > {self._max_bytes} at {src.url}"
                yield self._c.reject("too_large", src.url, detail)
                continue
            got += 1
            self._c.passed()
            yield replace(src, data=result.data)
        log.info(
            "img2dataset shard: %d URLs → %d images in %.1fs",
            len(rows),
            got,
            time.monotonic() - started,
        )


class _BuiltinFetchFn(beam.DoFn):
    """A batch of URL pairs → the same pairs with bytes, fetched by HttpFetcher threads."""

    def __init__(self, cfg: FetchConfig, threads: int):
        self._cfg, self._threads = cfg, threads

    def setup(self) -> None:
        self._c = StageCounters("download")
        self._fetcher = HttpFetcher(self._cfg)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="fetch")

    def teardown(self) -> None:
        self._pool.shutdown(wait=True)
        self._fetcher.close()

    def process(self, batch: Sequence[PairSource]) -> Iterator[Any]:
        self._c.received(len(batch))
        for src, data, error in self._pool.map(self._fetch, batch):
            if error is not None:
                yield self._c.reject(error.reason, src.url, error.detail)
            else:
                self._c.passed()
                yield replace(src, data=data)

    def _fetch(self, src: PairSource) -> tuple[PairSource, bytes | None, FetchError | None]:
        try:
            return src, self._fetcher.fetch(src.url, expect="image").data, None
        except FetchError as err:
            return src, None, err


class DownloadPairs(beam.PTransform):
    """URL pairs → pairs holding image bytes (main output ``downloaded``) and rejections."""

    def __init__(
        self,
        downloader: str,
        shard_size: int,
        img2dataset: Img2DatasetConfig,
        fetch: FetchConfig,
        threads: int,
        tmp_dir: str | None = None,
    ) -> None:
        super().__init__()
        if downloader not in DOWNLOADERS:
            raise ValueError(f"downloader {downloader!r} not in {DOWNLOADERS}")
        self._shard_size = shard_size
        self._fn: beam.DoFn = (
            _Img2DatasetFn(img2dataset, fetch, tmp_dir)
            if downloader == "img2dataset"
            else _BuiltinFetchFn(fetch, threads)
        )

    def expand(self, pairs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return (
            pairs
            # Fixed-size shards: img2dataset's start-up cost is paid once per shard.
            | "Shard"
            >> beam.BatchElements(min_batch_size=self._shard_size, max_batch_size=self._shard_size)
            | "Download" >> beam.ParDo(self._fn).with_outputs(REJECTED, main=DOWNLOADED)
        )


class _ProcessImagesFn(beam.DoFn):
    """A batch of pairs with bytes → PairSamples (validated, resized, re-encoded, hashed)."""

    def __init__(self, cfg: ImageConfig, threads: int):
        self._cfg, self._threads = cfg, threads

    def setup(self) -> None:
        self._c = StageCounters("images")
        # Pillow releases the GIL while decoding and resizing, so threads use several cores.
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="image")

    def teardown(self) -> None:
        self._pool.shutdown(wait=True)

    def process(self, batch: Sequence[PairSource]) -> Iterator[Any]:
        self._c.received(len(batch))
        for src, outcome in self._pool.map(self._process, batch):
            if isinstance(outcome, ImageRejected):
                yield self._c.reject(outcome.reason, pair_key(src), outcome.detail)
                continue
            self._c.passed()
            yield PairSample(src.sample_id, src.url, src.caption, outcome)

    def _process(self, src: PairSource) -> tuple[PairSource, Any]:
        try:
            return src, process_image(src.data or b"", src.url, self._cfg)
        except ImageRejected as err:
            return src, err


class ProcessPairImages(beam.PTransform):
    """Pairs with bytes → PairSamples (main output ``pairs``) and rejections."""

    PER_THREAD = 8  # pairs per thread and round: bounds the bytes held in flight

    def __init__(self, cfg: ImageConfig, threads: int) -> None:
        super().__init__()
        self._fn = _ProcessImagesFn(cfg, threads)
        self._batch = threads * self.PER_THREAD

    def expand(self, pairs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        # A fixed size: BatchElements' adaptive sizing shrinks batches below the thread count.
        size = self._batch
        return (
            pairs
            | "Batch" >> beam.BatchElements(min_batch_size=size, max_batch_size=size)
            | "Process" >> beam.ParDo(self._fn).with_outputs(REJECTED, main="pairs")
        )
