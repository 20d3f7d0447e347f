"""`curate scrape`: a polite, restartable crawl of URL lists into WARC shards.

URLs are grouped by host, so one DoFn call owns a host and fetches its URLs one after
another under a token-bucket rate limit (one host is never hit by many workers), after
reading its robots.txt once. Each host group writes ``<output>/<host>-<run>.warc.gz``
(request + response records, optionally the page images) and
``<output>/ledger-<host>-<run>.txt`` (one ``url<TAB>outcome`` line per URL, written
after its WARC records), so a re-run skips what an earlier run finished.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from curation.fetch import FetchConfig, FetchError, FetchResult, HttpFetcher
from curation.html import ExtractionError, extract_nodes
from curation.robots import (
    RobotsCache,
    RobotsConfig,
    RobotsRules,
    TokenBucket,
    page_opt_out,
    robots_url,
    rules_from_response,
)
from curation.url_sources import (
    host_key,
)
from curation.warc_writer import Exchange
from pipelines.counting import REJECTED, StageCounters
from pipelines.io import WriteRecords
from pipelines.jobs import add_network_option, run_job
from pipelines.scrape_files import (
    OK,
    CrawlShard,
    new_run_id,
    plan_urls,
    read_ledgers,
    read_url_lists,
    shard_name,
)
from pipelines.summary import Balance, build_summary, describe_outputs
from schemas import REJECTION_SCHEMA, ImageNode, Rejection, rejection_to_row

log = logging.getLogger("curate.scrape")
STAGES = ("read", "scrape", "scrape_images")
PAGE_TYPES = ("text/html", "application/xhtml+xml")
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


@dataclass(frozen=True)
class ScrapeConfig:
    """Politeness and limits of one crawl."""

    per_host_qps: float = 1.0  # 1 request/s per host: the common polite default (Heritrix ~)
    max_pages_per_host: int = 1000  # bounds one worker's time on one host
    include_images: bool = False  # store page images too, so `curate m3w` needs no 2nd fetch
    max_images_per_page: int = 30  # Flamingo keeps <= 5 per chunk; pages rarely need more
    fetch: FetchConfig = field(
        default_factory=lambda: FetchConfig(
            accept=PAGE_ACCEPT, opt_out_directives=RobotsConfig.opt_out_directives
        )
    )
    robots: RobotsConfig = field(default_factory=RobotsConfig)


class CountRead(beam.DoFn):
    """The read stage's counters for the planned URLs (the plan itself is made up front)."""

    def setup(self) -> None:
        self._counters = StageCounters("read")

    def process(self, item: str | Rejection) -> Iterator[object]:
        self._counters.received()
        if isinstance(item, Rejection):
            yield self._counters.reject(item.reason, item.key, item.detail)
            return
        self._counters.passed()
        yield item


