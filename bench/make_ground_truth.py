"""Turn third-party extraction test sets into a bench folder: `<stem>.html` + `ground-truth.json`.

Usage: python bench/make_ground_truth.py SRC OUT

SRC may be (or contain) either of two layouts, detected per file:
- mozilla/readability `test/test-pages`: one folder per page holding `source.html` and
  `expected.html` (the main content as HTML); the ground truth is the text of `expected.html`.
- goose3 `tests/data`: `X.html` beside `X.json` whose `expected.cleaned_text` is the ground
  truth. goose3 stores only a *prefix* of the article text (often 100 characters), so those
  entries carry `"prefix": true` and bench/extract.py scores them by recall (precision
  against a prefix is meaningless).

The output entry is `{"<stem>": {"articleBody": str, "url": str, "prefix": bool}}`; the
bench only needs `articleBody`, `url` makes relative image URLs resolvable.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import lxml.html

# mozilla/readability's test harness loads every page at this URL.
READABILITY_URL = "http://fakehost/test/page.html"


def html_text(path: Path) -> str:
    """The visible text of an HTML file, one space between text pieces."""
    # expected.html files are UTF-8 without a <meta charset>; lxml would guess latin-1.
    root = lxml.html.fromstring(path.read_bytes().decode("utf-8", errors="replace"))
    return " ".join(" ".join(root.itertext()).split())


def readability_entries(src: Path) -> dict[str, tuple[Path, dict]]:
    """Map stem -> (source.html, entry) for each readability test folder under src."""
    out = {}
    for expected in sorted(src.rglob("expected.html")):
        source = expected.with_name("source.html")
        if source.exists():
            entry = {"articleBody": html_text(expected), "url": READABILITY_URL, "prefix": False}
            out[expected.parent.name] = (source, entry)
    return out


def goose_entries(src: Path) -> dict[str, tuple[Path, dict]]:
    """Map stem -> (X.html, entry) for each goose3 X.json that has `cleaned_text`."""
    out = {}
    for meta in sorted(src.rglob("*.json")):
        page = meta.with_suffix(".html")
        if not page.exists():
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        text = (data.get("expected") or {}).get("cleaned_text")
        if not text:
            continue
        # goose3 reuses file names across its test folders, so the folder joins the stem.
        stem = f"{meta.parent.name}__{meta.stem}"
        entry = {"articleBody": text, "url": data.get("url") or "", "prefix": True}
        out[stem] = (page, entry)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    entries = {**readability_entries(args.src), **goose_entries(args.src)}
    if not entries:
        print(f"no readability or goose3 test pages under {args.src}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    truth = {}
    for stem, (page, entry) in entries.items():
        shutil.copyfile(page, args.out / f"{stem}.html")
        truth[stem] = entry
    with open(args.out / "ground-truth.json", "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1, sort_keys=True)
    print(f"wrote {len(truth)} pages and ground-truth.json to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
