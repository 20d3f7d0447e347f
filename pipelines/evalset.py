"""`curate evalset-index` (hash an eval set into the index, as a Beam job) and
`curate decontam-report` (the HTML page of a run's decontamination hits)."""

from __future__ import annotations

import argparse
import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from curation.decontam_report import ReportConfig, build_report
from curation.eval_index import (
    EvalIndexConfig,
    EvalIndexError,
    HashedImage,
    dataset_path,
    index_schema,
    rejected_path,
    thumbnails_path,
)
from curation.eval_sources import (
    STAGE,
    EvalTask,
    coco_tasks,
    hash_task,
    image_file_tasks,
    parquet_tasks,
    with_embeddings,
)
from pipelines.counting import REJECTED, StageCounters
from pipelines.jobs import CliError
from pipelines.summary import collect_counters
from schemas import (
    REJECTION_SCHEMA,
    THUMBNAIL_SCHEMA,
    Rejection,
    eval_entry_to_row,
    rejection_to_row,
)

log = logging.getLogger("curate")

EVALSET_EXAMPLES = """examples:
  curate evalset-index --name coco-val2014 --images 'coco/val2014/*.jpg' --output eval-index/
  curate evalset-index --name coco-karpathy-test --annotations coco/karpathy_test.json \\
      --images coco/val2014/ --output eval-index/
  curate evalset-index --name vizwiz-val --images vizwiz.parquet --image-column image \\
      --output eval-index/
  curate evalset-index ... --embed-model ViT-B-32 --embed-checkpoint clip-vit-b-32.safetensors

Writes OUTPUT/<name>.parquet (one row per image: dataset, split, image_id, phash, …),
OUTPUT/thumbnails/<name>.parquet (for the report) and, when some images could not be
read, OUTPUT/rejected/<name>.parquet. Other datasets in OUTPUT are left as they are.
Unknown --options are passed to Apache Beam."""

REPORT_EXAMPLES = """example:
  curate m3w ... --eval-index eval-index/ --output out/ && curate decontam-report out/

Writes OUT/decontam-report/index.html, chart.png and thumbs/."""


class _HashTaskFn(beam.DoFn):
    """One task (an image file or a Parquet row group) → hashed images or rejections."""

    PROGRESS_EVERY_S = 5.0

    def __init__(self, dataset: str, split: str, cfg: EvalIndexConfig, embedding: Any) -> None:
        self._dataset, self._split, self._cfg, self._embedding = dataset, split, cfg, embedding

    def setup(self) -> None:
        self._c = StageCounters(STAGE)
        self._embedder = None
        if self._embedding is not None:
            from curation.embedding_verify import ImageEmbedder

            self._embedder = ImageEmbedder(self._embedding)
        self._done, self._last_log = 0, time.monotonic()

    def process(self, task: EvalTask) -> Iterator[Any]:
        hashed = []
        for item in hash_task(task, self._dataset, self._split, self._cfg, FileSystems.open):
            self._c.received()
            if isinstance(item, Rejection):
                yield self._c.reject(item.reason, item.key, item.detail)
            else:
                self._c.passed()
                hashed.append(item)
        yield from with_embeddings(hashed, self._embedder)
        self._done += len(hashed)
        now = time.monotonic()
        if now - self._last_log >= self.PROGRESS_EVERY_S:
            self._last_log = now
            log.info("progress: %s: %d images hashed", self._dataset, self._done)


def plan_tasks(args: argparse.Namespace) -> list[EvalTask]:
    """The tasks of the eval set the options describe."""
    if args.annotations:
        return list(coco_tasks(args.annotations, args.images))
    if args.image_column or args.images.lower().endswith(".parquet"):
        return list(parquet_tasks(args.images, args.image_column or "image", args.id_column))
    return list(image_file_tasks(args.images))


def build_evalset(
    pipeline: beam.Pipeline,
    tasks: list[EvalTask],
    dataset: str,
    split: str,
    staging: dict[str, str],
    cfg: EvalIndexConfig,
    embedding: Any = None,
) -> None:
    """Add the hashing job; each output goes to one file named by `staging`."""
    hashed = (
        pipeline
        | "Tasks" >> beam.Create(tasks)
        | "Spread" >> beam.Reshuffle()
        | "Hash"
        >> beam.ParDo(_HashTaskFn(dataset, split, cfg, embedding)).with_outputs(
            REJECTED, main="images"
        )
    )
    schema = index_schema(embedding.name if embedding is not None else None)
    _ = (
        hashed["images"]
        | "Entries" >> beam.Map(lambda h: eval_entry_to_row(h.entry))
        | "WriteEntries" >> _single_file(staging["entries"], schema)
    )
    _ = (
        hashed["images"]
        | "Thumbs" >> beam.Map(_thumb_row)
        | "WriteThumbs" >> _single_file(staging["thumbnails"], THUMBNAIL_SCHEMA)
    )
    _ = (
        hashed[REJECTED]
        | "Rejections" >> beam.Map(rejection_to_row)
        | "WriteRejections" >> _single_file(staging["rejected"], REJECTION_SCHEMA)
    )


def _thumb_row(h: HashedImage) -> dict[str, Any]:
    return {"image_id": h.entry.image_id, "thumbnail": h.thumbnail}


def _single_file(path: str, schema: Any) -> beam.PTransform:
    return beam.io.WriteToParquet(
        path, schema, num_shards=1, shard_name_template="", row_group_buffer_size=16 << 20
    )


