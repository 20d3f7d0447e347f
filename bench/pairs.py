"""Images/s of `curate pairs` against a local HTTP server, beside a bare img2dataset run.

    python bench/pairs.py [--images 600] [--size 1280x960] [--threads 32] [--repeat 1]
                          [--pillow-only]

Writes --images generated JPEGs, serves them from a separate process on 127.0.0.1 and
runs, each in its own process on the same URL list:

- img2dataset, download only (resize_mode="no", no re-encoding): the lower bound;
- img2dataset, decode + resize to 1024 px + JPEG encode: the work comparable to ours;
- `curate pairs --downloader img2dataset` (the default) and `--downloader builtin`:
  download, caption filters, decode, resize, re-encode, hash, Parquet with summary.

images/s = images written / wall seconds of the process (start-up included); images per
CPU second (user + system, child processes included) is the steadier figure on a shared
machine. Ratios: each curate run against each img2dataset run. --pillow-only hides pyvips
from the curate runs, so they resize with Pillow alone (as before curation.resample).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Result = tuple[float, float, int]  # wall s, CPU s, images written

SERVER = """
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.func.log_message = lambda *a: None
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""
IMG2DATASET = """
import json, sys
from img2dataset import download
if __name__ == "__main__":
    download(**json.loads(sys.argv[1]))
"""
CURATE = """
import argparse, sys
from pipelines.pairs import add_parser
if __name__ == "__main__":
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    a, rest = p.parse_known_args(sys.argv[1:])
    sys.exit(a.func(a, rest))
"""


BLOCK_PYVIPS = 'raise ImportError("hidden by bench/pairs.py --pillow-only")\n'


def _make_images(folder: Path, n: int, size: tuple[int, int]) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.images import make_image

    folder.mkdir()
    base = [make_image(*size, seed=s) for s in range(16)]  # drawing is slow; vary by tint
    for i in range(n):
        img = base[i % 16].point(lambda v, k=i: (v + k) % 256)
        img.save(folder / f"{i:06d}.jpg", quality=90)


def _write_list(path: Path, port: int, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    urls = [f"http://127.0.0.1:{port}/{i:06d}.jpg" for i in range(n)]
    captions = [f"A generated test picture, number {i} of the benchmark" for i in range(n)]
    pq.write_table(pa.table({"url": urls, "caption": captions}), path)


def _cpu_s() -> float:
    """CPU seconds of every finished child process (and of theirs, once reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of a command."""
    started, cpu = time.perf_counter(), _cpu_s()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started, _cpu_s() - cpu


def _img2dataset(url_list: Path, out: Path, threads: int, resize: bool, env) -> Result:
    kwargs = {
        "url_list": str(url_list),
        "input_format": "parquet",
        "url_col": "url",
        "caption_col": "caption",
        "output_format": "parquet",
        "output_folder": str(out),
        "processes_count": 1,
        "thread_count": threads,
        "resize_mode": "keep_ratio_largest" if resize else "no",
        "image_size": 1024,
        "resize_only_if_bigger": True,
        "disable_all_reencoding": not resize,
        "encode_quality": 90,
        "enable_wandb": False,
    }
    script = out.parent / "img2dataset_run.py"
    script.write_text(IMG2DATASET)
    wall, cpu = _timed([sys.executable, str(script), json.dumps(kwargs)], env)
    stats = [json.loads(p.read_text()) for p in out.glob("*_stats.json")]
    return wall, cpu, sum(s["successes"] for s in stats)


def _curate(url_list: Path, out: Path, threads: int, downloader: str, env) -> Result:
    argv = ["pairs", "--input", str(url_list), "--output", str(out), "--quiet",
            "--downloader", downloader, "--thread-count", str(threads),
            "--allow-network", "127.0.0.1/32"]  # fmt: skip
    script = out.parent / "curate_run.py"
    script.write_text(CURATE)
    wall, cpu = _timed([sys.executable, str(script), *argv], env)
    summary = json.loads((out / "summary.json").read_text())
    return wall, cpu, summary["outputs"]["samples"]["rows"]


def _runs(url_list: Path, threads: int, env: dict[str, str]) -> dict:
    return {
        "img2dataset, download only": lambda o: _img2dataset(url_list, o, threads, False, env),
        "img2dataset, decode+resize+encode": lambda o: _img2dataset(
            url_list, o, threads, True, env
        ),
        "curate pairs (img2dataset)": lambda o: _curate(url_list, o, threads, "img2dataset", env),
        "curate pairs (builtin)": lambda o: _curate(url_list, o, threads, "builtin", env),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--size", default="1280x960", help="WxH of the generated JPEGs")
    ap.add_argument("--threads", type=int, default=32, help="download threads, all runs")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest is shown")
    ap.add_argument("--pillow-only", action="store_true", help="curate runs without libvips")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(ROOT)}
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.pillow_only:  # a package that fails to import shadows the installed pyvips
            (work / "shim" / "pyvips").mkdir(parents=True)
            (work / "shim" / "pyvips" / "__init__.py").write_text(BLOCK_PYVIPS)
            env["PYTHONPATH"] = os.pathsep.join((str(work / "shim"), str(ROOT)))
        _make_images(work / "img", args.images, size)  # type: ignore[arg-type]
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(work / "img")], stdout=subprocess.PIPE, text=True
        )
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            url_list = work / "urls.parquet"
            _write_list(url_list, port, args.images)
            for name, run in _runs(url_list, args.threads, env).items():
                outs = [work / f"out-{len(results)}-{i}" for i in range(args.repeat)]
                results[name] = min(run(out) for out in outs)  # the fastest wall time
        finally:
            server.terminate()
            server.wait()
    _report(
        results, args.images, size, "pillow (--pillow-only)" if args.pillow_only else _resampler()
    )


def _resampler() -> str:
    sys.path.insert(0, str(ROOT))
    from curation.resample import resampler

    return resampler()


def _report(results: dict[str, Result], n: int, size: tuple[int, ...], resampler: str) -> None:
    print(f"{n} JPEGs of {size[0]}x{size[1]} from 127.0.0.1, {os.cpu_count()} CPUs")
    print(f"curate's resampler: {resampler}")
    print(f"{'run':<36}{'images':>7}{'wall s':>8}{'img/s':>8}{'CPU s':>8}{'img/CPU s':>10}")
    for name, (wall, cpu, images) in results.items():
        rates = f"{images / wall:>8.1f}{cpu:>8.1f}{images / cpu:>10.1f}"
        print(f"{name:<36}{images:>7}{wall:>8.1f}{rates}")
    for base in ("img2dataset, decode+resize+encode", "img2dataset, download only"):
        b_wall, b_cpu, b_n = results[base]
        for name in ("curate pairs (img2dataset)", "curate pairs (builtin)"):
            wall, cpu, images = results[name]
            print(
                f"ratio {name} / {base}: {(images / wall) / (b_n / b_wall):.2f}x images/s, "
                f"{(images / cpu) / (b_n / b_cpu):.2f}x images per CPU s"
            )


if __name__ == "__main__":
    main()
