"""`curate scrape` against a generated site on a local server: politeness, failures, resume, m3w."""

from __future__ import annotations

import argparse
import glob
import itertools
import json
from pathlib import Path

import pytest

from curation.fetch import FetchConfig, FetchError
from curation.warc import iter_warc
from pipelines.cli import main
from pipelines.counting import REJECTED
from pipelines.jobs import CliError
from pipelines.scrape import CrawlHost, ScrapeConfig, add_parser
from pipelines.scrape_files import plan_urls, read_url_lists
from schemas import M3W_SCHEMA, REJECTION_SCHEMA, RawPage, Rejection, WarcImage, read_table
from tests.fixtures.http_server import LocalHttpServer, Reply, redirect
from tests.fixtures.images import jpeg_bytes
from tests.fixtures.scrape_site import HTML, ROBOTS, serve_site, site_page
from tests.fixtures.tokenizer import tokenizer_dir  # noqa: F401  (pytest fixture)
from tests.pipelines.beam_helpers import write_warc


class FakeClock:
    """Time that moves only when the crawler sleeps on it."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scrape(urls: list[str] | str, tmp: Path, out: Path, *extra: str) -> int:
    """Run `curate scrape` through its own parser (the lead wires it into pipelines.cli)."""
    listing = urls if isinstance(urls, str) else _write_list(tmp, urls)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    argv = ["scrape", "--urls", listing, "--output", str(out), "--allow-network", "127.0.0.1/32"]
    args, rest = parser.parse_known_args([*argv, "--quiet", *extra])
    return args.func(args, rest)


def _write_list(tmp: Path, urls: list[str]) -> str:
    path = tmp / f"urls-{len(list(tmp.glob('urls-*')))}.txt"
    path.write_text("\n".join(urls) + "\n")
    return str(path)


def warc_items(out: Path) -> list[RawPage | WarcImage]:
    items = []
    for path in sorted(glob.glob(str(out / "*.warc.gz"))):
        items += [r for r in iter_warc(path) if isinstance(r, (RawPage, WarcImage))]
    return items


def rejections(out: Path) -> dict[str, str]:
    rows = []
    for path in glob.glob(str(out / "rejections-*.parquet")):
        rows += read_table(path, REJECTION_SCHEMA).to_pylist()
    return {r["key"]: r["reason"] for r in rows}


def test_every_failure_kind_is_a_rejection_and_only_good_pages_are_stored(tmp_path):
    with LocalHttpServer() as server:
        good = serve_site(server, n_pages=2, images=0)
        # noindex on robots.txt itself (sites do this) says nothing about the pages.
        robots = {"Content-Type": "text/plain", "X-Robots-Tag": "noindex"}
        server.route("/robots.txt", Reply(body=ROBOTS, headers=robots))
        pdf = {"Content-Type": "application/pdf"}
        routes = {
            "/private/secret.html": (Reply(body=site_page(9), headers=HTML), "robots_disallowed"),
            "/doc.pdf": (Reply(body=b"%PDF-1.4 stuff", headers=pdf), "not_html"),
            "/meta-noai.html": (
                Reply(
                    body=b'<html><head><meta name="robots" content="noai"></head></html>',
                    headers=HTML,
                ),
                "opt_out",
            ),
            "/header-noindex.html": (
                Reply(body=site_page(7), headers={**HTML, "X-Robots-Tag": "noindex"}),
                "opt_out",
            ),
            "/missing.html": (Reply(status=404), "http_status"),
            "/to-private": (redirect("http://10.0.0.1/x.html"), "blocked_address"),
            "/slow.html": (Reply(body=site_page(8), headers=HTML, delay_s=3.0), "read_timeout"),
            "/huge.html": (Reply(headers=HTML, body_size=2_000_000), "too_large"),
        }
        for path, (reply, _reason) in routes.items():
            server.route(path, reply)
        server.route("/moved", redirect("/page/1.html", 301))
        bad = {server.url(p): reason for p, (_r, reason) in routes.items()}
        urls = [*good, *bad, server.url("/moved"), "ftp://nope/", good[0]]
        out = tmp_path / "crawl"
        assert (
            scrape(
                urls,
                tmp_path,
                out,
                "--per-host-qps",
                "0",
                "--timeout",
                "0.3",
                "--max-page-bytes",
                "500000",
            )
            == 0
        )
        assert server.hits("/private/secret.html") == 0  # robots.txt obeyed, not just filtered
        assert server.hits("/robots.txt") == 1
        assert server.sent(len(server.requests))  # let the slow handler finish before stopping
    got = rejections(out)
    for url, reason in bad.items():
        assert got[url] == reason, url
    assert got["ftp://nope/"] == "invalid_url" and got[good[0]] == "duplicate_url"
    pages = [i for i in warc_items(out) if isinstance(i, RawPage)]
    # /moved is stored under the URL it redirected to, beside the direct fetch of that page.
    assert sorted(p.url for p in pages) == sorted([good[0], good[1], good[1]])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["urls"] == {
        "in": len(urls),
        "kept": 3,
        "rejected": len(urls) - 3,
        "balanced": True,
    }


def test_per_host_rate_limit_seen_in_the_server_log(tmp_path):
    """Real pacing at 20 req/s (0.25 s of sleeping in all), measured by the server."""
    with LocalHttpServer() as server:
        urls = serve_site(server, n_pages=5, images=0)
        sitemap = tmp_path / "sitemap.xml"
        locs = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
        sitemap.write_text(
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'
        )
        assert scrape(str(sitemap), tmp_path, tmp_path / "crawl", "--per-host-qps", "20") == 0
        times = sorted(r.time for r in server.requests)
    assert len(times) == 6  # robots.txt + 5 pages
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.05 * 0.8  # 1/20 s, less the jitter between send and arrival


def test_rate_limit_and_crawl_delay_on_a_fake_clock(tmp_path):
    """The DoFn run directly with an injected clock: pacing is asserted without sleeping."""
    with LocalHttpServer() as server:
        urls = serve_site(server, n_pages=4, images=0)
        server.route("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 5\n"))
        cfg = ScrapeConfig(per_host_qps=1.0, fetch=FetchConfig(allow_networks=("127.0.0.1/32",)))
        clock = FakeClock()
        fn = CrawlHost(cfg, str(tmp_path), "run1", clock=clock, sleep=clock.sleep)
        fn.setup()
        try:
            out = list(fn.process((urls[0].split("/")[2], urls)))
        finally:
            fn.teardown()
    assert sorted(out) == sorted(urls)
    # robots.txt goes first at 1/s; then Crawl-delay: 5 s between each of the 4 pages.
    assert clock.sleeps == pytest.approx([5.0, 5.0, 5.0, 5.0])


def test_interrupted_crawl_resumes_without_duplicates(tmp_path):
    with LocalHttpServer() as server:
        urls = serve_site(server, n_pages=6, images=0)
        out = tmp_path / "crawl"
        # The first run stops half way: its ledger and WARC hold the first three pages.
        assert scrape(urls[:3], tmp_path, out, "--per-host-qps", "0") == 0
        assert len(glob.glob(str(out / "ledger-*.txt"))) == 1
        assert scrape(urls, tmp_path, out, "--per-host-qps", "0") == 0
        assert scrape(urls, tmp_path, out, "--per-host-qps", "0") == 0  # nothing left to do
        hits = [server.hits(f"/page/{i}.html") for i in range(6)]
    assert hits == [1] * 6
    stored = [i.url for i in warc_items(out)]
    assert sorted(stored) == sorted(urls)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stages"]["read"]["rejected"] == {"already_done": 6}


def test_plan_retries_transient_failures_only():
    done = {
        "http://a/1": "ok",
        "http://a/2": "read_timeout",
        "http://a/3": "robots_disallowed",
        "http://a/4": "http_status_404",
        "http://a/5": "http_status_503",
        "http://a/6": "http_status_429",
    }
    plan = plan_urls([*done, "http://a/7"], done)
    retried = ["http://a/2", "http://a/5", "http://a/6", "http://a/7"]
    assert [p for p in plan if isinstance(p, str)] == retried
    assert {p.key: p.reason for p in plan if isinstance(p, Rejection)} == {
        "http://a/1": "already_done",
        "http://a/3": "already_done",
        "http://a/4": "already_done",
    }


class DnsFailingFetcher:
    """Stands in for HttpFetcher on a host whose name does not resolve (no real DNS in tests)."""

    def fetch(self, url: str, expect: str | None = None) -> None:
        raise FetchError("dns_failure", f"{url}: Name or service not known")

    def close(self) -> None:
        pass


def test_unresolvable_host_rejects_its_urls_as_dns_and_leaves_them_to_retry(tmp_path):
    fn = CrawlHost(ScrapeConfig(per_host_qps=0), str(tmp_path), "run1")
    fn.setup()
    fn._fetcher = fn._robots_fetcher = DnsFailingFetcher()
    urls = ["http://gone.test/a", "http://gone.test/b"]
    out = list(fn.process(("gone.test", urls)))
    assert [(o.tag, o.value.reason, o.value.key) for o in out] == [
        (REJECTED, "dns_failure", u) for u in urls
    ]
    assert not list(tmp_path.iterdir())  # no ledger: a later run tries the host again


def test_urls_that_match_no_file_are_a_user_error(tmp_path):
    with pytest.raises(CliError, match="matches no file"):
        scrape(str(tmp_path / "none-*.txt"), tmp_path, tmp_path / "crawl")


def _samples(out: Path) -> list[tuple[str, str, list[str]]]:
    rows = []
    for path in glob.glob(str(out / "samples-*.parquet")):
        rows += read_table(path, M3W_SCHEMA).to_pylist()
    return sorted((r["url"], r["text"], [i["sha256"] for i in r["images"]]) for r in rows)


def test_m3w_on_the_crawl_matches_curating_the_site_directly(tmp_path, tokenizer_dir):  # noqa: F811
    m3w = [
        "m3w",
        "--tokenizer",
        str(tokenizer_dir),
        "--no-dedup",
        "--quiet",
        "--chunk-mode",
        "tile",
    ]
    with LocalHttpServer() as server:
        urls = serve_site(server, n_pages=3, images=1)
        opted_out = {"Content-Type": "image/jpeg", "X-Robots-Tag": "noimageai"}
        server.route("/img/2-0.jpg", Reply(body=jpeg_bytes(320, 240, seed=9), headers=opted_out))
        crawl = tmp_path / "crawl"
        assert scrape(urls, tmp_path, crawl, "--per-host-qps", "0", "--include-images") == 0
        images = [i for i in warc_items(crawl) if isinstance(i, WarcImage)]
        assert sorted(i.url for i in images) == [
            server.url("/img/0-0.jpg"),
            server.url("/img/1-0.jpg"),
        ]
        assert rejections(crawl) == {server.url("/img/2-0.jpg"): "opt_out"}
        scraped = tmp_path / "scraped"
        assert (
            main([*m3w, "--input", str(crawl / "*.warc.gz"), "--output", str(scraped), "--no-http"])
            == 0
        )
        # Directly: the same pages in a hand-made WARC, images fetched from the server by m3w.
        direct_in = tmp_path / "direct.warc.gz"
        records = [("response", u, site_page(i, 1), HTML, 200) for i, u in enumerate(urls)]
        direct_in.write_bytes(write_warc(records))
        direct = tmp_path / "direct"
        assert (
            main(
                [
                    *m3w,
                    "--input",
                    str(direct_in),
                    "--output",
                    str(direct),
                    "--allow-network",
                    "127.0.0.1/32",
                ]
            )
            == 0
        )
    got, want = _samples(scraped), _samples(direct)
    assert got and got == want
    # The two stored images reached the samples; the opted-out one is in neither.
    assert len({sha for _u, _t, shas in got for sha in shas}) == 2


def test_robots_txt_server_error_holds_the_whole_host(tmp_path):
    """RFC 9309: an unreachable (5xx) robots.txt means "disallow all" — nothing is fetched."""
    with LocalHttpServer() as server:
        urls = serve_site(server, n_pages=2, images=0)
        server.route("/robots.txt", Reply(status=503))
        fetch = FetchConfig(allow_networks=("127.0.0.1/32",), retries=0)
        fn = CrawlHost(ScrapeConfig(per_host_qps=0, fetch=fetch), str(tmp_path), "run1")
        fn.setup()
        try:
            out = list(fn.process((urls[0].split("/")[2], urls)))
        finally:
            fn.teardown()
        assert server.hits("/page/0.html") == server.hits("/page/1.html") == 0
    assert [o.value.reason for o in out] == ["robots_unavailable"] * 2
    ledger = next(tmp_path.glob("ledger-*.txt")).read_text()
    assert ledger.count("robots_unavailable") == 2  # transient: a later run asks again


def test_url_lists_from_csv_and_a_sitemap_index_with_local_children(tmp_path):
    child = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{}</loc></url></urlset>'
    (tmp_path / "part-1.xml").write_text(child.format("http://a.test/1"))
    (tmp_path / "part-2.xml").write_text(child.format("http://a.test/2"))
    (tmp_path / "sitemap.xml").write_text(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>http://a.test/part-1.xml</loc></sitemap>"
        "<sitemap><loc>http://a.test/part-2.xml</loc></sitemap></sitemapindex>"
    )
    (tmp_path / "list.csv").write_text("id,link\n1,http://b.test/x\n")
    patterns = [str(tmp_path / "sitemap.xml"), str(tmp_path / "*.csv")]
    assert read_url_lists(patterns, "link", ScrapeConfig()) == [
        "http://a.test/1",
        "http://a.test/2",
        "http://b.test/x",
    ]
    with pytest.raises(CliError, match="missing_column"):
        read_url_lists([str(tmp_path / "list.csv")], "url", ScrapeConfig())


def test_m3w_urls_scrapes_then_curates_in_one_command(tmp_path, tokenizer_dir):  # noqa: F811
    with LocalHttpServer() as server:
        urls = serve_site(server, n_pages=3, images=1)
        listing = tmp_path / "urls.txt"
        listing.write_text("\n".join(urls) + "\n")
        out = tmp_path / "out"
        argv = [
            "m3w",
            "--urls",
            str(listing),
            "--output",
            str(out),
            "--tokenizer",
            str(tokenizer_dir),
            "--allow-network",
            "127.0.0.1/32",
            "--no-dedup",
            "--quiet",
            "--chunk-mode",
            "tile",
        ]
        assert main(argv) == 0
        page_hits = sum(server.hits(u.removeprefix(server.url(""))) for u in urls)
        # Re-running resumes the crawl (nothing refetched) and curates the same samples.
        assert main([*argv, "--overwrite"]) == 0
        assert sum(server.hits(u.removeprefix(server.url(""))) for u in urls) == page_hits
    samples = _samples(out)
    assert {u for u, _t, _s in samples} == set(urls)
    # Each page's image came from the crawl's WARC (one image per page, in one chunk).
    assert sorted(u for u, _t, shas in samples if shas) == sorted(urls)
    assert glob.glob(str(out / "crawl" / "*.warc.gz"))
    assert main(["m3w", "--output", str(out), "--tokenizer", str(tokenizer_dir)]) == 2
