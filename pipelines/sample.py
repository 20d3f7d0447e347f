"""`curate make-sample`: write the deterministic sample crawl, media and tokenizer of the demo."""

from __future__ import annotations

import argparse

from apache_beam.io.filesystems import FileSystems

from curation.sample_manifest import SampleManifest
from curation.sample_media import DEFAULT_BASE_URL
from pipelines.jobs import CliError
from schemas import WarcImage

SAMPLE_EXAMPLES = """examples:
  curate make-sample sample/
  curate m3w --input 'sample/*.warc.gz' --output out/ --tokenizer sample/tokenizer \\
      --mirror-dir sample/mirror
  python -m http.server 8000 --bind 127.0.0.1 --directory sample/ &
  curate pairs --input sample/pairs/pairs.csv --output pairs/ --allow-network 127.0.0.1
  curate video --input sample/videos/videos.csv --output video/ --allow-network 127.0.0.1"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `curate make-sample`."""
    p = sub.add_parser(
        "make-sample",
        help="write the bundled sample crawl (WARC, image mirror, tokenizer)",
        description="Write the deterministic sample data used by the demo and the tests: "
        "DIR/sample.warc.gz, DIR/mirror/, DIR/manifest.json, DIR/tokenizer/, "
        "DIR/held-out.jpg (an image in no page), DIR/evalset/ (crawl images planted as an "
        "eval set), and image-text pairs and video clips with their URL lists "
        "(DIR/pairs/pairs.csv, DIR/videos/videos.csv, DIR/media.json) naming them under "
        "--base-url, where you serve DIR.",
        epilog=SAMPLE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="directory to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help="URL where DIR will be served; the pair and video lists name files under it "
        "(default %(default)s)",
    )
    p.set_defaults(func=run_make_sample)


def write_planted_evalset(manifest: SampleManifest, out_dir: str, n: int = 3) -> int:
    """Copy a few of the crawl's own images into an "eval set", so decontamination fires."""
    from curation.warc import iter_warc

    wanted = [
        img.url
        for page in manifest.pages
        if page.expect == "kept"
        for img in page.content_images
        if img.survives and img.where == "warc"
    ][:n]
    FileSystems.mkdirs(out_dir)
    found = 0
    for record in iter_warc(str(manifest.warc_path)):
        if isinstance(record, WarcImage) and record.url in wanted:
            name = f"planted-{wanted.index(record.url)}.img"
            with FileSystems.create(FileSystems.join(out_dir, name)) as f:
                f.write(record.content)
            found += 1
    return found


def run_make_sample(args: argparse.Namespace, beam_args: list[str]) -> int:
    """Write the sample crawl, media, tokenizer and planted eval set under `args.dir`."""
    if beam_args:
        raise CliError(f"unknown options for make-sample: {' '.join(beam_args)}")
    import itertools
    from pathlib import Path

    from curation.sample_crawl import make_sample_crawl, sample_texts
    from curation.sample_images import render_scene
    from curation.sample_media import caption_texts, make_sample_media
    from curation.tokenizer import train_bpe_tokenizer

    manifest = make_sample_crawl(args.dir, seed=args.seed)
    # A picture that is in no page: the demo captions it after training.
    held_out = FileSystems.join(args.dir, "held-out.jpg")
    render_scene(f"held-out-{args.seed}", 480, 360, scene="sea").save(held_out, quality=90)
    texts = itertools.chain(sample_texts(seed=args.seed), caption_texts())
    tok = train_bpe_tokenizer(texts, FileSystems.join(args.dir, "tokenizer"))
    evalset = Path(args.dir) / "evalset"
    planted = write_planted_evalset(manifest, str(evalset))
    # One planted image is in the pair list too: decontamination must drop it there as well.
    first = sorted(evalset.glob("planted-*"))[:1]
    media = make_sample_media(
        args.dir, args.base_url, args.seed, planted=first[0].read_bytes() if first else None
    )
    print(
        f"wrote {len(manifest.pages)} pages to {args.dir}/sample.warc.gz, tokenizer {tok}, "
        f"{planted} crawl images planted as an eval set in {args.dir}/evalset/, "
        f"{media.pairs.total} pairs in {args.dir}/{media.pairs_list} and "
        f"{media.videos.total} clips in {args.dir}/{media.videos_list} (under {media.base_url})"
    )
    print(
        f"next: curate m3w --input '{args.dir}/*.warc.gz' --output out/ "
        f"--tokenizer {tok} --mirror-dir {args.dir}/mirror"
    )
    return 0
