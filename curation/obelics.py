"""Read OBELICS-style Parquet (aligned `texts` / `images` lists per row) straight into Documents.

Each row is one web document already extracted into interleaved nodes, as in the OBELICS
release (Laurençon et al., 2023): at position i exactly one of `texts[i]` (a text block) and
`images[i]` (an image URL) is set. Optional columns: `metadata` (JSON list aligned with the
nodes; image entries may carry `alt_text`, `src`, `original_width`, `original_height`),
`general_metadata` (JSON object with `url`, `warc_filename`, `warc_record_offset`,
`fetch_time` or `date`) and a plain `url` column. Such rows skip HTML extraction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.records import Document, ImageNode, Node, Rejection, TextNode, make_doc_id

STAGE = "read"
REQUIRED_COLUMNS = ("texts", "images")
OPTIONAL_COLUMNS = ("metadata", "general_metadata", "url")


class ObelicsRowError(Exception):
    """One row that cannot become a Document."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ObelicsFileError(ValueError):
    """A Parquet file that is not OBELICS-style (a required column is missing or mistyped)."""


def iter_obelics_file(path: str, batch_size: int = 256) -> Iterator[Document | Rejection]:
    """Documents of every row of `path`, a Rejection for each bad row or unreadable row group."""
    pf = pq.ParquetFile(path)
    columns = _columns_to_read(pf.schema_arrow, path)
    row = 0
    for group in range(pf.num_row_groups):
        # One row group at a time: a corrupt one costs its rows, not the rest of the file.
        try:
            for batch in pf.iter_batches(batch_size, row_groups=[group], columns=columns):
                for values in batch.to_pylist():
                    yield _row_or_rejection(values, f"{path}#row{row}")
                    row += 1
        except (OSError, pa.ArrowException) as exc:
            key = f"{path}#rowgroup{group}"
            yield Rejection(STAGE, "corrupt_row_group", key, f"{type(exc).__name__}: {exc}")
            row = _first_row_of(pf, group + 1)


def _first_row_of(pf: pq.ParquetFile, group: int) -> int:
    return sum(pf.metadata.row_group(g).num_rows for g in range(group))


def _columns_to_read(schema: pa.Schema, path: str) -> list[str]:
    """The columns this reader uses; ObelicsFileError when a required one is absent or not text."""
    for name in REQUIRED_COLUMNS:
        if name not in schema.names:
            raise ObelicsFileError(
                f"{path}: missing column {name!r} (has {', '.join(schema.names) or 'no columns'})"
            )
        kind = schema.field(name).type
        if not (
            (pa.types.is_list(kind) or pa.types.is_large_list(kind))
            and (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type))
        ):
            raise ObelicsFileError(f"{path}: column {name!r} is {kind}, expected list<string>")
    return [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in schema.names)]


def _row_or_rejection(values: dict[str, Any], source: str) -> Document | Rejection:
    try:
        return obelics_row_to_document(values, source)
    except ObelicsRowError as err:
        return Rejection(STAGE, err.reason, source, err.detail)


def obelics_row_to_document(row: dict[str, Any], source: str) -> Document:
    """One OBELICS-style row → Document; ObelicsRowError names what is wrong with it."""
    texts, images = row.get("texts") or [], row.get("images") or []
    if len(texts) != len(images):
        raise ObelicsRowError("misaligned_lists", f"{len(texts)} texts vs {len(images)} images")
    meta = _node_metadata(row.get("metadata"), len(texts))
    general = _json_value(row.get("general_metadata"), dict, "general_metadata") or {}
    url = str(row.get("url") or general.get("url") or "").strip()
    if not url:
        raise ObelicsRowError("missing_url", "no url column value and no general_metadata.url")
    nodes = tuple(_nodes(texts, images, meta))
    if not nodes:
        raise ObelicsRowError("empty_document", f"{len(texts)} positions, no text and no image")
    return Document(
        doc_id=make_doc_id(url, source),
        url=url,
        fetch_time=str(general.get("fetch_time") or general.get("date") or ""),
        source=source,
        nodes=nodes,
    )


def _nodes(texts: list, images: list, meta: list[dict[str, Any]]) -> Iterator[Node]:
    """Text and image nodes in order; blank text blocks carry nothing and are dropped."""
    for i, (text, src) in enumerate(zip(texts, images, strict=True)):
        if text is None and src is None:
            raise ObelicsRowError("both_null_node", f"position {i}: text and image both null")
        if text is not None and src is not None:
            raise ObelicsRowError("both_set_node", f"position {i}: text {text[:40]!r} and {src!r}")
        if text is not None:
            if text.strip():
                yield TextNode(text)
            continue
        m = meta[i]
        yield ImageNode(
            src=src or str(m.get("src") or ""),
            alt=str(m.get("alt_text") or ""),
            width=_positive_int(m.get("original_width")),
            height=_positive_int(m.get("original_height")),
        )


def _node_metadata(value: Any, n: int) -> list[dict[str, Any]]:
    """Per-node metadata dicts ({} where absent); ObelicsRowError(bad_metadata_json) if unusable."""
    entries = _json_value(value, list, "metadata")
    if entries is None:
        return [{}] * n
    if len(entries) != n:
        raise ObelicsRowError("bad_metadata_json", f"metadata has {len(entries)} entries for {n}")
    if any(e is not None and not isinstance(e, dict) for e in entries):
        raise ObelicsRowError("bad_metadata_json", "metadata entries must be objects or null")
    return [e or {} for e in entries]


def _json_value(value: Any, kind: type, name: str) -> Any:
    """A JSON string (or an already decoded value) of type `kind`; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ObelicsRowError("bad_metadata_json", f"{name}: {exc}") from exc
    if value is None:
        return None
    if not isinstance(value, kind):
        raise ObelicsRowError("bad_metadata_json", f"{name} is {type(value).__name__}")
    return value


def _positive_int(value: Any) -> int | None:
    """A declared image size; None when absent or not a positive number."""
    try:
        n = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return n if n > 0 else None
