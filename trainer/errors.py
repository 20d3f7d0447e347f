"""Trainer exceptions: each carries a machine `reason` (snake_case) and a human `detail`."""

from __future__ import annotations


class TrainerError(Exception):
    """Base class: `reason` is a stable snake_case name, `detail` names the offending value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(TrainerError):
    """A config file, key, value or CLI override is invalid."""


class ModelError(TrainerError):
    """A model (vision encoder, language model, tokenizer) cannot be built as configured."""


class DataError(TrainerError):
    """A dataset cannot be read (wrong schema version, no files, no rows for a worker)."""


class SampleError(TrainerError):
    """One sample cannot be used (bad image bytes, markers not matching images); it is skipped."""


class CheckpointError(TrainerError):
    """A checkpoint is missing, incomplete or does not match the model."""
