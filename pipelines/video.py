"""The video job (`curate video`): a list of (clip, caption) rows → VTP-style VideoSamples.

Stages: ``read`` (list rows → VideoRefs), ``filter_caption`` (the caption filters of
`curate pairs`, before any clip is fetched, so a junk caption costs no download),
``video`` (fetch or open each clip, probe, sample JPEG frames with ffmpeg) and, with
``--eval-index``, ``decontam`` (drop every clip one of whose frames is a near-duplicate
of an eval image). Each drop is a counted Rejection, so per stage ``in = out + rejected``
and, over the job, rows in = samples + rejections.
"""

from __future__ import annotations

import argparse
import logging
import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from curation.captions import CaptionFilterConfig
from curation.eval_index import DecontamConfig
from curation.fetch import FetchConfig, FetchError, HttpFetcher
from curation.ffmpeg_tools import FfmpegTools, ToolError, find_tools
from curation.url_lists import UrlListConfig
from curation.video import (
    SampledClip,
    VideoConfig,
    VideoRef,
    VideoRejected,
    sample_video_bytes,
    sample_video_file,
    to_video_sample,
)
from pipelines.counting import REJECTED, StageCounters
from pipelines.decontam import HITS, WriteDecontamHits
from pipelines.io import WriteRecords, WriteRejections
from pipelines.jobs import (
    CliError,
    add_eval_options,
    add_network_option,
    add_output_options,
    prepare_output,
    run_job,
)
from pipelines.pair_inputs import FilterCaptions, add_caption_filter_options, caption_filter_config
from pipelines.summary import (
    Balance,
    build_summary,
    describe_outputs,
)
from pipelines.video_decontam import SAMPLES, DropEvalDuplicateClips, check_video_eval_index
from pipelines.video_inputs import LIST_FORMATS, REFS, ReadVideoList, clip_key, expand_lists
from schemas import VIDEO_SCHEMA, video_sample_to_row

log = logging.getLogger(__name__)

VIDEO_STAGES = ("read", "filter_caption", "video", "decontam")
OUTPUT_NAMES = ("samples", "rejections", "decontam-hits")


@dataclass(frozen=True)
class VideoJobConfig:
    """Everything `curate video` needs."""

    inputs: tuple[str, ...]
    output: str
    video_column: str = "url"
    caption_column: str = "caption"
    fetch_http: bool = True
    num_shards: int = 0  # 0 lets the runner decide
    eval_index: str | None = None  # eval-set index: drop clips with an eval image as a frame
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    captions: CaptionFilterConfig = field(default_factory=CaptionFilterConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)


def video_fetch_config(video: VideoConfig, allow_networks: tuple[str, ...] = ()) -> FetchConfig:
    """The image client's guards, with a video's byte cap, Accept header and patience."""
    return replace(
        FetchConfig(),
        max_bytes=video.max_bytes,
        accept="video/*,application/octet-stream;q=0.8,*/*;q=0.5",
        total_timeout_s=120.0,  # 256 MiB at ~20 Mbit/s; a trickling server is still cut off
        allow_networks=allow_networks,
    )


# ---------------------------------------------------------------- sample


def _local_path(url: str) -> str | None:
    """The filesystem path of a plain path or file:// URL; None for any other scheme."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return unquote(parts.path)
    return url if not parts.scheme else None


def _suffix(url: str) -> str:
    """The file extension of a URL's path (a hint for ffmpeg), kept only when it is tame."""
    ext = posixpath.splitext(urlsplit(url).path)[1].lower()
    return ext if 1 < len(ext) <= 6 and ext[1:].isalnum() else ""


