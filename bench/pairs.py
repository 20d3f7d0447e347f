"""Images/s of `curate pairs` against a local HTTP server, beside a bare img2dataset run.

    python bench/pairs.py [--images 600] [--size 1280x960] [--threads 32] [--repeat 1]

Writes --images generated JPEGs, serves them from a separate process on 127.0.0.1 and
runs, each in its own process on the same URL list:

- img2dataset, download only (resize_mode="no", no re-encoding): the lower bound;
- img2dataset, decode + resize to 1024 px + JPEG encode: the work comparable to ours;
- `curate pairs --downloader img2dataset` (the default) and `--downloader builtin`:
  download, caption filters, decode, resize, re-encode, hash, Parquet with summary.

images/s = images written / wall seconds of the process (start-up included). The ratio
is each curate run against the comparable img2dataset run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def _img2dataset(url_list: Path, out: Path, threads: int, resize: bool, env) -> tuple[float, int]:
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
    wall = _timed([sys.executable, str(script), json.dumps(kwargs)], env)
    stats = [json.loads(p.read_text()) for p in out.glob("*_stats.json")]
    return wall, sum(s["successes"] for s in stats)


def _curate(url_list: Path, out: Path, threads: int, downloader: str, env) -> tuple[float, int]:
    code = (
        "import argparse, sys\n"
        "from pipelines.pairs import add_parser\n"
        "if __name__ == '__main__':\n"
        "    p = argparse.ArgumentParser(); add_parser(p.add_subparsers())\n"
        "    a, rest = p.parse_known_args(sys.argv[1:]); sys.exit(a.func(a, rest))\n"
    )
    argv = ["pairs", "--input", str(url_list), "--output", str(out), "--quiet",
            "--downloader", downloader, "--thread-count", str(threads),
            "--allow-network", "127.0.0.1/32"]  # fmt: skip
    wall = _timed([sys.executable, "-c", code, *argv], env)
    summary = json.loads((out / "summary.json").read_text())
    return wall, summary["outputs"]["samples"]["rows"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--size", default="1280x960", help="WxH of the generated JPEGs")
    ap.add_argument("--threads", type=int, default=32, help="download threads, all runs")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the best is shown")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _make_images(work / "img", args.images, size)  # type: ignore[arg-type]
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(work / "img")], stdout=subprocess.PIPE, text=True
        )
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            url_list = work / "urls.parquet"
            _write_list(url_list, port, args.images)
            runs = {
                "img2dataset, download only": lambda o: _img2dataset(
                    url_list, o, args.threads, False, env
                ),
                "img2dataset, decode+resize+encode": lambda o: _img2dataset(
                    url_list, o, args.threads, True, env
                ),
                "curate pairs (img2dataset)": lambda o: _curate(
                    url_list, o, args.threads, "img2dataset", env
                ),
                "curate pairs (builtin)": lambda o: _curate(
                    url_list, o, args.threads, "builtin", env
                ),
            }
            results = {}
            for name, run in runs.items():
                tries = [run(work / f"out-{len(results)}-{i}") for i in range(args.repeat)]
                results[name] = min(tries)
        finally:
            server.terminate()
            server.wait()
    _report(results, args.images, size)


def _report(results: dict[str, tuple[float, int]], n: int, size: tuple[int, ...]) -> None:
    print(f"{n} JPEGs of {size[0]}x{size[1]} from 127.0.0.1, {os.cpu_count()} CPUs")
    print(f"{'run':<36}{'images':>8}{'wall s':>9}{'images/s':>10}")
    for name, (wall, images) in results.items():
        print(f"{name:<36}{images:>8}{wall:>9.1f}{images / wall:>10.1f}")
    base_wall, base_n = results["img2dataset, decode+resize+encode"]
    for name in ("curate pairs (img2dataset)", "curate pairs (builtin)"):
        wall, images = results[name]
        ratio = (images / wall) / (base_n / base_wall)
        print(f"ratio {name} / img2dataset decode+resize+encode: {ratio:.2f}x")
    wall, images = results["curate pairs (img2dataset)"]
    dl_wall, dl_n = results["img2dataset, download only"]
    print(f"ratio curate pairs (img2dataset) / img2dataset download only: "
          f"{(images / wall) / (dl_n / dl_wall):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
