"""Download one shard of image URLs with img2dataset and read its Parquet output back.

img2dataset's `download()` is called in a spawned child process, never in the caller:

- it installs a SIGINT handler (only legal on the main thread, and it would replace the
  caller's: Ctrl-C of the whole job would then exit 0), so it fails on Beam's worker threads;
- it starts its own processes and prints progress bars on stdout/stderr;
- it has per-request timeouts only, so a trickling server can hold a shard for long.

The child runs in its own process group, so a shard past `shard_timeout_s` is killed with
img2dataset's pool. The shard is split into img2dataset parts whose results are read back
as each part finishes, so the caller processes images while later parts download. Every
input row gets exactly one `DownloadResult`.

The child is started with "spawn", which imports the caller's main module again: a script
that runs a pairs job must keep it under ``if __name__ == "__main__":`` (`curate` does).

img2dataset has no SSRF guard: it resolves host names and follows redirects itself, so
it must only be pointed at public URL lists (see `literal_address_refusal`, a partial check).
"""

from __future__ import annotations

import glob
import ipaddress
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from curation.addresses import AddressPolicy, UrlError, parse_target

ID_COLUMN = "interleaf_id"  # our row id, carried through img2dataset as an additional column
RESIZE_MODES = ("no", "keep_ratio", "keep_ratio_largest")
# img2dataset 1.47's default `disallowed_header_directives`.
DEFAULT_OPT_OUT_DIRECTIVES = ("noai", "noimageai", "noindex", "noimageindex")
_LOG_TAIL_BYTES = 2000
PARTS_PER_PROCESS = 5


@dataclass(frozen=True)
class Img2DatasetConfig:
    """img2dataset options for one shard; defaults are img2dataset's unless marked ours."""

    processes_count: int = 1
    # Ours: img2dataset's 256 threads are sized for a whole machine; a shard is one worker's.
    thread_count: int = 64
    # Ours: "no" keeps the bytes as served (disable_all_reencoding), since process_image
    # decodes, resizes and re-encodes once anyway; "keep_ratio" makes img2dataset resize too.
    resize_mode: str = "no"
    image_size: int = 1024  # ours: ImageConfig.max_side; keep_ratio never upscales (see below)
    timeout_s: int = 10
    retries: int = 0
    disallowed_header_directives: tuple[str, ...] = DEFAULT_OPT_OUT_DIRECTIVES
    user_agent_token: str = "interleaf"  # ours: X-Robots-Tag "interleaf: noai" then applies
    encode_quality: int = 95  # used only when img2dataset re-encodes (resize_mode != "no")
    shard_timeout_s: float = 1800.0  # ours: a wall limit for the whole shard


@dataclass(frozen=True)
class DownloadResult:
    """What became of one URL: bytes, or a reason (a counter name) and detail."""

    row_id: str
    data: bytes | None
    reason: str = ""
    detail: str = ""


