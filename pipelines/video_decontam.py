"""Decontamination of `curate video`: drop every clip one of whose frames is a
near-duplicate of an evaluation image.

The whole clip goes, not just the frame: a clip with a hole in it would misstate the
times of its frames. Frames are hashed like crawled images (curation.video.frame_records)
and matched by pipelines.decontam's shared, once-per-process index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.utils import shared

from curation.decontam_report import REASON
from curation.eval_index import DecontamConfig, EvalIndexError
from curation.video import VideoRejected, frame_records
from pipelines.counting import REJECTED
from pipelines.decontam import HITS, DecontamFn, check_eval_index
from pipelines.jobs import CliError
from schemas import SchemaVersionError, VideoSample

SAMPLES = "samples"


class _DropContaminatedClipFn(DecontamFn):
    """VideoSample → itself, or one Rejection when any of its frames is an eval duplicate."""

    def process(self, sample: VideoSample) -> Iterator[Any]:
        self._c.received()
        try:
            records = frame_records(sample)
        except VideoRejected as e:
            yield self._c.reject(e.reason, sample.url, e.detail)
            return
        found = [
            (t, r, m)
            for t, r, m in zip(sample.frame_times, records, self.matches(records), strict=True)
            if m is not None
        ]
        self.progress(len(records), len(found))
        if not found:
            self._c.passed()
            yield sample
            return
        # The whole clip goes: one with a frame cut out would misstate its frame times.
        t, _, closest = min(found, key=lambda f: (f[2].distance, f[0]))
        where = f"frame t={t:.3f}s ({len(found)} of {len(records)} frames match)"
        yield self._c.reject(REASON, sample.url, f"{closest.describe()} at {where}")
        for _, record, m in found:
            yield self.hit(record.url, record, m)


class DropEvalDuplicateClips(beam.PTransform):
    """VideoSamples → those with no eval-duplicate frame on ``samples``; a Rejection per
    dropped clip on ``rejected`` and a DecontamHit per matching frame on ``hits``."""

    def __init__(self, eval_index: str, cfg: DecontamConfig | None = None) -> None:
        super().__init__()
        self._fn = _DropContaminatedClipFn(eval_index, cfg or DecontamConfig(), shared.Shared())

    def expand(self, samples: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return samples | "Decontam" >> beam.ParDo(self._fn).with_outputs(
            REJECTED, HITS, main=SAMPLES
        )


def check_video_eval_index(eval_index: str | None, cfg: DecontamConfig) -> None:
    """Fail at the CLI, not on every worker, on a bad --eval-index or --eval-radius."""

    if not eval_index:
        return
    if not 0 <= cfg.radius <= 64:
        raise CliError(f"--eval-radius {cfg.radius}: a 64-bit hash needs 0..64")
    try:
        check_eval_index(eval_index, cfg)
    except (EvalIndexError, SchemaVersionError, OSError) as e:
        raise CliError(f"--eval-index {eval_index!r}: {e}") from None
