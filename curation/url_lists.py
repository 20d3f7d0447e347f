"""Image-text pair inputs: URL + caption lists (CSV/TSV/Parquet/JSONL) or image bytes.

A URL list names each image by URL (img2dataset's input). Inputs that already hold the
image bytes skip the download: a Parquet file with a bytes column (binary, or a struct with
a ``bytes`` field as Hugging Face `datasets` writes images), or a webdataset tar whose
samples are ``key.jpg`` (or .png/.webp/…) next to ``key.txt`` (the caption) and/or
``key.json`` (caption and URL under the configured column names), e.g. img2dataset's own
webdataset output. Readers take an open binary file (so any filesystem works) and yield a
`PairSource` per row, or a `Rejection` for a row that cannot be one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.records import Rejection

STAGE = "read"
FORMATS = ("csv", "tsv", "jsonl", "parquet", "tar")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".tar": "tar",
}
_COMPRESSED = (".gz",)  # decompressed by the caller (Beam FileSystems does it by extension)
# webdataset image members, in the order one is picked when a sample holds several.
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "avif", "tif", "tiff")


@dataclass(frozen=True)
class UrlListConfig:
    """Which columns hold what, and the read limits."""

    url_column: str = "url"  # img2dataset's default url_col
    caption_column: str = "caption"  # LAION / img2dataset parquet spelling
    image_column: str | None = None  # a Parquet bytes column: pairs skip the download
    batch_rows: int = 256  # Parquet rows decoded at a time (rows may carry image bytes)
    max_image_bytes: int = 20 * 1024 * 1024  # FetchConfig.max_bytes: same cap as a download


@dataclass(frozen=True)
class PairSource:
    """One input pair before its image is fetched and checked."""

    sample_id: str
    url: str  # "" when the input holds the bytes and no URL
    caption: str
    key: str  # where it was read: "path#row12" or "path#<webdataset key>"
    data: bytes | None = None  # image bytes when the input carries them (no download)


class UrlListError(ValueError):
    """A whole input file that cannot be read as pairs; `reason` is a counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def input_format(path: str) -> str:
    """'csv', 'tsv', 'jsonl', 'parquet' or 'tar' from the file name (a .gz suffix allowed)."""
    name = path.lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    for suffix, kind in _SUFFIXES.items():
        if name.endswith(suffix):
            if kind == "parquet" and name != path.lower():
                break  # Parquet compresses internally; a gzipped Parquet cannot be seeked
            return kind
    known = ", ".join(s + ("[.gz]" if s != ".parquet" else "") for s in _SUFFIXES)
    raise UrlListError("unknown_format", f"{path}: expected one of {known}")


def pair_sample_id(url: str, caption: str, key: str = "") -> str:
    """A stable id from the image URL (or, without one, where it was read) and the caption."""
    return hashlib.sha256(f"{url or key}\0{caption}".encode()).hexdigest()[:24]


def needs_download(cfg: UrlListConfig, kind: str) -> bool:
    """False for inputs that hold image bytes (a Parquet bytes column, a webdataset tar)."""
    return kind != "tar" and not (kind == "parquet" and cfg.image_column)


def iter_pairs(f: BinaryIO, path: str, cfg: UrlListConfig) -> Iterator[PairSource | Rejection]:
    """Every pair of one input file (already decompressed), or a Rejection per bad row."""
    kind = input_format(path)
    if kind in ("csv", "tsv"):
        yield from _iter_csv(f, path, cfg, "\t" if kind == "tsv" else ",")
    elif kind == "jsonl":
        yield from _iter_jsonl(f, path, cfg)
    elif kind == "parquet":
        yield from _iter_parquet(f, path, cfg)
    else:
        yield from _iter_tar(f, path, cfg)


def _lines(f: BinaryIO) -> Iterator[bytes]:
    """Lines by readline(): Beam's decompressing file objects are not iterable."""
    return iter(f.readline, b"")


def _text_lines(f: BinaryIO) -> Iterator[str]:
    # Split on b"\n" before decoding: a UTF-8 sequence never spans two lines, and the kept
    # line ends let the csv module join quoted fields that hold newlines.
    return (line.decode("utf-8", errors="replace") for line in _lines(f))


