"""Schema versions in Arrow metadata, version checks for readers, and row validation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

NAME_KEY = b"interleaf.schema"
VERSION_KEY = b"interleaf.version"


class SchemaVersionError(ValueError):
    """A file was written with another schema (name or version) than the reader expects."""


class SchemaValidationError(ValueError):
    """A record does not fit its schema; the message names the offending field."""


def versioned(schema: pa.Schema, name: str, version: int) -> pa.Schema:
    """Return `schema` with its interleaf name and version in the Arrow metadata."""
    meta = dict(schema.metadata or {})
    meta[NAME_KEY] = name.encode()
    meta[VERSION_KEY] = str(version).encode()
    return schema.with_metadata(meta)


def schema_identity(schema: pa.Schema) -> tuple[str | None, int | None]:
    """The (name, version) an Arrow schema carries, or (None, None) when it has none."""
    meta = schema.metadata or {}
    name = meta.get(NAME_KEY)
    version = meta.get(VERSION_KEY)
    return (
        name.decode() if name is not None else None,
        int(version) if version is not None and version.isdigit() else None,
    )


def check_schema(found: pa.Schema, expected: pa.Schema, source: str = "<table>") -> None:
    """Raise SchemaVersionError unless `found` carries the name and version of `expected`."""
    want_name, want_version = schema_identity(expected)
    name, version = schema_identity(found)
    if name is None or version is None:
        raise SchemaVersionError(
            f"{source}: no interleaf schema metadata; expected {want_name} v{want_version}. "
            "Was this file written by interleaf?"
        )
    if name != want_name:
        raise SchemaVersionError(f"{source}: holds '{name}' records, expected '{want_name}'")
    if version != want_version:
        raise SchemaVersionError(
            f"{source}: '{name}' schema version {version}, this reader understands version "
            f"{want_version}; rewrite the data with a matching interleaf release"
        )


def read_table(path: str | Path, expected: pa.Schema) -> pa.Table:
    """Read one Parquet file after checking its schema name and version."""
    source = str(path)
    check_schema(pq.read_schema(source), expected, source)
    return pq.read_table(source)


def validate(row: Mapping[str, Any], schema: pa.Schema) -> None:
    """Check a row (dict) against an Arrow schema; raise SchemaValidationError naming the field."""
    _validate_struct(row, list(schema), "")


def _validate_struct(row: Any, fields: list[pa.Field], path: str) -> None:
    if not isinstance(row, Mapping):
        raise SchemaValidationError(
            f"{path or 'record'}: expected a mapping, got {type(row).__name__}"
        )
    names = {f.name for f in fields}
    extra = sorted(set(row) - names)
    if extra:
        raise SchemaValidationError(f"{_join(path, extra[0])}: field not in schema")
    for f in fields:
        where = _join(path, f.name)
        if f.name not in row:
            raise SchemaValidationError(f"{where}: missing")
        _validate_value(row[f.name], f.type, f.nullable, where)


def _validate_value(value: Any, typ: pa.DataType, nullable: bool, where: str) -> None:
    if value is None:
        if not nullable:
            raise SchemaValidationError(f"{where}: null in a non-nullable field")
        return
    if pa.types.is_struct(typ):
        _validate_struct(value, [typ.field(i) for i in range(typ.num_fields)], where)
    elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
        if not isinstance(value, (list, tuple)):
            raise SchemaValidationError(f"{where}: expected a list, got {type(value).__name__}")
        item = typ.value_field
        for i, v in enumerate(value):
            _validate_value(v, item.type, item.nullable, f"{where}[{i}]")
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        _expect(value, str, where)
    elif pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        _expect(value, (bytes, bytearray, memoryview), where)
    elif pa.types.is_boolean(typ):
        _expect(value, bool, where)
    elif pa.types.is_integer(typ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaValidationError(f"{where}: expected int, got {type(value).__name__}")
        bits = typ.bit_width
        lo, hi = (
            (0, 2**bits - 1)
            if pa.types.is_unsigned_integer(typ)
            else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
        if not lo <= value <= hi:
            raise SchemaValidationError(f"{where}: {value} out of range for {typ}")
    elif pa.types.is_floating(typ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaValidationError(f"{where}: expected float, got {type(value).__name__}")
    else:  # pragma: no cover - schemas here use only the types above
        raise SchemaValidationError(f"{where}: unsupported type {typ}")


def _expect(value: Any, types: type | tuple[type, ...], where: str) -> None:
    if not isinstance(value, types):
        raise SchemaValidationError(f"{where}: expected {types}, got {type(value).__name__}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