def _staging(index_dir: str, dataset: str) -> tuple[dict[str, str], dict[str, str]]:
    """(staging path, final path) per output; staging names start with '.' (never loaded)."""
    token = uuid.uuid4().hex[:8]
    finals = {
        "entries": dataset_path(index_dir, dataset),
        "thumbnails": thumbnails_path(index_dir, dataset),
        "rejected": rejected_path(index_dir, dataset),
    }
    staging = {
        k: os.path.join(os.path.dirname(p), f".staging-{token}-{os.path.basename(p)}")
        for k, p in finals.items()
    }
    return staging, finals


def _publish(staging: dict[str, str], finals: dict[str, str], rejected: int) -> None:
    """Move the finished files into place (replacing this dataset's old ones only)."""
    for key, src in staging.items():
        dst = finals[key]
        if FileSystems.exists(dst):
            FileSystems.delete([dst])
        if key == "rejected" and rejected == 0:
            FileSystems.delete([src])  # an empty list of failures is no news
            continue
        FileSystems.rename([src], [dst])


def run_evalset_index(args: argparse.Namespace, beam_args: list[str]) -> int:

    try:
        dataset = os.path.basename(dataset_path(args.output, args.name))[: -len(".parquet")]
        tasks = plan_tasks(args)
    except EvalIndexError as e:
        raise CliError(str(e)) from None
    if FileSystems.exists(dataset_path(args.output, dataset)) and not args.overwrite:
        raise CliError(
            f"{dataset_path(args.output, dataset)} exists; pass --overwrite to rebuild {dataset!r}"
        )
    embedding = _embedding_config(args)
    staging, finals = _staging(args.output, dataset)
    for path in finals.values():
        folder = os.path.dirname(path)
        if not FileSystems.exists(folder):
            FileSystems.mkdirs(folder)
    log.info("indexing %s: %d task(s) → %s", dataset, len(tasks), finals["entries"])
    started = time.monotonic()
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    build_evalset(pipeline, tasks, dataset, args.split, staging, EvalIndexConfig(), embedding)
    result = pipeline.run()
    result.wait_until_finish()
    counts = collect_counters(result).get(STAGE, {})
    rejected = sum(v for k, v in counts.items() if k.startswith("rejected."))
    _publish(staging, finals, rejected)
    print(
        f"{dataset}: {counts.get('out', 0)} images indexed, {rejected} rejected "
        f"→ {finals['entries']} ({time.monotonic() - started:.1f} s)"
    )
    if rejected:
        print(f"warning: {rejected} eval image(s) are NOT in the index, see {finals['rejected']}")
    return 0


def _embedding_config(args: argparse.Namespace) -> Any:

    if not args.embed_model:
        if args.embed_checkpoint:
            raise CliError("--embed-checkpoint needs --embed-model")
        return None
    if not args.embed_checkpoint or not os.path.isfile(args.embed_checkpoint):
        # Random weights would store meaningless embeddings that verification then trusts.
        raise CliError(
            f"--embed-model needs an --embed-checkpoint file, got {args.embed_checkpoint!r}"
        )
    from curation.embedding_verify import EmbeddingConfig

    return EmbeddingConfig(model=args.embed_model, checkpoint=args.embed_checkpoint)


def run_decontam_report(args: argparse.Namespace, beam_args: list[str]) -> int:

    if beam_args:
        raise CliError(f"unknown options for decontam-report: {' '.join(beam_args)}")
    if not os.path.isdir(args.run_dir):
        raise CliError(f"{args.run_dir}: not a directory")
    paths = build_report(args.run_dir, args.eval_index, ReportConfig(args.examples))
    print(f"report: {paths.html}\nchart: {paths.chart}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `evalset-index` and `decontam-report` on the `curate` subcommands."""
    p = sub.add_parser(
        "evalset-index",
        help="hash an evaluation set into the decontamination index",
        description="Add (or rebuild) one evaluation set in an eval index directory.",
        epilog=EVALSET_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--name", required=True, help="dataset name, e.g. coco-val2014")
    p.add_argument("--split", default="eval", help="split name stored with each entry")
    p.add_argument(
        "--images",
        required=True,
        help="image folder or glob; a .parquet file/glob; with --annotations the image folder",
    )
    p.add_argument("--image-column", help="Parquet column of image bytes (or {bytes, path})")
    p.add_argument("--id-column", help="Parquet column of image ids (default: file name/row)")
    p.add_argument("--annotations", help="COCO-style JSON whose images[] name the files")
    p.add_argument("--output", required=True, help="the eval index directory")
    p.add_argument("--overwrite", action="store_true", help="rebuild a dataset already there")
    p.add_argument("--embed-model", help="also store open_clip embeddings (config name)")
    p.add_argument("--embed-checkpoint", help="local weights for --embed-model")
    p.add_argument("--quiet", action="store_true", help="no progress logging")
    p.set_defaults(func=run_evalset_index)

    r = sub.add_parser(
        "decontam-report",
        help="HTML page of a run's eval-set hits, with thumbnails",
        description="Summarise which eval sets a run's decontamination hit, with a chart "
        "and side-by-side thumbnails of the weakest matches.",
        epilog=REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("run_dir", help="output directory of a curate run")
    r.add_argument("--eval-index", help="index directory (default: the one the run used)")
    r.add_argument("--examples", type=int, default=ReportConfig.examples_per_dataset)
    r.set_defaults(func=run_decontam_report)