def _pair(url: Any, caption: Any, key: str, data: bytes | None = None) -> PairSource | Rejection:
    """A PairSource from raw cell values; a Rejection when the row names no image."""
    url = url.strip() if isinstance(url, str) else ""
    caption = caption if isinstance(caption, str) else "" if caption is None else str(caption)
    if data is None and not url:
        return Rejection(STAGE, "missing_url", key, "no URL in the row")
    return PairSource(pair_sample_id(url, caption, key), url, caption, key, data)


def _missing(path: str, columns: list[str], wanted: list[str]) -> None:
    absent = [c for c in wanted if c not in columns]
    if absent:
        raise UrlListError(
            "missing_column", f"{path}: no column {', '.join(absent)} (has {', '.join(columns)})"
        )


# ---------------------------------------------------------------- CSV / TSV


def _iter_csv(
    f: BinaryIO, path: str, cfg: UrlListConfig, delimiter: str
) -> Iterator[PairSource | Rejection]:
    reader = csv.reader(_text_lines(f), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip().lstrip("\ufeff") for h in header]
    _missing(path, header, [cfg.url_column, cfg.caption_column])
    url_at, caption_at = header.index(cfg.url_column), header.index(cfg.caption_column)
    row = 0
    while True:
        key = f"{path}#row{row}"
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # an oversized field or a stray NUL: this row only
            yield Rejection(STAGE, "malformed_row", key, str(err))
            row += 1
            continue
        row += 1
        if not cells:
            continue  # a blank line is not a row
        if len(cells) != len(header):
            detail = f"{len(cells)} fields, header has {len(header)}"
            yield Rejection(STAGE, "malformed_row", key, detail)
            continue
        yield _pair(cells[url_at], cells[caption_at], key)


# ---------------------------------------------------------------- JSON lines


def _iter_jsonl(f: BinaryIO, path: str, cfg: UrlListConfig) -> Iterator[PairSource | Rejection]:
    for row, line in enumerate(_lines(f)):
        key = f"{path}#row{row}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as err:  # JSONDecodeError and bad UTF-8
            yield Rejection(STAGE, "malformed_row", key, f"{err}: {line[:200]!r}")
            continue
        if not isinstance(obj, dict):
            yield Rejection(STAGE, "malformed_row", key, f"not an object: {line[:200]!r}")
            continue
        yield _pair(obj.get(cfg.url_column), obj.get(cfg.caption_column), key)


# ---------------------------------------------------------------- Parquet


def parquet_columns(cfg: UrlListConfig, schema: pa.Schema, path: str) -> list[str]:
    """The columns to read; UrlListError naming any required column that is missing."""
    names = list(schema.names)
    if cfg.image_column:
        _missing(path, names, [cfg.image_column, cfg.caption_column])
        optional = [cfg.url_column] if cfg.url_column in names else []
        return [cfg.image_column, cfg.caption_column, *optional]
    _missing(path, names, [cfg.url_column, cfg.caption_column])
    return [cfg.url_column, cfg.caption_column]


def _iter_parquet(f: BinaryIO, path: str, cfg: UrlListConfig) -> Iterator[PairSource | Rejection]:
    try:
        pf = pq.ParquetFile(f)
    except (OSError, pa.ArrowException) as err:
        raise UrlListError("unreadable_file", f"{path}: {err}") from err
    columns = parquet_columns(cfg, pf.schema_arrow, path)
    row = 0
    for group in range(pf.num_row_groups):
        start = row
        # One row group at a time: a corrupt one costs its rows, not the rest of the file.
        try:
            for batch in pf.iter_batches(cfg.batch_rows, row_groups=[group], columns=columns):
                for values in batch.to_pylist():
                    yield _parquet_row(values, f"{path}#row{row}", cfg)
                    row += 1
        except (OSError, pa.ArrowException) as err:
            key = f"{path}#rowgroup{group}"
            yield Rejection(STAGE, "corrupt_row_group", key, f"{type(err).__name__}: {err}")
            row = start + pf.metadata.row_group(group).num_rows


