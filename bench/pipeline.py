"""Documents/s of `curate m3w` end to end on the DirectRunner: 1 worker vs 2 workers.

    python bench/pipeline.py [--copies 8] [--input 'crawl/*.warc.gz' --tokenizer DIR]

Without --input it writes --copies sample crawls with different seeds (different prose,
so deduplication keeps them all); both runs read the same files.
The baseline is the in-process run (one worker); the ratio is the 2-worker speed-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _make_inputs(work: Path, copies: int) -> tuple[str, str, str]:
    from curation.sample_crawl import make_sample_crawl, sample_texts
    from curation.tokenizer import train_bpe_tokenizer

    crawl = work / "crawl"
    for seed in range(copies):
        make_sample_crawl(crawl / f"seed{seed:03d}", seed=seed)
    tok = train_bpe_tokenizer(sample_texts(), work / "tokenizer")
    return str(crawl / "seed*" / "sample.warc.gz"), str(tok), ""


def _run(pattern: str, tok: str, mirror: str | None, out: Path, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "m3w",
        "--input",
        pattern,
        "--output",
        str(out),
        "--tokenizer",
        tok,
        "--no-http",
        "--quiet",
        *extra,
    ]
    if mirror:
        cmd += ["--mirror-dir", mirror]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    return {
        "wall_s": wall,
        "docs": summary["documents"]["in"],
        "samples": summary["outputs"]["samples"]["rows"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=8, help="copies of the sample crawl")
    ap.add_argument("--input", help="WARC pattern to use instead of the sample")
    ap.add_argument("--tokenizer", help="tokenizer for --input")
    ap.add_argument("--mirror-dir")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.input:
            pattern, tok, mirror = args.input, args.tokenizer, args.mirror_dir
        else:
            pattern, tok, mirror = _make_inputs(work, args.copies)
        rows = [
            (
                "1 worker (in-process)",
                _run(pattern, tok, mirror, work / "o1", ["--direct_num_workers=1"]),
            ),
            (
                "2 workers (multi_processing)",
                _run(
                    pattern,
                    tok,
                    mirror,
                    work / "o2",
                    ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
                ),
            ),
        ]
    print(f"{'run':<32}{'docs':>8}{'samples':>9}{'wall s':>9}{'docs/s':>9}")
    for name, r in rows:
        print(
            f"{name:<32}{r['docs']:>8}{r['samples']:>9}{r['wall_s']:>9.1f}"
            f"{r['docs'] / r['wall_s']:>9.1f}"
        )
    base, two = rows[0][1], rows[1][1]
    print(f"ratio 2 workers / 1 worker: {base['wall_s'] / two['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
