"""Writing records to Parquet shards with their versioned schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import REJECTION_SCHEMA, rejection_to_row

SHARD_TEMPLATE = "-SSSSS-of-NNNNN"


class WriteRecords(beam.PTransform):
    """Records → ``<output>/<name>-SSSSS-of-NNNNN.parquet`` with `schema` (and its version)."""

    def __init__(
        self,
        output_dir: str,
        name: str,
        schema: pa.Schema,
        to_row: Callable[[Any], dict[str, Any]],
        num_shards: int = 0,
    ) -> None:
        super().__init__()
        self._prefix = FileSystems.join(output_dir, name)
        self._schema, self._to_row, self._num_shards = schema, to_row, num_shards

    def expand(self, records: beam.PCollection) -> beam.pvalue.PDone:
        return (
            records
            | "ToRows" >> beam.Map(self._to_row)
            | "Parquet"
            >> beam.io.WriteToParquet(
                self._prefix,
                self._schema,
                file_name_suffix=".parquet",
                num_shards=self._num_shards,
                shard_name_template=SHARD_TEMPLATE,
                # Rows carry image bytes; keep row groups small enough to stream.
                row_group_buffer_size=32 * 1024 * 1024,
            )
        )


class WriteRejections(beam.PTransform):
    """Rejections → ``<output>/rejections-*.parquet``."""

    def __init__(self, output_dir: str, num_shards: int = 0) -> None:
        super().__init__()
        self._output_dir, self._num_shards = output_dir, num_shards

    def expand(self, rejections: beam.PCollection) -> beam.pvalue.PDone:
        return rejections | WriteRecords(
            self._output_dir, "rejections", REJECTION_SCHEMA, rejection_to_row, self._num_shards
        )
