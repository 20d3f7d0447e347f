"""The M3W job: crawl records → interleaved documents → 256-token / 5-image samples → Parquet.

One composite per stage; each DoFn is a thin shell over a pure function in `curation/`
and turns every failure into a counted `Rejection` on the ``rejected`` tag.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from curation.chunking import ChunkConfig, ChunkingError, chunk_document
from curation.dedup import DedupConfig
from curation.eval_index import DecontamConfig
from curation.fetch import FetchConfig
from curation.html import ExtractConfig, ExtractionError, page_to_document
from curation.images import ImageConfig
from curation.language import LanguageConfig, load_language_model
from curation.local_html import HtmlFileError, read_html_file
from curation.obelics import iter_obelics_file
from curation.text_filters import TextFilterConfig, apply_text_filters
from curation.tokenizer import TokenizerError, load_tokenizer, tokenizer_info, tokenizer_name
from curation.warc import iter_warc_stream
from pipelines.counting import REJECTED, StageCounters
from pipelines.decontam import HITS, DropEvalDuplicates, WriteDecontamHits
from pipelines.dedup import CorpusDedup
from pipelines.dedup_images import DedupImages
from pipelines.images import FetchImages
from pipelines.io import WriteRecords, WriteRejections
from schemas import M3W_SCHEMA, Document, RawPage, Rejection, WarcImage, m3w_sample_to_row

log = logging.getLogger(__name__)

PAGES, IMAGES, DOCUMENTS = "pages", "images", "documents"
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
PARQUET_SUFFIXES = (".parquet",)


@dataclass(frozen=True)
class M3WConfig:
    """Everything `curate m3w` needs; defaults follow the Flamingo/OBELICS recipes."""

    inputs: tuple[str, ...]
    output: str
    tokenizer: str
    mirror_dir: str | None = None  # local mirror of image URLs (wget --mirror layout)
    base_url: str | None = None  # page URL for plain HTML files (default: file:// path)
    fetch_http: bool = True  # fetch images missing from the WARC and mirror over HTTP(S)
    num_shards: int = 0  # 0 lets the runner decide
    eval_index: str | None = None  # eval-set index directory: drop near-duplicate images
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    text: TextFilterConfig = field(default_factory=TextFilterConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)


def input_kind(path: str) -> str:
    """'warc', 'html' or 'obelics' from a file name; ValueError for anything else."""
    lower = path.lower()
    if lower.endswith(WARC_SUFFIXES):
        return "warc"
    if lower.endswith(HTML_SUFFIXES):
        return "html"
    if lower.endswith(PARQUET_SUFFIXES):
        return "obelics"
    raise ValueError(
        f"{path}: unknown input type; expected one of "
        f"{', '.join(WARC_SUFFIXES + HTML_SUFFIXES + PARQUET_SUFFIXES)}"
    )


# ---------------------------------------------------------------- read


class _ReadFileFn(beam.DoFn):
    """One input file → pages, WARC images and (OBELICS) documents, or rejections."""

    def __init__(self, base_url: str | None) -> None:
        self._base_url = base_url

    def setup(self) -> None:
        self._c = StageCounters("read")

    def process(self, path: str) -> Iterator[Any]:
        started, n = time.monotonic(), 0
        for item in self._records(path):
            n += 1
            admitted = self._c.admit(item)
            if isinstance(item, Rejection):
                yield admitted
            elif isinstance(item, RawPage):
                self._c.count("pages")
                yield item
            elif isinstance(item, WarcImage):
                self._c.count("images")
                yield beam.pvalue.TaggedOutput(IMAGES, item)
            else:
                self._c.count("documents")
                yield beam.pvalue.TaggedOutput(DOCUMENTS, item)
        log.info("read %s: %d records in %.1fs", path, n, time.monotonic() - started)

    def _records(self, path: str) -> Iterator[RawPage | WarcImage | Document | Rejection]:
        kind = input_kind(path)
        try:
            if kind == "warc":
                # Raw bytes: the WARC reader handles per-record gzip members itself and
                # resynchronises after damage, which a decompressing stream cannot.
                with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    yield from iter_warc_stream(f, path)
            elif kind == "html":
                yield read_html_file(path, self._base_url)
            else:
                yield from iter_obelics_file(path)
        except HtmlFileError as e:
            yield Rejection("read", e.reason, path, str(e))
        except (OSError, ValueError) as e:
            # The file as a whole is unreadable (missing, not Parquet, lacking columns).
            yield Rejection("read", "unreadable_file", path, f"{type(e).__name__}: {e}")


class ReadInputs(beam.PTransform):
    """File patterns → tagged outputs ``pages``, ``images``, ``documents``, ``rejected``."""

    def __init__(self, patterns: Iterable[str], base_url: str | None = None) -> None:
        super().__init__()
        self._patterns = list(patterns)
        self._base_url = base_url

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda m: m.path)
            | "Dedup" >> beam.Distinct()
            # Spread files over workers: a WARC is read by one worker, front to back.
            | "Spread" >> beam.Reshuffle()
            | "Read"
            >> beam.ParDo(_ReadFileFn(self._base_url)).with_outputs(
                REJECTED, IMAGES, DOCUMENTS, main=PAGES
            )
        )


# ---------------------------------------------------------------- extract


class _ExtractFn(beam.DoFn):
    def __init__(self, cfg: ExtractConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._c = StageCounters("extract")

    def process(self, page: RawPage) -> Iterator[Any]:
        self._c.received()
        try:
            doc = page_to_document(page, self._cfg)
        except ExtractionError as e:
            yield self._c.reject(e.reason, page.url, e.detail)
            return
        except Exception as e:  # a parser bug must not kill a web-scale job; keep the evidence
            yield self._c.reject("unexpected_error", page.url, f"{type(e).__name__}: {e}")
            return
        self._c.passed()
        yield doc


class ExtractDocuments(beam.PTransform):
    """RawPage → Document (text blocks and images in DOM order)."""

    def __init__(self, cfg: ExtractConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, pages: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return pages | "Extract" >> beam.ParDo(_ExtractFn(self._cfg)).with_outputs(
            REJECTED, main="documents"
        )


# ---------------------------------------------------------------- filter text


class _FilterTextFn(beam.DoFn):
    def __init__(self, text: TextFilterConfig, language: LanguageConfig) -> None:
        self._text, self._language = text, language

    def setup(self) -> None:
        self._c = StageCounters("filter_text")
        load_language_model()

    def process(self, doc: Document) -> Iterator[Any]:
        self._c.received()
        cleaned, decision = apply_text_filters(doc, self._text, self._language)
        if not decision.keep:
            yield self._c.reject(decision.reason, doc.url, decision.detail)
            return
        self._c.passed()
        yield cleaned


class FilterText(beam.PTransform):
    """Gopher/C4 document filters and language identification."""

    def __init__(self, text: TextFilterConfig, language: LanguageConfig) -> None:
        super().__init__()
        self._text, self._language = text, language

    def expand(self, docs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return docs | "Filter" >> beam.ParDo(
            _FilterTextFn(self._text, self._language)
        ).with_outputs(REJECTED, main="documents")


# ---------------------------------------------------------------- chunk


class _ChunkFn(beam.DoFn):
    PROGRESS_EVERY_S = 5.0

    def __init__(self, tokenizer_path: str, cfg: ChunkConfig) -> None:
        self._path, self._cfg = tokenizer_path, cfg

    def setup(self) -> None:
        self._c = StageCounters("chunk")
        self._tokenizer = load_tokenizer(self._path)
        tokenizer_info(self._tokenizer)  # fail at start-up, not per document, on a bad tokenizer
        self._name = tokenizer_name(self._path)
        self._done, self._samples, self._last_log = 0, 0, time.monotonic()

    def process(self, doc: Document) -> Iterator[Any]:
        self._c.received()
        try:
            samples = chunk_document(doc, self._tokenizer, self._cfg, self._name)
        except (ChunkingError, TokenizerError) as e:
            yield self._c.reject(e.reason, doc.url, e.detail)
            return
        if not samples:
            yield self._c.reject("no_tokens", doc.url, "document has no text or images left")
            return
        self._c.passed()
        self._c.count("samples", len(samples))
        self._c.count("sample_images", sum(len(s.images) for s in samples))
        self._c.count("sample_tokens", sum(s.num_tokens for s in samples))
        yield from samples
        self._progress(len(samples))

    def _progress(self, n_samples: int) -> None:
        # Progress while the job runs: each worker reports what it has chunked so far.
        self._done += 1
        self._samples += n_samples
        now = time.monotonic()
        if now - self._last_log >= self.PROGRESS_EVERY_S:
            self._last_log = now
            log.info("progress: %d documents chunked → %d samples", self._done, self._samples)


class ChunkM3W(beam.PTransform):
    """Documents with resolved images → M3W samples (L tokens, ≤ N images)."""

    def __init__(self, tokenizer_path: str, cfg: ChunkConfig) -> None:
        super().__init__()
        self._fn = _ChunkFn(tokenizer_path, cfg)

    def expand(self, docs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return docs | "Chunk" >> beam.ParDo(self._fn).with_outputs(REJECTED, main="samples")


# ---------------------------------------------------------------- the job


def build_m3w(pipeline: beam.Pipeline, cfg: M3WConfig) -> None:
    """Add the whole M3W job to `pipeline`; outputs go to ``cfg.output``."""
    read = pipeline | "ReadInputs" >> ReadInputs(cfg.inputs, cfg.base_url)
    extracted = read[PAGES] | "ExtractDocuments" >> ExtractDocuments(cfg.extract)
    parsed = (extracted["documents"], read[DOCUMENTS]) | "AllDocuments" >> beam.Flatten()
    filtered = parsed | "FilterText" >> FilterText(cfg.text, cfg.language)
    # Text dedup before images: no image is fetched for a document dropped as a duplicate.
    unique, dedup_rejections = filtered["documents"] | "CorpusDedup" >> CorpusDedup(
        replace(cfg.dedup, images=False)
    )
    with_images, image_rejections = unique | "FetchImages" >> FetchImages(
        read[IMAGES], cfg.image, cfg.fetch, cfg.mirror_dir, cfg.fetch_http
    )
    if cfg.dedup.images:
        deduped = with_images | "DedupImages" >> DedupImages(cfg.dedup.image)
        with_images, image_dedup_rejections = deduped["documents"], deduped[REJECTED]
    else:
        image_dedup_rejections = pipeline | "NoImageDedup" >> beam.Create([])
    # A dropped eval image leaves its document here, before its marker is written.
    clean = with_images | "DropEvalDuplicates" >> DropEvalDuplicates(cfg.eval_index, cfg.decontam)
    chunked = clean["documents"] | "ChunkM3W" >> ChunkM3W(cfg.tokenizer, cfg.chunk)
    if cfg.eval_index:
        _ = clean[HITS] | "WriteDecontamHits" >> WriteDecontamHits(cfg.output, cfg.num_shards)

    _ = chunked["samples"] | "WriteSamples" >> WriteRecords(
        cfg.output, "samples", M3W_SCHEMA, m3w_sample_to_row, cfg.num_shards
    )
    rejections = (
        read[REJECTED],
        extracted[REJECTED],
        filtered[REJECTED],
        dedup_rejections,
        image_rejections,
        image_dedup_rejections,
        clean[REJECTED],
        chunked[REJECTED],
    ) | "AllRejections" >> beam.Flatten()
    _ = rejections | "WriteRejections" >> WriteRejections(cfg.output)