def download_kwargs(cfg: Img2DatasetConfig, url_list: str, output: str, n_rows: int) -> dict:
    """The keyword arguments of `img2dataset.download` for one shard."""
    if cfg.resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode {cfg.resize_mode!r} not in {RESIZE_MODES}")
    # img2dataset replaces a pool process after 5 parts (maxtasksperchild=5, a fresh import):
    # 5 parts per process, so results stream back while later parts download.
    parts = max(1, cfg.processes_count) * PARTS_PER_PROCESS
    per_part = max(1, -(-n_rows // parts))
    return {
        "url_list": url_list,
        "input_format": "parquet",
        "url_col": "url",
        "save_additional_columns": [ID_COLUMN],
        "output_folder": output,
        "output_format": "parquet",
        "processes_count": cfg.processes_count,
        "thread_count": cfg.thread_count,
        "number_sample_per_shard": per_part,
        "resize_mode": cfg.resize_mode,
        "image_size": cfg.image_size,
        # Upscaling would invent pixels and let a tiny image pass our minimum-side check.
        "resize_only_if_bigger": True,
        "disable_all_reencoding": cfg.resize_mode == "no",
        "encode_quality": cfg.encode_quality,
        "timeout": cfg.timeout_s,
        "retries": cfg.retries,
        "disallowed_header_directives": list(cfg.disallowed_header_directives),
        "user_agent_token": cfg.user_agent_token,
        "extract_exif": False,
        "compute_hash": None,  # process_image hashes what we store
        "enable_wandb": False,
        # "overwrite" deletes img2dataset's own _tmp folder after creating it (1.47);
        # every shard gets a fresh empty folder, so "incremental" never skips anything.
        "incremental_mode": "incremental",
    }


def failure_reason(status: str | None, error: str | None) -> str:
    """Our reason name for an img2dataset status and error message."""
    message = (error or "").lower()
    if status == "failed_to_resize":
        return "decode_error"
    if "x-robots-tag" in message:
        return "opt_out"
    if message.startswith("http error"):
        return "http_status"
    if "timed out" in message:
        return "read_timeout"
    if any(s in message for s in ("name or service", "name resolution", "nodename", "errno -")):
        return "dns_failure"
    if "unknown url type" in message:
        return "unsupported_scheme"
    if any(s in message for s in ("refused", "reset", "remote end closed", "urlopen error")):
        return "connection_error"
    return "download_error"


def literal_address_refusal(url: str, policy: AddressPolicy) -> tuple[str, str] | None:
    """(reason, detail) for a URL img2dataset must not get: not http(s), or a private IP literal.

    Host names are not resolved here (img2dataset resolves them again, and follows
    redirects), so this catches only the obvious cases; the input must be public URLs.
    """
    try:
        target = parse_target(url)
    except UrlError as err:
        return err.reason, err.detail
    host = target.host
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        addr = ipaddress.ip_address("127.0.0.1")
    else:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return None
    if policy.permits(host, addr):
        return None
    return "blocked_address", f"{host} is not a public address"


def download_shard(
    rows: Sequence[tuple[str, str]], cfg: Img2DatasetConfig, tmp_root: str | None = None
) -> Iterator[DownloadResult]:
    """(row id, URL) pairs → one DownloadResult per row, read back from img2dataset's Parquet.

    Results of each finished img2dataset part are yielded while later parts still download,
    so the caller's image processing overlaps the download.
    """
    with tempfile.TemporaryDirectory(prefix="interleaf-img2dataset-", dir=tmp_root) as work:
        url_list, output, log = (os.path.join(work, n) for n in ("urls.parquet", "out", "log"))
        ids = list(dict.fromkeys(r[0] for r in rows))
        table = pa.table({"url": [r[1] for r in rows], ID_COLUMN: [r[0] for r in rows]})
        pq.write_table(table, url_list)
        seen: set[str] = set()
        child = _Child(download_kwargs(cfg, url_list, output, len(rows)), log)
        try:
            for part in child.finished_parts(output, cfg.shard_timeout_s):
                for result in _read_part(part):
                    if result.row_id not in seen:
                        seen.add(result.row_id)
                        yield result
        finally:
            child.stop()
        if len(seen) < len(ids):
            if child.timed_out:
                reason, detail = "shard_timeout", f"shard over {cfg.shard_timeout_s}s"
            else:
                reason, detail = "img2dataset_failed", _tail(log)
            for row_id in ids:
                if row_id not in seen:
                    yield DownloadResult(row_id, None, reason, detail)


class _Child:
    """img2dataset's download() in a spawned child process, in its own process group."""

    POLL_S = 0.2

    def __init__(self, kwargs: dict, log: str) -> None:
        self.timed_out = False
        self._proc = multiprocessing.get_context("spawn").Process(
            target=_child_main, args=(kwargs, log), name="img2dataset-shard"
        )
        self._proc.start()

    def finished_parts(self, output: str, timeout_s: float) -> Iterator[str]:
        """Each part's Parquet once img2dataset has closed it (its _stats.json follows it)."""
        deadline, done = time.monotonic() + timeout_s, set()
        while True:
            alive = self._proc.is_alive()
            for stats in sorted(glob.glob(os.path.join(output, "*_stats.json"))):
                part = stats.removesuffix("_stats.json") + ".parquet"
                if part not in done:
                    done.add(part)
                    yield part
            if not alive:
                # A part whose stats never came (the child died writing them) is read as is.
                yield from sorted(set(glob.glob(os.path.join(output, "*.parquet"))) - done)
                return
            if time.monotonic() >= deadline:
                self.timed_out = True
                return
            self._proc.join(self.POLL_S)

    def stop(self) -> None:
        """Kill the child and img2dataset's processes if still running; reap it."""
        if self._proc.is_alive():  # past the deadline, or the caller stopped reading
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                self._proc.kill()  # killed before its setsid(): it has started nothing yet
        self._proc.join()


def _child_main(kwargs: dict, log: str) -> None:
    """The child: own process group, output to a log file, then img2dataset's download()."""
    os.setsid()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # albumentations (imported by img2dataset) checks PyPI for a new version unless told not to.
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from img2dataset import download

    download(**kwargs)


def _read_part(path: str) -> Iterator[DownloadResult]:
    """Rows of one img2dataset Parquet part; an unreadable part yields nothing (rows go missing)."""
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        image_column = next((c for c in ("jpg", "png", "webp") if c in names), None)
        if image_column is None:
            return
        columns = [ID_COLUMN, "url", "status", "error_message", image_column]
        for batch in pf.iter_batches(64, columns=columns):
            for row in batch.to_pylist():
                yield _result(row, image_column)
    except (OSError, pa.ArrowException):
        return  # a part cut off by the deadline: its rows are reported as missing


def _result(row: dict, image_column: str) -> DownloadResult:
    data = row.get(image_column)
    if row.get("status") == "success" and data:
        return DownloadResult(row[ID_COLUMN], bytes(data))
    error = row.get("error_message") or f"status={row.get('status')}"
    reason = failure_reason(row.get("status"), error)
    return DownloadResult(row[ID_COLUMN], None, reason, f"{error} at {row.get('url')}")


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - _LOG_TAIL_BYTES))
            return f.read().decode("utf-8", errors="replace").strip()
    except OSError as err:
        return f"no img2dataset log: {err}"