def _parquet_row(values: dict[str, Any], key: str, cfg: UrlListConfig) -> PairSource | Rejection:
    url, caption = values.get(cfg.url_column), values.get(cfg.caption_column)
    if not cfg.image_column:
        return _pair(url, caption, key)
    data = values.get(cfg.image_column)
    if isinstance(data, dict):  # Hugging Face datasets' Image feature: {bytes, path}
        data = data.get("bytes")
    if not isinstance(data, (bytes, bytearray)) or not data:
        return Rejection(STAGE, "missing_image", key, f"no bytes in column {cfg.image_column}")
    if len(data) > cfg.max_image_bytes:
        return Rejection(STAGE, "too_large", key, f"{len(data)} > {cfg.max_image_bytes} bytes")
    return _pair(url, caption, key, bytes(data))


# ---------------------------------------------------------------- webdataset tar


def split_member_name(name: str) -> tuple[str, str]:
    """webdataset naming: "dir/abc.seg.jpg" → ("dir/abc", "seg.jpg")."""
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _iter_tar(f: BinaryIO, path: str, cfg: UrlListConfig) -> Iterator[PairSource | Rejection]:
    """Stream the tar once; a sample is the run of adjacent members sharing a key."""
    current: str | None = None
    parts: dict[str, bytes | Rejection] = {}
    try:
        # "r|*": a forward-only stream, so a tar on GCS/S3 is never downloaded whole.
        with tarfile.open(fileobj=f, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = split_member_name(member.name)
                if key != current:
                    if current is not None:
                        yield _tar_sample(parts, f"{path}#{current}", cfg)
                    current, parts = key, {}
                parts[ext] = _read_member(tar, member, cfg)
    except (tarfile.TarError, OSError, EOFError) as err:
        at = f"{path}#{current}" if current is not None else path
        yield Rejection(STAGE, "corrupt_tar", at, f"{type(err).__name__}: {err}")
        return  # the sample being read when the tar broke is part of the damage
    if current is not None:
        yield _tar_sample(parts, f"{path}#{current}", cfg)


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, cfg: UrlListConfig) -> Any:
    if member.size > cfg.max_image_bytes:
        detail = f"{member.name}: {member.size} > {cfg.max_image_bytes} bytes"
        return Rejection(STAGE, "too_large", member.name, detail)
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""


def _tar_sample(
    parts: dict[str, bytes | Rejection], key: str, cfg: UrlListConfig
) -> PairSource | Rejection:
    for value in parts.values():
        if isinstance(value, Rejection):
            return Rejection(STAGE, value.reason, key, value.detail)
    image = next((parts[e] for e in IMAGE_EXTENSIONS if e in parts), None)
    if not image:
        return Rejection(STAGE, "missing_image", key, f"members: {', '.join(sorted(parts))}")
    meta: dict[str, Any] = {}
    if "json" in parts:
        try:
            loaded = json.loads(parts["json"])
        except (ValueError, RecursionError) as err:
            return Rejection(STAGE, "malformed_row", key, f"{key}.json: {err}")
        meta = loaded if isinstance(loaded, dict) else {}
    caption: Any = meta.get(cfg.caption_column)
    if "txt" in parts:
        assert isinstance(parts["txt"], bytes)
        caption = parts["txt"].decode("utf-8", errors="replace")
    return _pair(meta.get(cfg.url_column), caption, key, image)  # type: ignore[arg-type]


def check_columns(f: BinaryIO, path: str, cfg: UrlListConfig) -> None:
    """Raise UrlListError unless the file has the configured columns (reads the header only)."""
    kind = input_format(path)
    if kind == "parquet":
        try:
            schema = pq.ParquetFile(f).schema_arrow
        except (OSError, pa.ArrowException) as err:
            raise UrlListError("unreadable_file", f"{path}: {err}") from err
        parquet_columns(cfg, schema, path)
    elif kind in ("csv", "tsv"):
        line = f.readline().decode("utf-8", errors="replace")
        header = next(csv.reader([line], delimiter="\t" if kind == "tsv" else ","), [])
        names = [h.strip().lstrip("\ufeff") for h in header]
        _missing(path, names, [cfg.url_column, cfg.caption_column])
    elif kind == "jsonl":
        # No header: the first row stands for the file (a misspelt column empties every row).
        first = next((line for line in _lines(f) if line.strip()), b"")
        try:
            row = json.loads(first) if first else {}
        except ValueError:
            return  # a bad first line is that row's rejection, not the file's
        if isinstance(row, dict):
            _missing(path, sorted(row), [cfg.url_column, cfg.caption_column])
