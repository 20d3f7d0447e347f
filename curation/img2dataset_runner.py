"""Download one shard of image URLs with img2dataset and read its Parquet output back.

img2dataset's `download()` is called in a spawned child process, never in the caller:

- it installs a SIGINT handler (only legal on the main thread, and it would replace the
  caller's: Ctrl-C of the whole job would then exit 0), so it fails on Beam's worker threads;
- it starts its own processes and prints progress bars on stdout/stderr;
- it has per-request timeouts only, so a trickling server can hold a shard for long.

The child runs in its own process group, so a shard past `shard_timeout_s` is killed with
img2dataset's pool. Every input row gets exactly one `DownloadResult`.

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
    per_process = max(1, -(-n_rows // max(1, cfg.processes_count)))  # ceil: one part each
    return {
        "url_list": url_list,
        "input_format": "parquet",
        "url_col": "url",
        "save_additional_columns": [ID_COLUMN],
        "output_folder": output,
        "output_format": "parquet",
        "processes_count": cfg.processes_count,
        "thread_count": cfg.thread_count,
        "number_sample_per_shard": per_process,
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
    """(row id, URL) pairs → one DownloadResult per row, read back from img2dataset's Parquet."""
    with tempfile.TemporaryDirectory(prefix="interleaf-img2dataset-", dir=tmp_root) as work:
        url_list, output, log = (os.path.join(work, n) for n in ("urls.parquet", "out", "log"))
        ids, urls = [r[0] for r in rows], [r[1] for r in rows]
        pq.write_table(pa.table({"url": urls, ID_COLUMN: ids}), url_list)
        timed_out = _run_child(download_kwargs(cfg, url_list, output, len(rows)), log, cfg)
        seen: set[str] = set()
        for result in _read_output(output):
            if result.row_id not in seen:
                seen.add(result.row_id)
                yield result
        if len(seen) < len(set(ids)):
            if timed_out:
                reason, detail = "shard_timeout", f"shard over {cfg.shard_timeout_s}s"
            else:
                reason, detail = "img2dataset_failed", _tail(log)
            for row_id in dict.fromkeys(ids):
                if row_id not in seen:
                    yield DownloadResult(row_id, None, reason, detail)


def _run_child(kwargs: dict, log: str, cfg: Img2DatasetConfig) -> bool:
    """Run img2dataset in a spawned child; True when it was killed at the shard deadline."""
    proc = multiprocessing.get_context("spawn").Process(
        target=_child_main, args=(kwargs, log), name="img2dataset-shard"
    )
    proc.start()
    try:
        proc.join(cfg.shard_timeout_s)
        return proc.is_alive()
    finally:
        if proc.is_alive():  # past the deadline, or the caller is being interrupted
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the child and img2dataset's processes
            except ProcessLookupError:
                proc.kill()  # killed before its setsid(): it has started nothing yet
            proc.join()


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


def _read_output(output: str) -> Iterator[DownloadResult]:
    """Rows of img2dataset's Parquet shards; an unreadable one yields nothing (rows go missing)."""
    for path in sorted(glob.glob(os.path.join(output, "*.parquet"))):
        try:
            pf = pq.ParquetFile(path)
            names = pf.schema_arrow.names
            image_column = next((c for c in ("jpg", "png", "webp") if c in names), None)
            if image_column is None:
                continue
            columns = [ID_COLUMN, "url", "status", "error_message", image_column]
            for batch in pf.iter_batches(64, columns=columns):
                for row in batch.to_pylist():
                    yield _result(row, image_column)
        except (OSError, pa.ArrowException):
            continue  # a shard cut off by the deadline: its rows are reported as missing


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
