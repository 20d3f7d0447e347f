"""The image stage of M3W: resolve every image a document references, once per URL.

Image URLs are grouped across documents (CoGroupByKey), so an image shared by many
pages is fetched and hashed once; the results are joined back onto the documents by
doc_id. Sources, in order: an image record of the same WARC input, a local mirror
directory, HTTP(S) through the hardened client.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import apache_beam as beam

from curation.fetch import FetchConfig, FetchError, HttpFetcher
from curation.images import ImageConfig, ImageRejected, process_image
from curation.mirror import read_from_mirror
from pipelines.counting import REJECTED, StageCounters
from schemas import Document, ImageNode, ImageRecord, WarcImage

RESOLVED = "resolved"


def image_refs(doc: Document) -> Iterator[tuple[str, str]]:
    """(image URL, doc_id) for every distinct image URL of a document."""
    seen: set[str] = set()
    for node in doc.images:
        if node.src not in seen:
            seen.add(node.src)
            yield node.src, doc.doc_id


def attach_images(doc: Document, resolved: Iterable[tuple[str, ImageRecord | None]]) -> Document:
    """Put each resolved ImageRecord on its node; nodes whose image failed leave the document."""
    by_url = dict(resolved)
    nodes = []
    for node in doc.nodes:
        if isinstance(node, ImageNode):
            record = by_url.get(node.src)
            if record is None:
                continue
            node = replace(node, image=record)
        nodes.append(node)
    return replace(doc, nodes=tuple(nodes))


class _ResolveImageFn(beam.DoFn):
    """(url, {refs: [doc_id…], warc: [WarcImage…]}) → (doc_id, (url, record | None))."""

    def __init__(
        self, image: ImageConfig, fetch: FetchConfig, mirror_dir: str | None, fetch_http: bool
    ) -> None:
        self._image, self._fetch = image, fetch
        self._mirror_dir, self._fetch_http = mirror_dir, fetch_http

    def setup(self) -> None:
        self._c = StageCounters("images")
        self._fetcher = HttpFetcher(self._fetch) if self._fetch_http else None

    def teardown(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        url, groups = element
        doc_ids = sorted(set(groups["refs"]))
        warc_images: list[WarcImage] = sorted(groups["warc"], key=lambda w: w.source)
        self._c.received()
        if not doc_ids:
            yield self._c.reject(
                "unreferenced_warc_image", url, "no kept document references this WARC image"
            )
            return
        record, rejection = self._resolve(url, warc_images, len(doc_ids))
        if rejection is not None:
            yield rejection
        else:
            self._c.passed()
        for doc_id in doc_ids:
            yield doc_id, (url, record)

    def _resolve(
        self, url: str, warc_images: list[WarcImage], n_docs: int
    ) -> tuple[ImageRecord | None, Any]:
        where = f"referenced by {n_docs} document(s)"
        try:
            data, origin = self._bytes(url, warc_images)
        except FetchError as e:
            return None, self._c.reject(e.reason, url, f"{e.detail}; {where}")
        if data is None:
            return None, self._c.reject("not_available", url, f"not in WARC or mirror; {where}")
        try:
            record = process_image(data, url, self._image)
        except ImageRejected as e:
            return None, self._c.reject(e.reason, url, f"{e.detail}; from {origin}; {where}")
        self._c.count(f"source.{origin}")
        return record, None

    def _bytes(self, url: str, warc_images: list[WarcImage]) -> tuple[bytes | None, str]:
        if warc_images:
            return warc_images[0].content, "warc"
        if self._mirror_dir:
            data = read_from_mirror(self._mirror_dir, url)
            if data is not None:
                return data, "mirror"
        if self._fetcher is not None and url.startswith(("http://", "https://")):
            return self._fetcher.fetch(url).data, "http"
        return None, "none"


def _attach(element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Document]:
    _, groups = element
    resolved = list(groups["images"])
    for doc in groups["docs"]:
        yield attach_images(doc, resolved)


class FetchImages(beam.PTransform):
    """Documents (+ WARC image records) → documents whose image nodes carry ImageRecords.

    Returns (documents, rejections).
    """

    def __init__(
        self,
        warc_images: beam.PCollection,
        image: ImageConfig,
        fetch: FetchConfig,
        mirror_dir: str | None = None,
        fetch_http: bool = True,
    ) -> None:
        super().__init__()
        self._warc_images = warc_images
        self._fn = _ResolveImageFn(image, fetch, mirror_dir, fetch_http)

    def expand(self, docs: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        refs = docs | "Refs" >> beam.FlatMap(image_refs)
        warc = self._warc_images | "KeyWarc" >> beam.Map(lambda w: (w.url, w))
        resolved = (
            {"refs": refs, "warc": warc}
            | "GroupByUrl" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(self._fn).with_outputs(REJECTED, main=RESOLVED)
        )
        keyed_docs = docs | "KeyDocs" >> beam.Map(lambda d: (d.doc_id, d))
        attached = (
            {"docs": keyed_docs, "images": resolved[RESOLVED]}
            | "GroupByDoc" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(_attach)
        )
        return attached, resolved[REJECTED]
