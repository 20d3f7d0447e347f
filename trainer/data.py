"""Streams Parquet shards of M3W / pair / video samples: sharded, batched, resumable."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from schemas.base import SchemaVersionError, check_schema, schema_identity
from schemas.tables import M3W_SCHEMA, PAIR_SCHEMA, VIDEO_SCHEMA
from trainer.config import DatasetConfig
from trainer.errors import DataError, SampleError
from trainer.samples import (
    Batch,
    Example,
    Preprocess,
    collate,
    m3w_example,
    pair_example,
    video_example,
)
from trainer.tokenizer import SpecialIds

SCHEMA_OF_KIND = {"m3w": M3W_SCHEMA, "pairs": PAIR_SCHEMA, "video": VIDEO_SCHEMA}
COLUMNS_OF_KIND = {
    "m3w": ["doc_id", "chunk_index", "text", "images"],
    "pairs": ["sample_id", "image", "caption"],
    "video": ["sample_id", "frames", "caption"],
}
# Read when a file has them: without them the samples are still usable (a video's frames
# are then spaced by index, see samples.pick_frames).
OPTIONAL_COLUMNS_OF_KIND = {"m3w": [], "pairs": [], "video": ["frame_times"]}


@dataclass(frozen=True)
class Unit:
    """One row group of one Parquet file: the smallest piece a worker reads."""

    path: str
    row_group: int
    num_rows: int


def kind_files(path: str, kind: str) -> list[tuple[str, pa.Schema]]:
    """The Parquet files under `path` that hold `kind` records, each with its Arrow schema.

    A curation output directory holds rejections and a summary.json beside its samples, so
    non-Parquet files and files of another interleaf record type are passed over; a file of
    the right type in another version, or one without interleaf metadata, is an error.
    """
    if not Path(path).exists():
        raise DataError("data_path_missing", f"{path}: no such file or directory")
    dataset = pads.dataset(path, format="parquet", exclude_invalid_files=True)
    expected = SCHEMA_OF_KIND[kind]
    want, _ = schema_identity(expected)
    files: list[tuple[str, pa.Schema]] = []
    others: Counter[str] = Counter()
    for fragment in sorted(dataset.get_fragments(), key=lambda f: f.path):
        schema = fragment.physical_schema
        name, _ = schema_identity(schema)
        if name is not None and name != want:
            others[name] += 1
            continue
        try:
            check_schema(schema, expected, fragment.path)
        except SchemaVersionError as e:
            raise DataError("schema_mismatch", str(e)) from e
        files.append((fragment.path, schema))
    if not files and others:
        found = ", ".join(f"{n} file(s) of '{name}'" for name, n in sorted(others.items()))
        raise DataError("schema_mismatch", f"{path}: no '{want}' files, only {found}")
    return files


def discover_units(path: str, kind: str) -> list[Unit]:
    """Every row group of the `kind` files under `path` (see kind_files for the checks)."""
    units = []
    for file, schema in kind_files(path, kind):
        missing = [c for c in COLUMNS_OF_KIND[kind] if c not in schema.names]
        if missing:
            raise DataError("missing_column", f"{file}: no column '{missing[0]}'")
        meta = pq.ParquetFile(file).metadata
        for i in range(meta.num_row_groups):
            if meta.row_group(i).num_rows:
                units.append(Unit(file, i, meta.row_group(i).num_rows))
    if not units:
        raise DataError("no_rows", f"{path}: no Parquet rows")
    return units


class SampleStream:
    """The endless, reproducible row sequence of one slot (rank × worker) of a dataset.

    Each epoch shuffles row groups with a generator seeded by (seed, epoch) and the rows of
    a row group by (seed, epoch, unit), so the position (epoch, unit, row) is the whole
    state: the RNG is recomputed, never stored. With fewer row groups than slots, each
    row group is split into interleaved parts so that no two slots read the same row.
    """

    def __init__(
        self, units: list[Unit], slot: int, num_slots: int, seed: int, columns: list[str]
    ) -> None:
        self.units = units
        self.slot = slot
        self.num_slots = num_slots
        self.seed = seed
        self.columns = columns
        self.parts = max(1, math.ceil(num_slots / len(units)))
        self.epoch = 0
        self.position = 0  # index into this slot's plan for the epoch
        self.row = 0  # rows of the current part already returned
        self._plan_epoch: int | None = None
        self._plan: list[int] = []
        self._loaded: tuple[int, int] | None = None
        self._rows: list[dict[str, Any]] = []
        self._order: np.ndarray = np.zeros(0, dtype=np.int64)
        self._empty_epochs = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "row": self.row}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self.row = state["epoch"], state["position"], state["row"]

    def _part_rows(self, virtual: int) -> int:
        unit_index, part = divmod(virtual, self.parts)
        return len(range(part, self.units[unit_index].num_rows, self.parts))

    def _epoch_plan(self) -> list[int]:
        if self._plan_epoch != self.epoch:
            total = len(self.units) * self.parts
            order = np.random.default_rng([self.seed, self.epoch]).permutation(total)
            self._plan = [int(v) for v in order[self.slot :: self.num_slots]]
            self._plan_epoch = self.epoch
            if sum(self._part_rows(v) for v in self._plan) == 0:
                self._empty_epochs += 1
                if self._empty_epochs > 8:
                    raise DataError(
                        "no_rows_for_slot",
                        f"slot {self.slot}/{self.num_slots} gets no rows from "
                        f"{len(self.units)} row groups; use fewer workers/ranks or more rows",
                    )
        return self._plan

    def _load(self, virtual: int) -> None:
        key = (self.epoch, virtual)
        if self._loaded == key:
            return
        unit_index, part = divmod(virtual, self.parts)
        unit = self.units[unit_index]
        file = pq.ParquetFile(unit.path)
        # Required columns were checked by discover_units; optional ones may be absent.
        columns = [c for c in self.columns if c in file.schema_arrow.names]
        table = file.read_row_group(unit.row_group, columns=columns)
        self._rows = table.to_pylist()
        rng = np.random.default_rng([self.seed, self.epoch, unit_index])
        self._order = rng.permutation(len(self._rows))[part :: self.parts]
        self._loaded = key

    def next_row(self) -> dict[str, Any]:
        """The next row of this slot; moves to the next part, unit and epoch as needed."""
        while True:
            plan = self._epoch_plan()
            if self.position >= len(plan):
                self.epoch, self.position, self.row = self.epoch + 1, 0, 0
                continue
            self._load(plan[self.position])
            if self.row >= len(self._order):
                self.position, self.row = self.position + 1, 0
                continue
            row = self._rows[int(self._order[self.row])]
            self.row += 1
            return row


class BatchStream(IterableDataset):
    """Batches of one dataset for this rank; each DataLoader worker plays one `role`.

    Worker w plays role (w + role_offset) % workers, so a resumed loader, which always
    starts with worker 0, continues with the role whose batch was due next.
    """

    def __init__(
        self,
        cfg: DatasetConfig,
        units: list[Unit],
        tokenizer: Any,
        ids: SpecialIds,
        preprocess: Preprocess,
        rank: int,
        world: int,
        workers: int,
        seed: int,
        role_offset: int = 0,
        role_states: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.cfg, self.units, self.tokenizer, self.ids = cfg, units, tokenizer, ids
        self.preprocess = preprocess
        self.rank, self.world, self.workers, self.seed = rank, world, workers, seed
        self.role_offset = role_offset
        self.role_states = role_states or {}

    def example(self, row: dict[str, Any]) -> Example:
        """Format one row by dataset kind."""
        c = self.cfg
        if c.kind == "m3w":
            return m3w_example(
                row, self.tokenizer, self.ids, self.preprocess, c.max_tokens, c.max_images
            )
        if c.kind == "pairs":
            return pair_example(row, self.tokenizer, self.ids, self.preprocess, c.max_tokens)
        return video_example(row, self.tokenizer, self.ids, self.preprocess, c.max_tokens, c.frames)

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        role = (worker + self.role_offset) % self.workers
        slot = self.rank * self.workers + role
        stream = SampleStream(
            self.units,
            slot,
            self.world * self.workers,
            self.seed,
            COLUMNS_OF_KIND[self.cfg.kind] + OPTIONAL_COLUMNS_OF_KIND[self.cfg.kind],
        )
        saved = self.role_states.get(role)
        skipped: Counter[str] = Counter()
        if saved is not None:
            stream.load_state_dict(saved["stream"])
            skipped.update(saved["skipped"])
        while True:
            examples = []
            while len(examples) < self.cfg.batch_size:
                try:
                    examples.append(self.example(stream.next_row()))
                except SampleError as e:
                    skipped[e.reason] += 1  # logged by the trainer, per dataset and reason
            batch = collate(examples, self.ids)
            batch.state = {"role": role, "stream": stream.state_dict(), "skipped": dict(skipped)}
            yield batch


class DatasetLoader:
    """A DataLoader over one dataset that remembers, per worker role, how far it has read."""

    def __init__(
        self,
        cfg: DatasetConfig,
        tokenizer: Any,
        ids: SpecialIds,
        preprocess: Preprocess,
        rank: int = 0,
        world: int = 1,
        num_workers: int = 0,
        seed: int = 0,
        prefetch_factor: int = 2,
        pin_memory: bool = False,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.workers = max(1, num_workers)
        self.layout = {"world": world, "workers": self.workers, "seed": seed}
        offset, roles = 0, {}
        if state is not None:
            if state["layout"] != self.layout:
                raise DataError(
                    "data_layout_changed",
                    f"{cfg.name}: checkpoint read with {state['layout']}, now {self.layout}",
                )
            offset = state["next_role"]
            roles = {int(k): v for k, v in state["roles"].items()}
        self.next_role = offset
        self.roles: dict[int, dict[str, Any]] = dict(roles)
        units = discover_units(cfg.path or "", cfg.kind)
        dataset = BatchStream(
            cfg, units, tokenizer, ids, preprocess, rank, world, self.workers, seed, offset, roles
        )
        self.loader = DataLoader(
            dataset,
            batch_size=None,
            num_workers=num_workers,
            prefetch_factor=prefetch_factor if num_workers > 0 else None,
            persistent_workers=num_workers > 0,
            pin_memory=pin_memory,
        )
        self._iter: Iterator[Batch] | None = None

    def __next__(self) -> Batch:
        if self._iter is None:
            self._iter = iter(self.loader)
        batch = next(self._iter)
        role = batch.state["role"]
        self.roles[role] = {"stream": batch.state["stream"], "skipped": batch.state["skipped"]}
        self.next_role = (role + 1) % self.workers
        return batch

    def close(self) -> None:
        """Stop the worker processes (dropping the iterator shuts them down)."""
        self._iter = None

    def skipped(self) -> dict[str, int]:
        """Samples skipped so far, by reason, over all roles of this rank."""
        total: Counter[str] = Counter()
        for state in self.roles.values():
            total.update(state["skipped"])
        return dict(total)

    def state_dict(self) -> dict[str, Any]:
        """Where every role stands after the last batch handed to the trainer."""
        return {
            "layout": dict(self.layout),
            "next_role": self.next_role,
            "roles": {str(k): v for k, v in self.roles.items()},
        }
