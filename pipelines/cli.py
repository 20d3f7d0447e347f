"""`curate`: the command-line entry point of the curation pipelines.

Options this CLI does not know are handed to Apache Beam, so the same command runs on
the local DirectRunner (default) or on Dataflow / Flink / Spark, e.g.::

    curate m3w --input 'gs://bucket/crawl/*.warc.gz' --output gs://bucket/m3w \
        --tokenizer ./tokenizer --runner DataflowRunner --project my-proj \
        --region us-central1 --temp_location gs://bucket/tmp --setup_file ./setup.py
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace

from apache_beam.io.filesystems import FileSystems

from curation.chunking import ChunkConfig
from curation.dedup import DedupConfig, ImageDedupConfig
from curation.eval_index import DecontamConfig, EvalIndexError
from curation.fetch import FetchConfig
from curation.images import ImageConfig
from curation.language import LanguageConfig
from curation.minhash import MinHashConfig
from pipelines import evalset, export, inspection, pairs, sample, scrape, video
from pipelines.decontam import check_eval_index
from pipelines.jobs import (
    OUTPUT_NAMES,
    CliError,
    add_eval_options,
    add_network_option,
    add_output_options,
    csv_list,
    prepare_output,
    run_job,
)
from pipelines.m3w import M3WConfig, build_m3w, input_kind
from pipelines.summary import build_summary, describe_outputs
from schemas import SchemaVersionError

log = logging.getLogger("curate")
M3W_STAGES = (
    "read",
    "extract",
    "filter_text",
    "dedup_documents",
    "dedup_paragraphs",
    "images",
    "dedup_images",
    "decontam",
    "chunk",
)

M3W_EXAMPLES = """examples:
  curate make-sample sample/
  curate m3w --input 'sample/*.warc.gz' --output out/ --tokenizer sample/tokenizer \\
      --mirror-dir sample/mirror
  curate m3w --input 'crawl/*.warc.gz' --input 'pages/*.html' --output out/ \\
      --tokenizer ./my-hf-tokenizer --languages en,fr --chunk-mode tile --overwrite
  curate m3w --urls urls.txt --output out/ --tokenizer ./tok     (scrape, then curate)
  curate m3w ... --direct_running_mode=multi_processing --direct_num_workers=4
  curate m3w ... --runner DataflowRunner --project P --region R \\
      --temp_location gs://B/tmp --setup_file ./setup.py      (see README)

