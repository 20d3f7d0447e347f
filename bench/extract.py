"""HTML → document throughput and quality: interleaf vs trafilatura on the same pages.

Usage: python bench/extract.py --corpus DIR [--limit N] [--repeat N] [--per-page] [--skip-bs4]

Reads every `*.html` / `*.htm` / `*.html.gz` under DIR (recursive) into memory, then for
each page runs interleaf's `page_to_document` (charset decoding included) and
`trafilatura.extract` (default settings, comments excluded, and its `fast` mode) back to
back on the same bytes. Speed is pages per CPU-second of this one process (= per core);
with --repeat N each page's time is the least of N runs (it damps other processes' noise,
but also lets trafilatura's internal caches warm up on the page, so the default is 1).
With DIR/ground-truth.json (`{"<stem>": {"articleBody": str, "prefix"?: bool}}`, see
bench/make_ground_truth.py) it scores bag-of-words F1 of the extracted text; entries with
`"prefix": true` hold only the start of the article, so they are scored by recall.
Also times bare parsing, lxml vs BeautifulSoup(lxml), to show where bs4 would stand.
trafilatura is a bench-only dependency: pip install 'trafilatura>=1.12'.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.html import ExtractionError, page_to_document
from schemas.records import RawPage

_WORD = re.compile(r"\w+")


@dataclass
class Page:
    stem: str
    url: str
    content: bytes
    truth: str | None = None
    prefix: bool = False


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    empty: int = 0
    f1: dict[str, float] = field(default_factory=dict)
    recall: dict[str, float] = field(default_factory=dict)


def load_pages(corpus: Path, limit: int | None) -> list[Page]:
    """Every HTML file under corpus with its ground truth, sorted by path."""
    truth_path = corpus / "ground-truth.json"
    truth = json.loads(truth_path.read_text(encoding="utf-8")) if truth_path.exists() else {}
    files = sorted(
        p for p in corpus.rglob("*") if p.is_file() and p.name.endswith((".html", ".htm", ".gz"))
    )
    pages = []
    for path in files:
        if path.name.endswith(".gz") and not path.name.endswith((".html.gz", ".htm.gz")):
            continue
        stem = re.sub(r"\.html?(\.gz)?$", "", path.name)
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        entry = truth.get(stem) or {}
        url = entry.get("url") or f"http://localhost/{stem}.html"
        pages.append(Page(stem, url, data, entry.get("articleBody"), bool(entry.get("prefix"))))
    return pages[:limit] if limit else pages


def bag_scores(extracted: str, truth: str) -> tuple[float, float]:
    """(F1, recall) of the bag of lowercased words of extracted vs truth."""
    got, want = Counter(_WORD.findall(extracted.lower())), Counter(_WORD.findall(truth.lower()))
    common = sum((got & want).values())
    if not got or not want or not common:
        return 0.0, 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall), recall


def ours(page: Page) -> str:
    """interleaf's text of a page ("" when it is rejected)."""
    try:
        return page_to_document(RawPage(url=page.url, content=page.content)).text
    except ExtractionError:
        return ""


def make_trafilatura(fast: bool) -> Callable[[Page], str]:
    """trafilatura.extract on raw bytes; comments excluded, as interleaf drops them too."""
    import trafilatura  # bench-only dependency

    def run(page: Page) -> str:
        return (
            trafilatura.extract(page.content, url=page.url, include_comments=False, fast=fast) or ""
        )

    return run


def run_all(
    pages: list[Page], extractors: dict[str, Callable[[Page], str]], repeat: int = 1
) -> list[Result]:
    """Run every extractor on each page in turn (interleaved, so load drifts hit all alike);
    a page's time is the least of `repeat` runs, which filters out other processes' noise."""
    results = {name: Result(name) for name in extractors}
    for fn in extractors.values():  # warm-up: imports, lazy tables
        fn(pages[0])
    for page in pages:
        for name, fn in extractors.items():
            best = float("inf")
            for _ in range(repeat):
                t0 = time.process_time()
                text = fn(page)
                best = min(best, time.process_time() - t0)
            results[name].seconds += best
            results[name].empty += not text.strip()
            if page.truth is not None:
                f1, recall = bag_scores(text, page.truth)
                (results[name].recall if page.prefix else results[name].f1)[page.stem] = (
                    recall if page.prefix else f1
                )
    return list(results.values())


