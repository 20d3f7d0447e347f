"""Counters and dead-letter outputs shared by every stage.

Each stage counts, in the Beam metrics namespace ``interleaf.<stage>``, the records it
received (``in``), the records it passed on (``out``) and one counter per drop reason
(``rejected.<reason>``); every drop is also emitted on the ``rejected`` tag as a
`schemas.Rejection`, so ``in = out + sum(rejected.*)`` holds per stage and nothing
is lost silently. `pipelines.summary` reads these counters back after the run.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from schemas import Rejection

NAMESPACE_PREFIX = "interleaf."
REJECTED = "rejected"
REJECTED_PREFIX = "rejected."


def namespace(stage: str) -> str:
    return NAMESPACE_PREFIX + stage


class StageCounters:
    """The counters of one stage, created once per DoFn instance."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._ns = namespace(stage)
        self._in = Metrics.counter(self._ns, "in")
        self._out = Metrics.counter(self._ns, "out")
        self._by_reason: dict[str, beam.metrics.metricbase.Counter] = {}

    def received(self, n: int = 1) -> None:
        self._in.inc(n)

    def passed(self, n: int = 1) -> None:
        self._out.inc(n)

    def count(self, name: str, n: int = 1) -> None:
        """An extra counter on this stage that is not part of in/out accounting."""
        Metrics.counter(self._ns, name).inc(n)

    def admit(self, item: Any) -> Any:
        """Count one record from a reader: a Rejection becomes the dead-letter output to
        yield, anything else passes and is returned as it is."""
        self.received()
        if isinstance(item, Rejection):
            return self.reject(item.reason, item.key, item.detail)
        self.passed()
        return item

    def reject(self, reason: str, key: str, detail: str = "") -> TaggedOutput:
        """Count a drop and return the tagged dead-letter output to yield."""
        counter = self._by_reason.get(reason)
        if counter is None:
            counter = Metrics.counter(self._ns, REJECTED_PREFIX + reason)
            self._by_reason[reason] = counter
        counter.inc()
        return TaggedOutput(REJECTED, Rejection(self.stage, reason, key, detail[:2000]))
