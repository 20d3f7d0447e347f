"""The files of a crawl: URL lists in; WARC shards and ledgers out; the plan of what is left."""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from curation.fetch import FetchError, HttpFetcher
from curation.url_sources import UrlSourceError, normalise_url, source_kind, urls_from_bytes
from curation.warc_writer import Exchange, WarcShardWriter
from pipelines.jobs import CliError
from schemas import Rejection

if TYPE_CHECKING:
    from pipelines.scrape import ScrapeConfig

OK = "ok"
# Outcomes a re-run would only repeat; transient ones (timeouts, 5xx, DNS) are retried.
FINAL_OUTCOMES = frozenset(
    {OK, "robots_disallowed", "not_html", "opt_out", "too_large", "blocked_address"}
)


def is_final(outcome: str | None) -> bool:
    """True when a ledger outcome needs no retry: done, refused, or a 4xx ("http_status_404")."""
    if outcome is None:
        return False
    return outcome in FINAL_OUTCOMES or (
        outcome.startswith("http_status_4") and outcome != "http_status_429"
    )


def read_ledgers(output_dir: str) -> dict[str, str]:
    """{url: outcome} from every ledger of earlier runs in `output_dir`."""
    done: dict[str, str] = {}
    pattern = FileSystems.join(output_dir, "ledger-*.txt")
    for meta in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(meta.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for line in f.read().decode("utf-8", errors="replace").splitlines():
                url, _, outcome = line.partition("\t")
                if url:
                    done[url] = outcome or OK
    return done


def plan_urls(raw: Sequence[str], done: dict[str, str]) -> list[str | Rejection]:
    """Unique URLs still to fetch, and a Rejection for each invalid, repeated or finished one."""
    plan: list[str | Rejection] = []
    seen: set[str] = set()
    for line in raw:
        url = normalise_url(line)
        if url is None:
            plan.append(Rejection("read", "invalid_url", line[:500], "not an http(s) URL"))
        elif url in seen:
            plan.append(Rejection("read", "duplicate_url", url))
        elif is_final(done.get(url)):
            plan.append(Rejection("read", "already_done", url, done[url]))
        else:
            plan.append(url)
        seen.add(url or "")
    return plan


def read_url_lists(patterns: Sequence[str], column: str, cfg: ScrapeConfig) -> list[str]:
    """Every URL line of the lists the patterns match; CliError for a user error."""
    urls: list[str] = []
    for pattern in patterns:
        paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        if not paths:
            raise CliError(f"--urls {pattern!r} matches no file")
        for path in paths:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                data = f.read()
            try:
                urls += urls_from_bytes(data, source_kind(path), column, _sitemap_loader(path, cfg))
            except UrlSourceError as e:
                raise CliError(f"--urls {path!r}: {e}") from None
    return urls


def _sitemap_loader(index_path: str, cfg: ScrapeConfig) -> Callable[[str], bytes]:
    """Child sitemaps: a local file beside the index when one has that name, else HTTP."""

    def load(url: str) -> bytes:
        local = FileSystems.join(index_path.rsplit("/", 1)[0], url.rstrip("/").rsplit("/", 1)[-1])
        if FileSystems.exists(local):
            with FileSystems.open(local, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                return f.read()
        try:
            with HttpFetcher(cfg.fetch) as fetcher:
                return fetcher.fetch(url).data
        except FetchError as err:
            raise UrlSourceError("sitemap_child_unreadable", f"{url}: {err}") from err

    return load


def shard_name(host: str, run_id: str) -> str:
    """A file-name-safe shard name for one host group of one run."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", host) + "-" + run_id


def new_run_id(now: datetime.datetime | None = None) -> str:
    """A sortable, unique id per run, so shards of a resumed crawl never overwrite."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class CrawlShard:
    """The WARC file and ledger of one host group, opened on first use."""

    def __init__(self, output_dir: str, name: str):
        self._warc_path = FileSystems.join(output_dir, f"{name}.warc.gz")
        self._ledger_path = FileSystems.join(output_dir, f"ledger-{name}.txt")
        self._writer: WarcShardWriter | None = None
        self._ledger = None

    def write(self, ex: Exchange) -> None:
        if self._writer is None:
            raw = FileSystems.create(
                self._warc_path, compression_type=CompressionTypes.UNCOMPRESSED
            )
            self._writer = WarcShardWriter(raw)
        self._writer.write_exchange(ex)

    def ledger(self, url: str, outcome: str) -> None:
        if self._ledger is None:
            self._ledger = FileSystems.create(
                self._ledger_path, compression_type=CompressionTypes.UNCOMPRESSED
            )
        self._ledger.write(f"{url}\t{outcome}\n".encode())
        self._ledger.flush()  # the ledger is the resume point: it must survive a crash

    def __enter__(self) -> CrawlShard:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._ledger is not None:
            self._ledger.close()
