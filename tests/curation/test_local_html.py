"""Reading saved HTML pages from local disk."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from curation.local_html import HtmlFileError, read_html_file

HTML = b"<!doctype html><html><body><p>caf\xc3\xa9</p></body></html>"


def write(path: Path, data: bytes, mtime: int = 1_714_564_800) -> str:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return str(path)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("page.html", HTML),
        ("page.htm", HTML),
        ("page.html.gz", gzip.compress(HTML)),
        ("misnamed.html.gz", HTML),  # not actually gzipped: read as is
        ("misnamed.html", gzip.compress(HTML)),  # gzipped without saying so
    ],
)
def test_reads_plain_and_gzipped_pages(tmp_path: Path, name: str, data: bytes) -> None:
    path = write(tmp_path / name, data)
    page = read_html_file(path)
    assert page.content == HTML
    assert page.url == (tmp_path / name).resolve().as_uri()
    assert page.url.startswith("file:///")
    assert page.fetch_time == "2024-05-01T12:00:00Z"
    assert page.content_type == ""
    assert page.source == path


def test_base_url_replaces_the_file_uri(tmp_path: Path) -> None:
    path = write(tmp_path / "a.html", HTML)
    assert read_html_file(path, "https://example.com/a.html").url == "https://example.com/a.html"


def test_relative_path_gets_an_absolute_file_uri(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "rel.html", HTML)
    monkeypatch.chdir(tmp_path)
    page = read_html_file("rel.html")
    assert page.url == (tmp_path / "rel.html").resolve().as_uri()
    assert page.source == "rel.html"


@pytest.mark.parametrize(
    "data",
    [
        gzip.compress(HTML)[:-12],  # cut short
        gzip.compress(HTML)[:10] + b"\xff" * 30,  # corrupt deflate data
        b"\x1f\x8b\x09" + b"\x00" * 20,  # gzip magic, unknown method
    ],
)
def test_corrupt_gzip_raises_with_the_path(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path / "bad.html.gz", data)
    with pytest.raises(HtmlFileError, match=r"bad\.html\.gz") as info:
        read_html_file(path)
    assert info.value.reason == "corrupt_gzip"
    assert isinstance(info.value, ValueError)


def test_empty_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(HtmlFileError) as info:
        read_html_file(write(tmp_path / "empty.html", b"  \n"))
    assert info.value.reason == "empty_payload"
    big = write(tmp_path / "big.html", HTML * 10)
    with pytest.raises(HtmlFileError) as info:
        read_html_file(big, max_bytes=len(HTML) * 5)
    assert info.value.reason == "payload_too_large"
    bomb = write(tmp_path / "bomb.html.gz", gzip.compress(b" " * 100_000))
    with pytest.raises(HtmlFileError) as info:
        read_html_file(bomb, max_bytes=10_000)
    assert info.value.reason == "payload_too_large"


def test_missing_file_is_an_os_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        read_html_file(str(tmp_path / "missing.html"))