Outputs: OUTPUT/samples-*.parquet (M3W samples), OUTPUT/rejections-*.parquet
(every dropped record with stage and reason), OUTPUT/summary.json (counts).
Unknown --options are passed to Apache Beam."""


def _m3w_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "m3w",
        help="crawl → interleaved M3W samples (Parquet)",
        description="Curate M3W samples (interleaved image-text, Flamingo recipe) from "
        "WARC / HTML / OBELICS-style Parquet inputs.",
        epilog=M3W_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="PATTERN",
        help="file or glob (.warc[.gz], .arc[.gz], .html[.gz], .parquet); repeatable",
    )
    p.add_argument(
        "--urls",
        action="append",
        default=[],
        metavar="PATTERN",
        help="page URL lists (.txt, .csv, .parquet, sitemap .xml): scrape them politely "
        "into OUTPUT/crawl/ (pages and images, as curate scrape --include-images), "
        "then curate the crawl; re-running resumes the crawl",
    )
    p.add_argument("--output", required=True, help="output directory (local or gs://, s3://)")
    p.add_argument(
        "--tokenizer", required=True, help="local path of a Hugging Face tokenizer (directory)"
    )
    p.add_argument("--mirror-dir", help="local mirror of image URLs, wget --mirror layout")
    p.add_argument("--base-url", help="page URL for plain HTML inputs (default: file:// path)")
    p.add_argument(
        "--no-http",
        action="store_true",
        help="never fetch images over the network (WARC records and mirror only)",
    )
    add_network_option(p)
    p.add_argument(
        "--languages",
        type=csv_list,
        default=(),
        metavar="en,fr,…",
        help="keep only these languages (ISO 639-1); default keeps all",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=ChunkConfig.max_tokens,
        help="tokens per sample, L (default %(default)s, Flamingo)",
    )
    p.add_argument(
        "--max-images",
        type=int,
        default=ChunkConfig.max_images,
        help="images per sample, N (default %(default)s, Flamingo)",
    )
    p.add_argument(
        "--chunk-mode",
        choices=("sample", "tile"),
        default=ChunkConfig.mode,
        help="sample: one random chunk per document (paper); tile: cover it all",
    )
    p.add_argument("--seed", type=int, default=ChunkConfig.seed, help="chunk sampling seed")
    p.add_argument("--min-image-side", type=int, default=ImageConfig.min_side)
    p.add_argument(
        "--max-image-side",
        type=int,
        default=ImageConfig.max_side,
        help="resize images so their longer side is at most this",
    )
    add_eval_options(p, "images", DecontamConfig.radius)
    p.add_argument(
        "--no-dedup",
        action="store_true",
        help="keep duplicates (default: MinHash-LSH documents, exact paragraphs, "
        "images by sha256 and pHash, as OBELICS)",
    )
    p.add_argument(
        "--image-dedup-radius",
        type=int,
        default=ImageDedupConfig.radius,
        help="pHash Hamming radius for near-duplicate images (default %(default)s)",
    )
    p.add_argument(
        "--max-image-occurrences",
        type=int,
        default=ImageDedupConfig.max_occurrences,
        help="drop an image that appears in more documents (0: no cap; default "
        "%(default)s, OBELICS)",
    )
    p.add_argument(
        "--minhash-threshold",
        type=float,
        default=MinHashConfig.threshold,
        help="Jaccard above which documents are near-duplicates (default %(default)s)",
    )
    add_output_options(p)
    p.set_defaults(func=run_m3w)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curate",
        description="interleaf curation: web crawls → Flamingo training data.",
        epilog="Run 'curate COMMAND --help' for the options and examples of each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _m3w_parser(sub)
    sample.add_parser(sub)
    pairs.add_parser(sub)
    video.add_parser(sub)
    evalset.add_parser(sub)
    export.add_parser(sub)
    scrape.add_parser(sub)
    inspection.add_parser(sub)
    return parser


def expand_inputs(patterns: Sequence[str]) -> list[str]:
    """Every file the patterns match; CliError naming a pattern that matches nothing."""
    paths: list[str] = []
    for pattern in patterns:
        matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not matched:
            raise CliError(f"--input {pattern!r} matches no file")
        for path in matched:
            try:
                input_kind(path)
            except ValueError as e:
                raise CliError(str(e)) from None
        paths += matched
    return sorted(set(paths))


def m3w_config(args: argparse.Namespace, inputs: Sequence[str]) -> M3WConfig:
    return M3WConfig(
        inputs=tuple(inputs),
        output=args.output,
        tokenizer=args.tokenizer,
        mirror_dir=args.mirror_dir,
        base_url=args.base_url,
        fetch_http=not args.no_http,
        num_shards=args.num_shards,
        language=LanguageConfig(languages=args.languages),
        image=replace(ImageConfig(), min_side=args.min_image_side, max_side=args.max_image_side),
        fetch=replace(FetchConfig(), allow_networks=args.allow_network),
        dedup=dedup_config(args),
        eval_index=args.eval_index,
        decontam=replace(DecontamConfig(), radius=args.eval_radius),
        chunk=replace(
            ChunkConfig(),
            max_tokens=args.max_tokens,
            max_images=args.max_images,
            mode=args.chunk_mode,
            seed=args.seed,
        ),
    )


def dedup_config(args: argparse.Namespace) -> DedupConfig:
    if args.no_dedup:
        return DedupConfig(documents=False, paragraphs=False, images=False)
    return DedupConfig(
        minhash=replace(MinHashConfig(), threshold=args.minhash_threshold),
        image=replace(
            ImageDedupConfig(),
            radius=args.image_dedup_radius,
            max_occurrences=args.max_image_occurrences or None,
        ),
    )


def check_tokenizer(path: str) -> None:
    from curation.tokenizer import load_tokenizer, tokenizer_info

    try:
        tokenizer_info(load_tokenizer(path))
    except (OSError, ValueError) as e:
        raise CliError(f"--tokenizer {path!r}: {e}") from None


def scrape_first(args: argparse.Namespace, beam_args: list[str]) -> str:
    """`m3w --urls`: crawl the lists into OUTPUT/crawl/ and return the WARC pattern."""
    crawl = FileSystems.join(args.output, "crawl")
    argv = ["scrape", "--output", crawl, "--include-images"]
    for pattern in args.urls:
        argv += ["--urls", pattern]
    if args.allow_network:
        argv += ["--allow-network", ",".join(args.allow_network)]
    if args.quiet:
        argv.append("--quiet")
    scrape_args, _ = build_parser().parse_known_args(argv)
    scrape.run_scrape(scrape_args, beam_args)
    return FileSystems.join(crawl, "*.warc.gz")


def run_m3w(args: argparse.Namespace, beam_args: list[str]) -> int:
    if not args.input and not args.urls:
        raise CliError("give --input (crawl files) or --urls (URL lists to scrape first)")
    check_tokenizer(args.tokenizer)
    cfg = m3w_config(args, ())
    if cfg.eval_index:
        try:
            check_eval_index(cfg.eval_index, cfg.decontam)
        except (EvalIndexError, SchemaVersionError) as e:
            raise CliError(f"--eval-index {cfg.eval_index!r}: {e}") from None
    prepare_output(args.output, args.overwrite)
    patterns = list(args.input)
    if args.urls:
        patterns.append(scrape_first(args, beam_args))
    inputs = expand_inputs(patterns)
    cfg = replace(cfg, inputs=tuple(inputs))
    log.info("curating %d input file(s) → %s", len(inputs), args.output)
    return run_job(
        lambda pipeline: build_m3w(pipeline, cfg),
        beam_args,
        lambda counters: build_summary(
            counters, M3W_STAGES, describe_outputs(args.output, OUTPUT_NAMES)
        ),
        args.output,
        inputs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    stray = [a for a in rest if not a.startswith("-")] if rest else []
    if stray:
        parser.error(f"unexpected argument(s): {' '.join(stray)}")
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    # Beam is chatty at INFO; keep our own progress lines readable.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    try:
        return args.func(args, rest)
    except CliError as e:
        print(f"curate: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