class CrawlHost(beam.DoFn):
    """Fetch one host's URLs in order under its robots.txt and rate limit; write its shard."""

    def __init__(
        self,
        cfg: ScrapeConfig,
        output_dir: str,
        run_id: str,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._cfg, self._output, self._run = cfg, output_dir, run_id
        self._clock, self._sleep = clock, sleep

    def setup(self) -> None:
        self._fetcher = HttpFetcher(self._cfg.fetch)
        # Sites do send "X-Robots-Tag: noindex" on robots.txt; it says nothing about pages.
        self._robots_fetcher = HttpFetcher(replace(self._cfg.fetch, honour_opt_out=False))
        self._robots = RobotsCache(self._cfg.robots.ttl_s, self._clock)
        self._pages = StageCounters("scrape")
        self._images = StageCounters("scrape_images")

    def teardown(self) -> None:
        self._fetcher.close()
        self._robots_fetcher.close()

    def process(self, element: tuple[str, list[str]]) -> Iterator[object]:
        host, urls = element[0], sorted(element[1])
        self._pages.received(len(urls))
        cap = self._cfg.max_pages_per_host
        for url in urls[cap:]:
            yield self._pages.reject("host_page_cap", url, f"more than {cap} URLs on {host}")
        limiter = TokenBucket(self._cfg.per_host_qps, 1, self._clock, self._sleep)
        rules = self._rules(urls[0], limiter)
        if isinstance(rules, FetchError):
            for url in urls[:cap]:
                yield self._pages.reject(rules.reason, url, f"robots.txt: {rules.detail}")
            return
        self._slow_down(rules, limiter)
        name = shard_name(host, self._run)
        with CrawlShard(self._output, name) as shard:
            for url in urls[:cap]:
                yield from self._crawl_one(url, rules, limiter, shard)

    def _rules(self, url: str, limiter: TokenBucket) -> RobotsRules | FetchError:
        """The host's robots rules (cached with a TTL), or the error that makes it unreachable."""
        host = host_key(url)
        cached = self._robots.get(host)
        if cached is not None:
            return cached
        limiter.acquire()  # robots.txt is a request to the host like any other
        self._pages.count("robots_fetches")
        try:
            rules = rules_from_response(200, self._robots_fetcher.fetch(robots_url(url)).data)
        except FetchError as err:
            if err.reason != "http_status":
                return err  # DNS, connect, timeout, blocked: the host is unreachable for us
            rules = rules_from_response(_status_of(err), b"")
        self._robots.put(host, rules)
        return rules

    def _slow_down(self, rules: RobotsRules, limiter: TokenBucket) -> None:
        """Honour a robots.txt Crawl-delay longer than our own pace."""
        delay = rules.crawl_delay(self._cfg.robots.user_agent_token)
        qps = self._cfg.per_host_qps
        if delay and delay > 0 and (qps <= 0 or delay > 1 / qps):
            limiter.set_rate(1 / min(delay, self._cfg.robots.max_crawl_delay_s))

    def _crawl_one(
        self, url: str, rules: RobotsRules, limiter: TokenBucket, shard: CrawlShard
    ) -> Iterator[object]:
        """Fetch, check and store one page; every outcome lands in the ledger."""
        token = self._cfg.robots.user_agent_token
        if not rules.allows(url, token) or rules.deny_all:
            reason = "robots_unavailable" if rules.deny_all else "robots_disallowed"
            shard.ledger(url, reason)
            yield self._pages.reject(reason, url, robots_url(url))
            return
        limiter.acquire()
        fetched_at = datetime.datetime.now(datetime.timezone.utc)
        try:
            result = self._fetcher.fetch(url)
        except FetchError as err:
            shard.ledger(url, _ledger_outcome(err))
            yield self._pages.reject(err.reason, url, err.detail)
            return
        reason, detail = self._page_problem(result)
        if reason:
            shard.ledger(url, reason)
            yield self._pages.reject(reason, url, detail)
            return
        shard.write(self._exchange(result, fetched_at))
        if self._cfg.include_images:
            yield from self._store_images(result, limiter, shard)
        shard.ledger(url, OK)
        self._pages.passed()
        yield result.final_url

    def _page_problem(self, result: FetchResult) -> tuple[str, str]:
        """("not_html"/"opt_out", detail) when the page must not be kept; ("", "") otherwise."""
        if result.content_type not in PAGE_TYPES:
            return "not_html", f"{result.content_type} at {result.final_url}"
        robots = self._cfg.robots
        where = page_opt_out(
            result.headers, result.data, robots.user_agent_token, robots.opt_out_directives
        )
        if where:
            return "opt_out", f"{where} at {result.final_url}"
        return "", ""

    def _exchange(self, result: FetchResult, fetched_at: datetime.datetime) -> Exchange:
        request = {
            "User-Agent": self._cfg.fetch.user_agent,
            "Accept": self._cfg.fetch.accept,
            "Host": host_key(result.final_url),
        }
        return Exchange(
            result.final_url, result.data, result.headers, request, 200, "OK", fetched_at
        )

    def _store_images(
        self, page: FetchResult, limiter: TokenBucket, shard: CrawlShard
    ) -> Iterator[object]:
        """Fetch the page's images (same pace, same robots rules per host) into the shard."""
        try:
            nodes = extract_nodes(page.data, page.final_url)
        except ExtractionError:
            return  # no document: m3w will reject the page itself, with its reason
        srcs = list(dict.fromkeys(n.src for n in nodes if isinstance(n, ImageNode)))
        for src in srcs[: self._cfg.max_images_per_page]:
            self._images.received()
            rules = self._rules(src, limiter)
            if isinstance(rules, FetchError) or not rules.allows(
                src, self._cfg.robots.user_agent_token
            ):
                yield self._images.reject("robots_disallowed", src, page.final_url)
                continue
            limiter.acquire()
            try:
                image = self._fetcher.fetch(src, expect="image")
            except FetchError as err:
                yield self._images.reject(err.reason, src, err.detail)
                continue
            shard.write(self._exchange(image, datetime.datetime.now(datetime.timezone.utc)))
            self._images.passed()


def _ledger_outcome(err: FetchError) -> str:
    """The ledger's word for a failure; HTTP statuses keep their code (4xx final, 5xx not)."""
    return f"http_status_{_status_of(err)}" if err.reason == "http_status" else err.reason


def _status_of(err: FetchError) -> int:
    """The HTTP status of an http_status FetchError (its detail starts with it)."""
    head = err.detail.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


def build_scrape(
    pipeline: beam.Pipeline,
    plan: list[str | Rejection],
    cfg: ScrapeConfig,
    output_dir: str,
    run_id: str,
    crawl: CrawlHost | None = None,
) -> dict[str, beam.PCollection]:
    """The crawl graph: planned URLs → host groups → WARC shards; returns pages and rejections."""
    read = (
        pipeline
        | "Plan" >> beam.Create(plan, reshuffle=False)
        | "CountRead" >> beam.ParDo(CountRead()).with_outputs(REJECTED, main="urls")
    )
    crawled = (
        read.urls
        | "KeyByHost" >> beam.Map(lambda u: (host_key(u), u))
        | "GroupByHost" >> beam.GroupByKey()
        | "CrawlHost"
        >> beam.ParDo(crawl or CrawlHost(cfg, output_dir, run_id)).with_outputs(
            REJECTED, main="pages"
        )
    )
    rejections = (read[REJECTED], crawled[REJECTED]) | "AllRejections" >> beam.Flatten()
    return {"pages": crawled.pages, "rejections": rejections}


SCRAPE_EXAMPLES = """examples:
  curate scrape --urls urls.txt --output crawl/
  curate scrape --urls sitemap.xml --urls more.csv --url-column link --output crawl/ \\
      --per-host-qps 0.5 --max-pages-per-host 200 --include-images
  curate m3w --input 'crawl/*.warc.gz' --output out/ --tokenizer ./tok

Outputs: CRAWL/<host>-<run>.warc.gz (request + response records), CRAWL/ledger-*.txt
(what is done: a re-run with the same --output resumes), CRAWL/rejections-<run>-*.parquet
and CRAWL/summary.json. Unknown --options are passed to Apache Beam."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `curate scrape`."""
    p = sub.add_parser(
        "scrape",
        help="URL lists → WARC shards (polite, restartable crawl)",
        description="Fetch the pages of URL lists (txt, CSV/TSV/Parquet column, sitemap.xml) "
        "politely (robots.txt, per-host rate limit, opt-outs) into WARC files.",
        epilog=SCRAPE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--urls",
        action="append",
        required=True,
        metavar="PATTERN",
        help="URL list file or glob (.txt, .csv, .tsv, .parquet, .xml[.gz]); repeatable",
    )
    p.add_argument("--url-column", default="url", help="column of CSV/Parquet lists (default url)")
    p.add_argument("--output", required=True, help="crawl directory (re-use it to resume)")
    p.add_argument("--user-agent", default=FetchConfig.user_agent)
    p.add_argument(
        "--robots-token",
        default=RobotsConfig.user_agent_token,
        help="product token matched against robots.txt groups and opt-out scopes",
    )
    p.add_argument(
        "--per-host-qps",
        type=float,
        default=ScrapeConfig.per_host_qps,
        help="requests per second per host (0: no limit; default %(default)s)",
    )
    p.add_argument("--max-pages-per-host", type=int, default=ScrapeConfig.max_pages_per_host)
    p.add_argument("--include-images", action="store_true", help="also store page images")
    p.add_argument(
        "--timeout",
        type=float,
        default=FetchConfig.read_timeout_s,
        help="seconds without data before a fetch fails (default %(default)s)",
    )
    p.add_argument("--max-page-bytes", type=int, default=FetchConfig.max_bytes)
    add_network_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress logging")
    p.set_defaults(func=run_scrape)


def scrape_config(args: argparse.Namespace) -> ScrapeConfig:
    base = ScrapeConfig()
    fetch = replace(
        base.fetch,
        user_agent=args.user_agent,
        user_agent_token=args.robots_token,
        read_timeout_s=args.timeout,
        max_bytes=args.max_page_bytes,
        allow_networks=args.allow_network,
        opt_out_directives=base.robots.opt_out_directives,
    )
    return replace(
        base,
        per_host_qps=args.per_host_qps,
        max_pages_per_host=args.max_pages_per_host,
        include_images=args.include_images,
        fetch=fetch,
        robots=replace(base.robots, user_agent_token=args.robots_token),
    )


SCRAPE_BALANCE = Balance("urls", (("read", "in"),), ("scrape", "out"), ("read", "scrape"))


def run_scrape(args: argparse.Namespace, beam_args: list[str]) -> int:
    """`curate scrape`: plan against the ledgers, crawl, write rejections and summary.json."""
    cfg = scrape_config(args)
    raw = read_url_lists(args.urls, args.url_column, cfg)
    # No prepare_output: re-using the folder is how a crawl resumes (the ledgers say what is done).
    if not FileSystems.exists(args.output):
        FileSystems.mkdirs(args.output)
    plan = plan_urls(raw, read_ledgers(args.output))
    run_id = new_run_id()
    todo = sum(isinstance(p, str) for p in plan)
    log.info("%d URL line(s), %d to fetch → %s", len(raw), todo, args.output)
    name = f"rejections-{run_id}"

    def build(pipeline: beam.Pipeline) -> None:
        out = build_scrape(pipeline, plan, cfg, args.output, run_id)
        _ = out["rejections"] | "WriteRejections" >> WriteRecords(
            args.output, name, REJECTION_SCHEMA, rejection_to_row
        )

    def summarize(counters: dict[str, dict[str, int]]) -> dict[str, Any]:
        outputs = describe_outputs(args.output, (name,))
        return {**build_summary(counters, STAGES, outputs, SCRAPE_BALANCE), "run_id": run_id}

    return run_job(build, beam_args, summarize, args.output, args.urls)
