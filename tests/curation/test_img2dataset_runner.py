"""img2dataset shards: options passed, failures named, one result per row, deadline kept."""

from __future__ import annotations

import importlib
import threading

import pytest

from curation.addresses import AddressPolicy
from curation.img2dataset_runner import (
    DEFAULT_OPT_OUT_DIRECTIVES,
    Img2DatasetConfig,
    download_kwargs,
    download_shard,
    failure_reason,
    literal_address_refusal,
)
from tests.fixtures.http_server import LocalHttpServer, Reply, closed_port
from tests.fixtures.images import jpeg_bytes, truncated_jpeg


def test_download_kwargs():
    kw = download_kwargs(Img2DatasetConfig(processes_count=2), "in.parquet", "out", 95)
    assert kw["output_format"] == "parquet" and kw["input_format"] == "parquet"
    assert kw["resize_mode"] == "no" and kw["disable_all_reencoding"] is True
    assert kw["number_sample_per_shard"] == 10  # ceil(95 / (2 processes * 5 parts))
    assert kw["disallowed_header_directives"] == list(DEFAULT_OPT_OUT_DIRECTIVES)
    assert kw["incremental_mode"] == "incremental" and kw["enable_wandb"] is False
    resized = download_kwargs(Img2DatasetConfig(resize_mode="keep_ratio"), "i", "o", 5)
    assert resized["disable_all_reencoding"] is False and resized["resize_only_if_bigger"]
    with pytest.raises(ValueError):
        download_kwargs(Img2DatasetConfig(resize_mode="center_crop"), "i", "o", 5)


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        ("failed_to_download", "Use of image disallowed by X-Robots-Tag directive", "opt_out"),
        ("failed_to_download", "HTTP Error 404: Not Found", "http_status"),
        ("failed_to_download", "The read operation timed out", "read_timeout"),
        ("failed_to_download", "<urlopen error timed out>", "read_timeout"),
        (
            "failed_to_download",
            "<urlopen error [Errno -2] Name or service not known>",
            "dns_failure",
        ),
        (
            "failed_to_download",
            "<urlopen error [Errno 111] Connection refused>",
            "connection_error",
        ),
        ("failed_to_download", "Remote end closed connection without response", "connection_error"),
        ("failed_to_download", "unknown url type: 'ftp'", "unsupported_scheme"),
        ("failed_to_download", "something new", "download_error"),
        ("failed_to_resize", "Image decoding error", "decode_error"),
    ],
)
def test_failure_reasons(status, error, reason):
    assert failure_reason(status, error) == reason


def test_literal_address_refusal():
    policy = AddressPolicy(())
    assert literal_address_refusal("ftp://x.example/a.jpg", policy)[0] == "unsupported_scheme"
    assert literal_address_refusal("not a url", policy)[0] in ("bad_url", "unsupported_scheme")
    assert literal_address_refusal("http://10.1.2.3/a.jpg", policy)[0] == "blocked_address"
    assert literal_address_refusal("http://[::1]:8080/a.jpg", policy)[0] == "blocked_address"
    assert literal_address_refusal("http://localhost/a.jpg", policy)[0] == "blocked_address"
    assert literal_address_refusal("http://img.example/a.jpg", policy) is None  # not resolved
    assert literal_address_refusal("http://8.8.8.8/a.jpg", policy) is None
    allowed = AddressPolicy(("127.0.0.1/32",))
    assert literal_address_refusal("http://127.0.0.1:9/a.jpg", allowed) is None


def test_deadline_reports_every_row():
    rows = [("a", "http://127.0.0.1:9/a.jpg"), ("b", "http://127.0.0.1:9/b.jpg")]
    # Far shorter than img2dataset's own start-up: the child is killed before it downloads.
    results = list(download_shard(rows, Img2DatasetConfig(shard_timeout_s=0.05)))
    assert sorted((r.row_id, r.reason) for r in results) == [
        ("a", "shard_timeout"),
        ("b", "shard_timeout"),
    ]
    assert all(r.data is None for r in results)


def test_real_shard_from_a_worker_thread():
    """img2dataset itself, called off the main thread as Beam's threaded runners do."""
    importlib.import_module("img2dataset")
    with LocalHttpServer() as server:
        good = jpeg_bytes(seed=5)
        server.route("/ok.jpg", Reply(body=good, headers={"Content-Type": "image/jpeg"}))
        server.route("/noai.jpg", Reply(body=good, headers={"X-Robots-Tag": "interleaf: noai"}))
        server.route("/slow.jpg", Reply(body=good, delay_s=8.0))
        server.route("/cut.jpg", Reply(body=truncated_jpeg()))
        # Answers only once the caller has its first result: it is in the last img2dataset
        # part, so it succeeds only if results stream back while later parts still run.
        gate = threading.Event()
        server.route("/gate.jpg", lambda _req: Reply(body=good) if gate.wait(10) else Reply(500))
        rows = [
            ("ok", server.url("/ok.jpg")),
            ("noai", server.url("/noai.jpg")),
            ("slow", server.url("/slow.jpg")),
            ("gone", server.url("/gone.jpg")),
            ("cut", server.url("/cut.jpg")),
            ("refused", f"http://127.0.0.1:{closed_port()}/x.jpg"),
            ("ok2", server.url("/ok.jpg")),
            ("gate", server.url("/gate.jpg")),
        ]
        results: list = []
        cfg = Img2DatasetConfig(timeout_s=3, thread_count=4)

        def consume() -> None:
            for result in download_shard(rows, cfg):
                results.append(result)
                gate.set()

        worker = threading.Thread(target=consume)
        worker.start()
        worker.join()
    by_id = {r.row_id: r for r in results}
    assert len(results) == len(rows) == len(by_id)
    assert by_id["ok"].data == good and by_id["ok2"].data == good  # bytes as served
    assert by_id["gate"].data == good, by_id["gate"]
    assert by_id["cut"].data == truncated_jpeg()  # not decoded here: process_image judges it
    assert {k: by_id[k].reason for k in ("noai", "slow", "gone", "refused")} == {
        "noai": "opt_out",
        "slow": "read_timeout",
        "gone": "http_status",
        "refused": "connection_error",
    }
    assert "404" in by_id["gone"].detail
    # The user agent names us, so the scoped "interleaf: noai" above applied.
    agents = {r.headers.get("user-agent", "") for r in server.requests}
    assert all("interleaf" in a for a in agents)