class _SampleClipFn(beam.DoFn):
    """VideoRef → VideoSample, or a Rejection naming why the clip was dropped."""

    PROGRESS_EVERY_S = 10.0

    def __init__(self, video: VideoConfig, fetch: FetchConfig, fetch_http: bool) -> None:
        self._video, self._fetch, self._fetch_http = video, fetch, fetch_http

    def setup(self) -> None:
        self._c = StageCounters("video")
        self._tools: FfmpegTools = find_tools()  # fails the worker at start-up, not per clip
        self._fetcher = HttpFetcher(self._fetch) if self._fetch_http else None
        self._done, self._last_log = 0, time.monotonic()

    def teardown(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()

    def process(self, ref: VideoRef) -> Iterator[Any]:
        self._c.received()
        try:
            clip = self._sample(ref)
        except FetchError as e:
            yield self._c.reject(f"fetch:{e.reason}", ref.url, f"{e.detail}; row {ref.key}")
            return
        except VideoRejected as e:
            yield self._c.reject(e.reason, ref.url, f"{e.detail}; row {ref.key}")
            return
        finally:
            self._progress()
        self._c.passed()
        self._c.count("frames", len(clip.frames))
        yield to_video_sample(clip, ref)

    def _sample(self, ref: VideoRef) -> SampledClip:
        local = _local_path(ref.url)
        if local is not None:
            self._c.count("source.local")
            return sample_video_file(local, self._video, self._tools)
        if urlsplit(ref.url).scheme in ("http", "https"):
            if self._fetcher is None:
                raise VideoRejected("http_disabled", "--no-http was given")
            self._c.count("source.http")
            data = self._fetcher.fetch(ref.url).data
            return sample_video_bytes(data, self._video, self._tools, _suffix(ref.url))
        self._c.count("source.filesystem")
        return sample_video_bytes(self._read_remote(ref.url), self._video, self._tools)

    def _read_remote(self, url: str) -> bytes:
        """A clip on another Beam filesystem (gs://, s3:// …), read under the byte cap."""
        try:
            with FileSystems.open(url) as f:
                data = f.read(self._video.max_bytes + 1)
        except (OSError, ValueError) as e:  # ValueError: no filesystem for the scheme
            raise VideoRejected("unreadable_file", f"{type(e).__name__}: {e}") from None
        if len(data) > self._video.max_bytes:
            raise VideoRejected("too_large", f"more than {self._video.max_bytes} bytes")
        return data

    def _progress(self) -> None:
        self._done += 1
        if time.monotonic() - self._last_log >= self.PROGRESS_EVERY_S:
            self._last_log = time.monotonic()
            log.info("video: %d clips done on this worker", self._done)


class SampleClips(beam.PTransform):
    """VideoRefs → VideoSamples on ``samples`` and Rejections on ``rejected``."""

    def __init__(self, video: VideoConfig, fetch: FetchConfig, fetch_http: bool = True) -> None:
        super().__init__()
        self._fn = _SampleClipFn(video, fetch, fetch_http)

    def expand(self, refs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return (
            refs
            # One list file yields all its rows in one bundle; spread the clips over workers.
            | "Spread" >> beam.Reshuffle()
            | "Sample" >> beam.ParDo(self._fn).with_outputs(REJECTED, main=SAMPLES)
        )


def build_video(pipeline: beam.Pipeline, cfg: VideoJobConfig) -> None:
    """Add the whole video job to `pipeline`; outputs go to ``cfg.output``."""
    columns = UrlListConfig(url_column=cfg.video_column, caption_column=cfg.caption_column)
    read = pipeline | "ReadVideoList" >> ReadVideoList(cfg.inputs, columns)
    # Before SampleClips: a clip whose caption is dropped is never fetched nor decoded.
    captioned = read[REFS] | "FilterCaptions" >> FilterCaptions(cfg.captions, clip_key, REFS)
    sampled = captioned[REFS] | "SampleClips" >> SampleClips(cfg.video, cfg.fetch, cfg.fetch_http)
    samples = sampled[SAMPLES]
    rejections = [read[REJECTED], captioned[REJECTED], sampled[REJECTED]]
    if cfg.eval_index:
        clean = samples | "DropEvalDuplicates" >> DropEvalDuplicateClips(
            cfg.eval_index, cfg.decontam
        )
        samples = clean[SAMPLES]
        rejections.append(clean[REJECTED])
        _ = clean[HITS] | "WriteDecontamHits" >> WriteDecontamHits(cfg.output, cfg.num_shards)
    _ = samples | "WriteSamples" >> WriteRecords(
        cfg.output, "samples", VIDEO_SCHEMA, video_sample_to_row, cfg.num_shards
    )
    all_rejections = tuple(rejections) | "AllRejections" >> beam.Flatten()
    _ = all_rejections | "WriteRejections" >> WriteRejections(cfg.output)


# ---------------------------------------------------------------- CLI

VIDEO_EXAMPLES = """examples:
  curate video --input videos.parquet --video-column url --caption-column caption \\
      --output video/
  curate video --input 'lists/*.csv' --output video/ --fps 1 --max-frames 8 --overwrite
  curate video ... --eval-index eval-index/       (drop clips showing an eval image)
  curate video ... --languages en --min-words 5   (caption filters, as in curate pairs)
  curate video ... --direct_running_mode=multi_processing --direct_num_workers=4
  curate video ... --runner DataflowRunner --project P --region R \\
      --temp_location gs://B/tmp --setup_file ./setup.py      (see README)

The video column holds http(s) URLs, local paths (relative ones are resolved against the
list's directory), file:// URLs or paths on another Beam filesystem (gs://, s3://).
Outputs: OUTPUT/samples-*.parquet (VideoSamples: JPEG frames + times + caption),
OUTPUT/rejections-*.parquet, OUTPUT/summary.json; with --eval-index also
OUTPUT/decontam-hits-*.parquet (for `curate decontam-report`). Unknown --options go to
Apache Beam."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``curate video``."""
    d = VideoConfig()
    p = sub.add_parser(
        "video",
        help="video + caption list → VTP-style frame samples (Parquet)",
        description="Sample JPEG frames at a fixed rate (Flamingo VTP: 1 FPS, capped and spread "
        "evenly over longer clips) from the clips of a CSV/TSV/Parquet/JSONL list. Captions "
        "are filtered first, as in `curate pairs`, so a rejected caption's clip is never "
        "fetched.",
        epilog=VIDEO_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="PATTERN",
        help=f"list file or glob ({', '.join(LIST_FORMATS)}, optionally .gz); repeatable",
    )
    p.add_argument("--output", required=True, help="output directory (local or gs://, s3://)")
    p.add_argument("--video-column", default="url", help="column with the clip location")
    p.add_argument("--caption-column", default="caption", help="column with the caption")
    p.add_argument(
        "--fps", type=float, default=d.fps, help="frames per second (default %(default)s)"
    )
    p.add_argument(
        "--max-frames",
        type=int,
        default=d.max_frames,
        help="frames per clip; longer clips are sampled evenly (default %(default)s)",
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=d.max_side,
        help="resize frames so their longer side is at most this (default %(default)s)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=d.time_limit_s,
        metavar="SECONDS",
        help="ffmpeg time per clip before it is killed (default %(default)s)",
    )
    p.add_argument(
        "--max-mb",
        type=float,
        default=d.max_bytes / 2**20,
        help="largest clip accepted, MiB (default %(default)s)",
    )
    p.add_argument("--no-http", action="store_true", help="never fetch clips over the network")
    add_caption_filter_options(p.add_argument_group("caption filters (as in curate pairs)"))
    add_network_option(p)
    add_eval_options(p, "clips", DecontamConfig.radius)
    add_output_options(p)
    p.set_defaults(func=run_video)


def video_job_config(args: argparse.Namespace, inputs: list[str]) -> VideoJobConfig:
    """The job config from parsed options; CliError on impossible values."""

    try:
        video = replace(
            VideoConfig(),
            fps=args.fps,
            max_frames=args.max_frames,
            max_side=args.max_side,
            time_limit_s=args.time_limit,
            max_bytes=int(args.max_mb * 2**20),
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    return VideoJobConfig(
        inputs=tuple(inputs),
        output=args.output,
        video_column=args.video_column,
        caption_column=args.caption_column,
        fetch_http=not args.no_http,
        num_shards=args.num_shards,
        video=video,
        fetch=video_fetch_config(video, args.allow_network),
        eval_index=args.eval_index,
        decontam=replace(DecontamConfig(), radius=args.eval_radius),
        captions=caption_filter_config(args),
    )


def video_stages(cfg: VideoJobConfig) -> tuple[str, ...]:
    """The stages this job runs, in order (decontam only with an eval index)."""
    return VIDEO_STAGES if cfg.eval_index else tuple(s for s in VIDEO_STAGES if s != "decontam")


def video_balance(stages: tuple[str, ...]) -> Balance:
    """Clips in (rows read) = clips out of the last stage + clips rejected at any stage."""
    return Balance("clips", (("read", "in"),), (stages[-1], "out"), stages)


def video_summary(counters: dict[str, dict[str, int]], cfg: VideoJobConfig) -> dict[str, Any]:
    """summary.json for a video run: per-stage counts plus clips in = kept + rejected."""
    stages = video_stages(cfg)
    names = OUTPUT_NAMES if cfg.eval_index else OUTPUT_NAMES[:2]
    summary = build_summary(
        counters, stages, describe_outputs(cfg.output, names), video_balance(stages)
    )
    summary["clips"]["frames"] = counters.get("video", {}).get("frames", 0)
    return summary


def run_video(args: argparse.Namespace, beam_args: list[str]) -> int:
    """`curate video`: run the job, write summary.json, print the table."""
    columns = UrlListConfig(url_column=args.video_column, caption_column=args.caption_column)
    inputs = expand_lists(args.input, columns)
    try:
        tools = find_tools()
    except ToolError as e:
        raise CliError(f"{e.detail}; install ffmpeg or `pip install imageio-ffmpeg`") from None
    cfg = video_job_config(args, inputs)
    check_video_eval_index(cfg.eval_index, cfg.decontam)
    prepare_output(args.output, args.overwrite)
    log.info(
        "sampling clips of %d list(s) with %s (%s) → %s",
        len(inputs),
        tools.ffmpeg,
        tools.source,
        args.output,
    )
    return run_job(
        lambda pipeline: build_video(pipeline, cfg),
        beam_args,
        lambda counters: video_summary(counters, cfg),
        args.output,
        inputs,
    )
