"""The pairs job (ALIGN / LTIP side of the Flamingo mixture): image-text pairs → Parquet.

    inputs (URL lists, or Parquet / webdataset tars holding image bytes)
      → read → caption filters → download (img2dataset or builtin; skipped for bytes)
      → image validation, resize, hash (as M3W) → [CLIP-score filter] → samples-*.parquet

Captions are judged before any download, so a pair whose caption is "IMG_1234.jpg" costs
no request. Every drop is a counted Rejection, so rows in = samples + rejections.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import apache_beam as beam

from curation.captions import CaptionFilterConfig
from curation.clip_score import ClipError, ClipFilterConfig, check_config, model_name
from curation.eval_index import DecontamConfig, EvalIndexError
from curation.fetch import FetchConfig
from curation.images import ImageConfig
from curation.img2dataset_runner import Img2DatasetConfig
from curation.url_lists import PairSource, UrlListConfig, input_format, needs_download
from pipelines.clip_filter import ClipFilter
from pipelines.counting import REJECTED
from pipelines.decontam import HITS, DropEvalDuplicateImages, WriteDecontamHits, check_eval_index
from pipelines.io import WriteRecords, WriteRejections
from pipelines.jobs import (
    CliError,
    add_eval_options,
    add_network_option,
    add_output_options,
    csv_list,
    prepare_output,
    run_job,
)
from pipelines.pair_downloads import DOWNLOADED, DownloadPairs, ProcessPairImages
from pipelines.pair_inputs import (
    FilterCaptions,
    ReadPairInputs,
    add_caption_filter_options,
    caption_filter_config,
    expand_pair_inputs,
)
from pipelines.summary import (
    Balance,
    build_summary,
    describe_outputs,
)
from schemas import PAIR_SCHEMA, SchemaVersionError, pair_sample_to_row

log = logging.getLogger(__name__)

PAIR_STAGES = ("read", "filter_caption", "download", "images", "decontam", "clip")
OUTPUT_NAMES = ("samples", "rejections", "decontam-hits")


@dataclass(frozen=True)
class PairsConfig:
    """Everything `curate pairs` needs; the defaults of each part live in its own config."""

    inputs: tuple[str, ...]
    output: str
    lists: UrlListConfig = field(default_factory=UrlListConfig)
    downloader: str = "img2dataset"  # or "builtin" (our HttpFetcher, with the SSRF guard)
    shard_size: int = 2000  # ours: URLs per download shard (img2dataset start-up is ~3 imports)
    threads: int = 64  # concurrent requests per shard (img2dataset thread_count, builtin)
    image_threads: int = 4  # ours: images decoded/resized at once per worker
    img2dataset: Img2DatasetConfig = field(default_factory=Img2DatasetConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    captions: CaptionFilterConfig = field(default_factory=CaptionFilterConfig)
    clip: ClipFilterConfig | None = None
    eval_index: str | None = None  # eval-set index: drop pairs whose image is an eval image
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    num_shards: int = 0  # output shards; 0 lets the runner decide
    tmp_dir: str | None = None  # where img2dataset shards are staged (default: system temp)


# ---------------------------------------------------------------- the job


def _has_bytes(src: PairSource, _n: int) -> int:
    return 0 if src.data is not None else 1


def build_pairs(pipeline: beam.Pipeline, cfg: PairsConfig) -> None:
    """Add the whole pairs job to `pipeline`; outputs go to ``cfg.output``."""
    read = pipeline | "ReadPairInputs" >> ReadPairInputs(cfg.inputs, cfg.lists)
    # A URL list is read by one worker; spread its rows before the expensive stages.
    spread = read["pairs"] | "Spread" >> beam.Reshuffle()
    captioned = spread | "FilterCaptions" >> FilterCaptions(cfg.captions)
    with_bytes, by_url = captioned["pairs"] | "SplitByBytes" >> beam.Partition(_has_bytes, 2)
    downloaded = by_url | "DownloadPairs" >> DownloadPairs(
        cfg.downloader, cfg.shard_size, cfg.img2dataset, cfg.fetch, cfg.threads, cfg.tmp_dir
    )
    fetched = (with_bytes, downloaded[DOWNLOADED]) | "AllBytes" >> beam.Flatten()
    processed = fetched | "ProcessImages" >> ProcessPairImages(cfg.image, cfg.image_threads)
    rejections = [read[REJECTED], captioned[REJECTED], downloaded[REJECTED], processed[REJECTED]]
    # Before the CLIP filter: an eval image must not cost a forward pass, nor shift the
    # top-fraction cutoff.
    clean = processed["pairs"] | "DropEvalDuplicates" >> DropEvalDuplicateImages(
        cfg.eval_index, cfg=cfg.decontam
    )
    pairs = clean["records"]
    rejections.append(clean[REJECTED])
    if cfg.eval_index:
        _ = clean[HITS] | "WriteDecontamHits" >> WriteDecontamHits(cfg.output, cfg.num_shards)
    if cfg.clip is not None:
        pairs, clip_rejected = pairs | "ClipFilter" >> ClipFilter(cfg.clip)
        rejections.append(clip_rejected)
    _ = pairs | "WriteSamples" >> WriteRecords(
        cfg.output, "samples", PAIR_SCHEMA, pair_sample_to_row, cfg.num_shards
    )
    _ = tuple(rejections) | "AllRejections" >> beam.Flatten() | WriteRejections(cfg.output)


def uses_download(inputs: Iterable[str], lists: UrlListConfig) -> bool:
    """True when some input is a URL list (so a downloader will run)."""
    return any(needs_download(lists, input_format(p)) for p in inputs)


# ---------------------------------------------------------------- CLI

PAIRS_EXAMPLES = """examples:
  curate pairs --input urls.parquet --url-column url --caption-column caption --output pairs/
  curate pairs --input 'laion/*.parquet' --url-column URL --caption-column TEXT \\
      --output pairs/ --downloader builtin --thread-count 128 --languages en
  curate pairs --input 'shards/*.tar' --output pairs/            (webdataset: no download)
  curate pairs --input imgs.parquet --image-column jpg --output pairs/   (bytes: no download)
  curate pairs ... --clip-model ViT-B-32 --clip-checkpoint vit-b-32.pt --clip-threshold 0.28
  curate pairs ... --clip-model ViT-L-14 --clip-checkpoint vit-l-14.pt --clip-top-fraction 0.3

