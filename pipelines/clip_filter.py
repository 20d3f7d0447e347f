"""The optional CLIP-score stage of `curate pairs` (DataComp-style filtering).

Threshold mode is one pass: score, compare. Top-fraction mode needs the score
distribution of the whole dataset first: pass one scores every pair and feeds the scores
to an approximate-quantiles combiner; pass two keeps the pairs at or above the cutoff read
from that combiner as a side input. Both passes count under the stage ``clip``:
the scorer counts what comes in, the keep step what goes out or is rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.transforms.stats import ApproximateQuantiles

from curation.clip_score import ClipFilterConfig, ClipScorer, keep_score, top_fraction_cutoff
from pipelines.counting import REJECTED, StageCounters
from schemas import PairSample

log = logging.getLogger(__name__)
STAGE = "clip"
SCORED = "scored"


class _ScoreFn(beam.DoFn):
    """A batch of pairs → (pair, cosine score); unreadable images are rejected."""

    def __init__(self, cfg: ClipFilterConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters(STAGE)
        self._scorer = ClipScorer(self._cfg)  # the model loads once per worker

    def process(self, batch: Sequence[PairSample]) -> Iterator[Any]:
        self._c.received(len(batch))
        scores = self._scorer.score([p.image.bytes for p in batch], [p.caption for p in batch])
        for pair, score in zip(batch, scores, strict=True):
            if score is None:
                yield self._c.reject("clip_image_error", pair.url, "the image did not decode")
            else:
                yield pair, score


class _KeepFn(beam.DoFn):
    """(pair, score) → the pair when score >= cutoff, else a rejection naming both."""

    def __init__(self, rule: str) -> None:
        self._rule = rule  # "threshold" or "top_fraction", for the reason and the log

    def setup(self) -> None:
        self._c = StageCounters(STAGE)
        self._logged = False

    def process(self, scored: tuple[PairSample, float], cutoff: float) -> Iterator[Any]:
        if not self._logged:
            self._logged = True
            log.info("CLIP %s cutoff: %.4f", self._rule, cutoff)
        pair, score = scored
        if keep_score(score, cutoff):
            self._c.passed()
            yield pair
        else:
            detail = f"score={score:.4f} < {self._rule} cutoff {cutoff:.4f}"
            yield self._c.reject(f"clip_below_{self._rule}", pair.url or pair.sample_id, detail)


class ClipFilter(beam.PTransform):
    """PairSamples → those whose CLIP score passes (main output ``pairs``) and rejections."""

    def __init__(self, cfg: ClipFilterConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, pairs: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        cfg = self._cfg
        scored = (
            pairs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=cfg.batch_size)
            | "Score" >> beam.ParDo(_ScoreFn(cfg)).with_outputs(REJECTED, main=SCORED)
        )
        if cfg.threshold is not None:
            kept = scored[SCORED] | "Keep" >> beam.ParDo(
                _KeepFn("threshold"), cutoff=float(cfg.threshold)
            ).with_outputs(REJECTED, main="pairs")
        else:
            cutoff = (
                scored[SCORED]
                | "Scores" >> beam.Map(lambda ps: ps[1])
                | "Quantiles" >> ApproximateQuantiles.Globally(cfg.num_quantiles)
                | "Cutoff" >> beam.Map(top_fraction_cutoff, cfg.top_fraction)
            )
            kept = scored[SCORED] | "Keep" >> beam.ParDo(
                _KeepFn("top_fraction"), cutoff=beam.pvalue.AsSingleton(cutoff)
            ).with_outputs(REJECTED, main="pairs")
        rejected = (scored[REJECTED], kept[REJECTED]) | "Rejections" >> beam.Flatten()
        return kept["pairs"], rejected
