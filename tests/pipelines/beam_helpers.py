"""Small helpers for running composites under TestPipeline and reading counters."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.counting import REJECTED
from pipelines.summary import collect_counters


def run_collect(
    build: Callable[[beam.Pipeline], dict[str, beam.PCollection]],
) -> tuple[dict[str, list[Any]], dict[str, dict[str, int]]]:
    """Run `build` on a TestPipeline; return every named PCollection's elements and counters.

    Elements are gathered with a CombineGlobally(ToList) written to a side list through
    the runner's in-process execution (the DirectRunner runs in this process).
    """
    collected: dict[str, list[Any]] = {}
    p = TestPipeline()
    outputs = build(p)
    for name, pcoll in outputs.items():
        collected[name] = []
        _ = (
            pcoll
            | f"Collect{name}" >> beam.combiners.ToList()
            | f"Store{name}" >> beam.Map(_store, name)
        )
    _SINK.clear()
    result = p.run()
    result.wait_until_finish()
    for name in outputs:
        collected[name] = _SINK.get(name, [])
    return collected, collect_counters(result)


_SINK: dict[str, list[Any]] = {}


def tags(outputs: beam.pvalue.DoOutputsTuple, main: str) -> dict[str, beam.PCollection]:
    """The main and ``rejected`` outputs of a stage, by name."""
    return {main: outputs[main], REJECTED: outputs[REJECTED]}


def _store(items: list[Any], name: str) -> None:
    _SINK[name] = list(items)


def write_warc(records: Iterable[tuple[str, str, bytes, dict[str, str] | None, int]]) -> bytes:
    """A gzipped WARC of (record type, url, body, http headers, status) tuples."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for rtype, url, body, headers, status in records:
        if rtype in ("response", "request"):
            line = f"{status} OK" if rtype == "response" else f"GET {url} HTTP/1.1"
            protocol = "HTTP/1.1" if rtype == "response" else None
            http = StatusAndHeaders(
                line,
                list((headers or {}).items()),
                protocol=protocol,
                is_http_request=rtype == "request",
            )
            rec = writer.create_warc_record(url, rtype, payload=io.BytesIO(body), http_headers=http)
        else:
            rec = writer.create_warc_record(url, rtype, payload=io.BytesIO(body))
        writer.write_record(rec)
    return buf.getvalue()