img2dataset (the default downloader) has no SSRF guard: it resolves names and follows
redirects itself, so give it lists of public URLs only. Use --downloader builtin for
lists you do not trust (private addresses refused on every hop unless --allow-network).

Outputs: OUTPUT/samples-*.parquet (pair samples), OUTPUT/rejections-*.parquet (every
dropped pair with stage and reason), OUTPUT/summary.json. Unknown --options go to Beam."""


def _input_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("inputs")
    g.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="PATTERN",
        help="file or glob: .csv/.tsv/.jsonl[.gz] or .parquet URL lists, a .parquet with "
        "--image-column, or webdataset .tar; repeatable",
    )
    g.add_argument("--url-column", default=UrlListConfig.url_column)
    g.add_argument("--caption-column", default=UrlListConfig.caption_column)
    g.add_argument(
        "--image-column", help="Parquet column holding image bytes (those rows skip download)"
    )


def _download_args(p: argparse.ArgumentParser) -> None:
    i2d = Img2DatasetConfig()
    g = p.add_argument_group("download")
    g.add_argument("--downloader", choices=("img2dataset", "builtin"), default="img2dataset")
    g.add_argument("--shard-size", type=int, default=PairsConfig.shard_size)
    g.add_argument("--thread-count", type=int, default=PairsConfig.threads)
    g.add_argument("--processes-count", type=int, default=i2d.processes_count)
    g.add_argument(
        "--resize-mode",
        choices=("no", "keep_ratio", "keep_ratio_largest"),
        default=i2d.resize_mode,
        help="img2dataset resizing before ours (default %(default)s: only ours)",
    )
    g.add_argument("--image-size", type=int, default=i2d.image_size, help="for --resize-mode")
    g.add_argument("--timeout", type=int, help=f"seconds per request (default {i2d.timeout_s})")
    g.add_argument(
        "--retries",
        type=int,
        help=f"default: img2dataset {i2d.retries}, builtin {FetchConfig.retries}",
    )
    g.add_argument("--shard-timeout", type=float, default=i2d.shard_timeout_s)
    g.add_argument(
        "--disallowed-header-directives",
        type=csv_list,
        default=i2d.disallowed_header_directives,
        metavar="noai,…",
        help="X-Robots-Tag directives that opt an image out (empty string: none)",
    )
    g.add_argument("--user-agent-token", default=i2d.user_agent_token)
    add_network_option(g)
    g.add_argument(
        "--max-image-bytes",
        type=int,
        default=FetchConfig.max_bytes,
        help="larger downloads or input images are rejected as too_large",
    )
    g.add_argument("--tmp-dir", help="where img2dataset shards are staged")


def _filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters")
    add_caption_filter_options(g)
    g.add_argument("--min-image-side", type=int, default=ImageConfig.min_side)
    g.add_argument("--max-image-side", type=int, default=ImageConfig.max_side)
    g.add_argument("--image-threads", type=int, default=PairsConfig.image_threads)
    add_eval_options(g, "pairs", DecontamConfig.radius)
    g.add_argument("--clip-model", help="open_clip config name, .json config, or local-dir:DIR")
    g.add_argument("--clip-checkpoint", help="local open_clip weights for --clip-model")
    keep = g.add_mutually_exclusive_group()
    keep.add_argument("--clip-threshold", type=float, help="keep cosine >= this")
    keep.add_argument("--clip-top-fraction", type=float, help="keep this top fraction")
    g.add_argument("--clip-batch-size", type=int, default=64)
    g.add_argument("--clip-device", default="cpu")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `curate pairs`."""
    p = sub.add_parser(
        "pairs",
        help="image-text pairs (URL lists or image bytes) → pair samples (Parquet)",
        description="Curate image-text pairs (ALIGN / LTIP style): caption filters, download, "
        "image validation and hashing as in M3W, optional CLIP-score filter.",
        epilog=PAIRS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _input_args(p)
    _download_args(p)
    _filter_args(p)
    p.add_argument("--output", required=True, help="output directory (local or gs://, s3://)")
    add_output_options(p)
    p.set_defaults(func=run_pairs)


def pairs_config(args: argparse.Namespace, inputs: list[str]) -> PairsConfig:
    """The job config from parsed arguments."""
    clip = None
    if args.clip_model or args.clip_threshold is not None or args.clip_top_fraction is not None:
        clip = ClipFilterConfig(
            model=args.clip_model or "",
            checkpoint=args.clip_checkpoint,
            threshold=args.clip_threshold,
            top_fraction=args.clip_top_fraction,
            batch_size=args.clip_batch_size,
            device=args.clip_device,
        )
    directives = tuple(args.disallowed_header_directives)
    i2d, fetch = Img2DatasetConfig(), FetchConfig()
    timeout = args.timeout if args.timeout is not None else i2d.timeout_s
    return PairsConfig(
        inputs=tuple(inputs),
        output=args.output,
        lists=replace(
            UrlListConfig(args.url_column, args.caption_column, args.image_column),
            max_image_bytes=args.max_image_bytes,
        ),
        downloader=args.downloader,
        shard_size=args.shard_size,
        threads=args.thread_count,
        image_threads=args.image_threads,
        img2dataset=Img2DatasetConfig(
            processes_count=args.processes_count,
            thread_count=args.thread_count,
            resize_mode=args.resize_mode,
            image_size=args.image_size,
            timeout_s=timeout,
            retries=args.retries if args.retries is not None else i2d.retries,
            disallowed_header_directives=directives,
            user_agent_token=args.user_agent_token,
            shard_timeout_s=args.shard_timeout,
        ),
        fetch=replace(
            fetch,
            allow_networks=args.allow_network,
            max_bytes=args.max_image_bytes,
            read_timeout_s=float(timeout),
            retries=args.retries if args.retries is not None else fetch.retries,
            opt_out_directives=directives,
            honour_opt_out=bool(directives),
            user_agent_token=args.user_agent_token,
        ),
        image=replace(ImageConfig(), min_side=args.min_image_side, max_side=args.max_image_side),
        captions=caption_filter_config(args),
        clip=clip,
        eval_index=args.eval_index,
        decontam=replace(DecontamConfig(), radius=args.eval_radius),
        num_shards=args.num_shards,
        tmp_dir=args.tmp_dir,
    )


def check_job(cfg: PairsConfig) -> None:
    """CliError for a job that cannot run: img2dataset missing, a CLIP model not loadable."""

    missing = importlib.util.find_spec("img2dataset") is None
    if missing and cfg.downloader == "img2dataset" and uses_download(cfg.inputs, cfg.lists):
        raise CliError(
            "--downloader img2dataset: img2dataset is not installed "
            "(pip install 'interleaf[pairs]'); or use --downloader builtin"
        )
    if cfg.img2dataset.resize_mode != "no" and cfg.downloader != "img2dataset":
        raise CliError("--resize-mode applies to --downloader img2dataset only")
    if cfg.clip is not None:
        if not cfg.clip.model:
            raise CliError("--clip-threshold/--clip-top-fraction need --clip-model")
        try:
            check_config(cfg.clip)
            model_name(cfg.clip.model)  # an unknown name fails here, not on every worker
        except ClipError as e:
            raise CliError(f"CLIP filter: {e.detail}") from None
    if cfg.eval_index:
        try:
            check_eval_index(cfg.eval_index, cfg.decontam)
        except (EvalIndexError, SchemaVersionError, OSError) as e:
            raise CliError(f"--eval-index {cfg.eval_index!r}: {e}") from None
    if cfg.shard_size < 1 or cfg.threads < 1 or cfg.image_threads < 1:
        raise CliError("--shard-size, --thread-count and --image-threads must be >= 1")


def pair_stages(cfg: PairsConfig) -> tuple[str, ...]:
    """The stages this job runs, in order (decontam and clip only when configured)."""
    off = {"decontam"} if not cfg.eval_index else set()
    off |= {"clip"} if cfg.clip is None else set()
    return tuple(s for s in PAIR_STAGES if s not in off)


def pairs_summary(counters: dict[str, dict[str, int]], cfg: PairsConfig) -> dict:
    """summary.json for a pairs run: per-stage counts plus pairs in = kept + rejected."""
    stages = pair_stages(cfg)
    # Pairs in (rows read) = pairs out of the last stage + pairs rejected at any stage.
    balance = Balance("pairs", (("read", "in"),), (stages[-1], "out"), stages)
    names = OUTPUT_NAMES if cfg.eval_index else OUTPUT_NAMES[:2]
    return build_summary(counters, stages, describe_outputs(cfg.output, names), balance)


def run_pairs(args: argparse.Namespace, beam_args: list[str]) -> int:
    """`curate pairs`: run the job, write summary.json, print the table."""
    lists = UrlListConfig(args.url_column, args.caption_column, args.image_column)
    inputs = expand_pair_inputs(args.input, lists)
    cfg = pairs_config(args, inputs)
    check_job(cfg)
    prepare_output(args.output, args.overwrite)
    log.info("curating pairs from %d input file(s) → %s", len(inputs), args.output)
    return run_job(
        lambda pipeline: build_pairs(pipeline, cfg),
        beam_args,
        lambda counters: pairs_summary(counters, cfg),
        args.output,
        inputs,
    )
