"""`curate scrape` throughput against local servers, per-host limits off: 1 vs 2 workers.

    python bench/scrape.py [--hosts 4] [--pages 50] [--delay-ms 5]

Starts --hosts LocalHttpServers on 127.0.0.1 (each port is its own host, so the crawl
has --hosts host groups), each serving --pages generated pages that answer after
--delay-ms (a stand-in for network latency; 0 measures our overhead alone). Times:

  fetch loop    HttpFetcher.fetch over every URL in this process (no Beam, no WARC)
  beam 1 / 2    the whole `curate scrape` job (robots.txt, WARC shards, ledgers,
                rejections, summary) on the DirectRunner in_memory (1 worker) and
                multi_processing with 2 workers (start-up included)

and prints pages/s and the ratio to the fetch loop. Host groups are the unit of
parallelism: one host is always crawled by one worker, so 2 workers help only with
>= 2 hosts. Speed is wall time on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.fetch import FetchConfig, HttpFetcher
from pipelines.scrape import add_parser
from tests.fixtures.http_server import LocalHttpServer, Reply
from tests.fixtures.scrape_site import HTML, site_page


def serve(server: LocalHttpServer, pages: int, delay_s: float) -> list[str]:
    server.route("/robots.txt", Reply(status=404))
    for i in range(pages):
        server.route(f"/p/{i}.html", Reply(body=site_page(i, 0), headers=HTML, delay_s=delay_s))
    return [server.url(f"/p/{i}.html") for i in range(pages)]


def fetch_loop(urls: list[str]) -> float:
    start = time.perf_counter()
    with HttpFetcher(FetchConfig(allow_networks=("127.0.0.1/32",))) as fetcher:
        for url in urls:
            fetcher.fetch(url)
    return time.perf_counter() - start


def beam_run(urls: list[str], workers: int, tmp: Path) -> float:
    listing = tmp / f"urls-{workers}.txt"
    listing.write_text("\n".join(urls))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    argv = ["scrape", "--urls", str(listing), "--output", str(tmp / f"crawl-{workers}")]
    argv += ["--per-host-qps", "0", "--allow-network", "127.0.0.1/32", "--quiet"]
    if workers > 1:
        argv += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    args, rest = parser.parse_known_args(argv)
    start = time.perf_counter()
    with contextlib.redirect_stdout(None):
        assert args.func(args, rest) == 0
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--delay-ms", type=float, default=5.0)
    a = ap.parse_args()
    servers = [LocalHttpServer().start() for _ in range(a.hosts)]
    try:
        urls = [u for s in servers for u in serve(s, a.pages, a.delay_ms / 1000)]
        with tempfile.TemporaryDirectory() as tmp:
            rows = [("fetch loop", 1, fetch_loop(urls))]
            rows += [(f"beam {w}", w, beam_run(urls, w, Path(tmp))) for w in (1, 2)]
    finally:
        for s in servers:
            s.stop()
    base = len(urls) / rows[0][2]
    print(f"{a.hosts} hosts x {a.pages} pages, {a.delay_ms} ms server delay, limits off")
    print(f"{'mode':<14}{'workers':>8}{'seconds':>10}{'pages/s':>10}{'vs loop':>9}")
    for name, workers, secs in rows:
        rate = len(urls) / secs
        print(f"{name:<14}{workers:>8}{secs:>10.2f}{rate:>10.1f}{rate / base:>9.2f}")


if __name__ == "__main__":
    main()