def time_parsers(pages: list[Page]) -> dict[str, float]:
    """Pages per CPU-second of bare tree building: lxml vs BeautifulSoup with lxml."""
    from bs4 import BeautifulSoup
    from lxml import etree

    parser = etree.HTMLParser(remove_comments=True, encoding="utf-8")
    texts = [p.content.decode("utf-8", "replace") for p in pages]
    out = {}
    for name, fn in (
        ("lxml parse", lambda t: etree.fromstring(t.encode(), parser)),
        ("bs4(lxml) parse", lambda t: BeautifulSoup(t, "lxml")),
    ):
        t0 = time.process_time()
        for t in texts:
            fn(t)
        out[name] = len(texts) / max(time.process_time() - t0, 1e-9)
    return out


def mean(xs: dict[str, float]) -> str:
    """The mean of the scores, formatted ("-" when there are none)."""
    return f"{sum(xs.values()) / len(xs):.3f}" if xs else "-"


def print_report(pages: list[Page], results: list[Result], parsers: dict[str, float]) -> None:
    n = len(pages)
    n_f1 = sum(p.truth is not None and not p.prefix for p in pages)
    n_rec = sum(p.truth is not None and p.prefix for p in pages)
    print(f"\n{n} pages, {sum(len(p.content) for p in pages) / n / 1024:.0f} KiB mean")
    print(f"{'extractor':<18}{'pages/s/core':>13}{'ms/page':>9}{'F1':>7}{'recall*':>9}{'empty':>7}")
    for r in results:
        rate = n / max(r.seconds, 1e-9)
        print(
            f"{r.name:<18}{rate:>13.1f}{1000 * r.seconds / n:>9.2f}"
            f"{mean(r.f1):>7}{mean(r.recall):>9}{r.empty:>7}"
        )
    for name, rate in parsers.items():
        print(f"{name:<18}{rate:>13.1f}{1000 / rate:>9.2f}")
    print(f"F1 over {n_f1} pages with full ground truth; recall* over {n_rec} prefix-only pages")
    base = results[0]
    for other in results[1:]:
        speed = other.seconds / max(base.seconds, 1e-9)
        line = f"{base.name} / {other.name}: speed x{speed:.2f}"
        if base.f1:
            line += f", F1 {mean(base.f1)} vs {mean(other.f1)}"
        if base.recall:
            line += f", recall* {mean(base.recall)} vs {mean(other.recall)}"
        print(line)


def print_per_page(results: list[Result]) -> None:
    """Per-page F1/recall side by side, worst for the first extractor first."""
    base = results[0]
    scores = {**base.f1, **base.recall}
    for stem in sorted(scores, key=scores.__getitem__):
        row = "  ".join(f"{r.name}={({**r.f1, **r.recall}).get(stem, 0):.3f}" for r in results)
        print(f"{stem:<48}{row}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=1, help="time each page N times, keep min")
    ap.add_argument("--per-page", action="store_true", help="print each page's scores")
    ap.add_argument("--skip-bs4", action="store_true", help="do not time bs4 tree building")
    ap.add_argument("--no-trafilatura", action="store_true", help="time interleaf alone")
    args = ap.parse_args(argv)
    pages = load_pages(args.corpus, args.limit)
    if not pages:
        print(f"no *.html / *.html.gz under {args.corpus}", file=sys.stderr)
        return 1
    extractors: dict[str, Callable[[Page], str]] = {"interleaf": ours}
    if not args.no_trafilatura:
        extractors["trafilatura"] = make_trafilatura(fast=False)
        extractors["trafilatura fast"] = make_trafilatura(fast=True)
    results = run_all(pages, extractors, args.repeat)
    parsers = {} if args.skip_bs4 else time_parsers(pages)
    if args.per_page:
        print_per_page(results)
    print_report(pages, results, parsers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
