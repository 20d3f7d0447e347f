"""The HTML pages and PNGs users look at, loaded in headless Chromium over HTTP and file://.

Each page must load with no console error, no uncaught exception, no failed request and
no dialog (escaped crawl text never runs), every <img> must decode and be laid out, the
expected samples / markers / images must be visible, and the screenshot must not be blank.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from pipelines.cli import main as curate
from schemas import Rejection
from schemas.records import END_OF_CHUNK
from tests.browser import PageVisit, chromium, distinct_colours, open_page, serve_folder
from tests.curation.test_decontam_report import _run_dir, three_hits
from tests.fixtures.curate_outputs import (
    HOSTILE_TEXT,
    m3w_samples,
    pair_samples,
    video_samples,
    write_m3w_output,
    write_pair_output,
    write_rejections,
    write_summary,
    write_video_output,
)
from tests.fixtures.http_server import LocalHttpServer
from trainer.plots import PLOT_NAME, PlotConfig, write_training_plot

__all__ = ["chromium"]  # the fixture, imported so pytest finds it here

M3W_WRITTEN = 24  # more than `curate show`'s default --n 20: the page must stop at 20
SHOW_N = 20
# Page names a user may well pick: the image folder beside each gets the same odd characters.
SPACED_PAGE = "look here/run 2.html"
HASH_PAGE = "runs/run #2.html"  # '#' starts a URL fragment unless percent-encoded
SELECTORS = {
    "samples": "section.sample",
    "image_markers": "span.marker.image > img",
    "eoc_markers": "section.sample span.marker.eoc",  # not the legend's sample badge
    "figures": "figure",
    "frames": ".strip img",
    "missing": ".missing",
}


def _metrics(steps: int) -> str:
    """metrics.jsonl as trainer/log.py writes it: loss per dataset, gates per layer."""
    lines = []
    for step in range(1, steps + 1):
        gates = {"attn": [0.01 * step, 0.02 * step], "ff": [0.015 * step, 0.0]}
        lines.append(
            json.dumps(
                {"step": step, "loss": {"m3w": 6 - step * 0.1, "pairs": 5.0}, "gates": gates}
            )
        )
        if step % 5 == 0:
            lines.append(json.dumps({"step": step, "eval": {"coco": 1.0}}))
    return "\n".join(lines) + "\n"


def _decontam_run(root: Path) -> Path:
    """A decontam run (2 datasets, one with its index gone) and its report."""
    run = _run_dir(
        root, three_hits(root), [Rejection("images", "too_small", "https://c/s.png", "10x10")]
    )
    assert curate(["decontam-report", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every page and PNG the tools write, under one folder, made by the real CLI."""
    root = tmp_path_factory.mktemp("site")
    m3w = root / "m3w"
    write_m3w_output(m3w, m3w_samples(M3W_WRITTEN), shards=3)
    write_rejections(m3w)
    write_summary(m3w, {"filter_text": {"language_not_kept": 2, "too_few_words": 1}})
    assert curate(["show", str(m3w)]) == 0
    for name in (SPACED_PAGE, HASH_PAGE):
        page = str(m3w / name)
        assert curate(["show", str(m3w), "--n", "6", "--output", page, "--image-files"]) == 0
    assert curate(["stats", str(m3w)]) == 0
    write_pair_output(root / "pairs", pair_samples(5))
    assert curate(["show", str(root / "pairs")]) == 0
    write_video_output(root / "video", video_samples(3))
    assert curate(["show", str(root / "video")]) == 0
    _decontam_run(root)
    (root / "train").mkdir()
    (root / "train" / "metrics.jsonl").write_text(_metrics(12))
    assert write_training_plot(root / "train") == root / "train" / PLOT_NAME
    return root


@pytest.fixture(scope="module")
def server(site: Path):
    with LocalHttpServer() as srv:
        serve_folder(srv, site)
        yield srv


@pytest.fixture(params=["http", "file"])
def url_of(request, site: Path, server: LocalHttpServer):
    """Page path (relative to the site) → URL, over the local server or as a file."""
    if request.param == "http":
        return lambda rel: server.url("/" + quote(Path(rel).as_posix()))
    return lambda rel: (site / rel).as_uri()


def assert_clean(visit: PageVisit, images: int) -> None:
    """No error of any kind; exactly `images` images, all decoded and laid out; not blank."""
    assert visit.problems() == [], visit.url
    assert visit.charset == "UTF-8"
    assert len(visit.images) == images
    bad = [i for i in visit.images if not (i.loaded and i.shown)]
    assert bad == [], visit.url
    assert distinct_colours(visit.screenshot) > 16  # text and images, not one flat colour


def test_show_m3w_page_shows_first_20_samples_with_images_at_markers(chromium, url_of):
    samples = m3w_samples(M3W_WRITTEN)[:SHOW_N]
    visit = open_page(chromium, url_of("m3w/show.html"), SELECTORS)
    want_images = sum(len(s.images) for s in samples)
    assert_clean(visit, want_images)
    assert visit.shown["samples"] == SHOW_N
    assert visit.shown["image_markers"] == want_images > 0
    assert visit.shown["eoc_markers"] == sum(s.text.count(END_OF_CHUNK) for s in samples) > 0
    # Sizes as stored: the browser decoded the bytes the samples carry.
    want = [(im.width, im.height) for s in samples for im in s.images]
    assert [(i.natural_width, i.natural_height) for i in visit.images] == want
    assert visit.title.startswith(f"{SHOW_N} m3w_sample samples")


@pytest.mark.parametrize(
    "name",
    [
        SPACED_PAGE,
        HASH_PAGE,
    ],
)
def test_show_with_image_files_beside_an_oddly_named_page(chromium, url_of, name):
    samples = m3w_samples(M3W_WRITTEN)[:6]
    visit = open_page(chromium, url_of(f"m3w/{name}"), SELECTORS)
    want_images = sum(len(s.images) for s in samples)
    assert_clean(visit, want_images)
    assert all(not i.src.startswith("data:") for i in visit.images)
    assert visit.shown["samples"] == 6 and visit.shown["image_markers"] == want_images


@pytest.mark.parametrize(
    ("kind", "samples", "per_sample"),
    [("pairs", 5, lambda i: 1), ("video", 3, lambda i: 2 + i)],
)
def test_show_pairs_and_video_pages(chromium, url_of, kind, samples, per_sample):
    visit = open_page(chromium, url_of(f"{kind}/show.html"), SELECTORS)
    images = sum(per_sample(i) for i in range(samples))
    assert_clean(visit, images)
    assert visit.shown["samples"] == samples
    assert visit.shown["frames" if kind == "video" else "figures"] == images


def test_hostile_crawl_text_is_shown_not_run(chromium, url_of):
    visit = open_page(chromium, url_of("pairs/show.html"))
    assert visit.dialogs == [] and visit.page_errors == []
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(url_of("pairs/show.html"))
        assert page.locator("script").count() == 0
        assert page.get_by_text(HOSTILE_TEXT, exact=True).first.is_visible()
    finally:
        context.close()


def test_stats_report_shows_every_chart(chromium, url_of):
    visit = open_page(chromium, url_of("m3w/stats/index.html"))
    names = ["lengths", "images_per_sample", "image_sizes", "rejections", "languages"]
    assert_clean(visit, len(names))
    assert [i.src.rsplit("/", 1)[-1] for i in visit.images] == [f"{n}.png" for n in names]
    assert {(i.natural_width, i.natural_height) for i in visit.images} == {(640, 400)}


def test_decontam_report_shows_chart_and_thumbnail_pairs(chromium, url_of):
    visit = open_page(chromium, url_of("run/decontam-report/index.html"), SELECTORS)
    # chart + 2 coco pairs (crawl and eval) + the vizwiz crawl side (its index is gone)
    assert_clean(visit, 1 + 4 + 1)
    assert visit.shown["figures"] == 3 and visit.shown["missing"] == 1
    assert visit.images[0].src.endswith("chart.png")


def test_training_png_decodes_in_chromium(chromium, url_of):
    visit = open_page(chromium, url_of(f"train/{PLOT_NAME}"))
    # A bare image has no <head> to name an icon: the browser's own /favicon.ico 404 is
    # the one error allowed, and only that.
    assert [p for p in visit.problems() if not p.endswith("/favicon.ico")] == []
    (img,) = visit.images  # Chromium shows a lone image as a document with one <img>
    assert img.loaded and (img.natural_width, img.natural_height) == (
        PlotConfig.width_px,
        PlotConfig.height_px,
    )
    assert distinct_colours(visit.screenshot) > 16


BROKEN_PAGE = """<!DOCTYPE html><html><head><title>broken</title></head><body>
<p>caf\u00e9</p><img src="missing.png" alt="gone"><img src="ok.png" alt="fine">
<script>console.error("said so"); alert("ran");</script>
<script>throw new Error("boom");</script></body></html>"""


def test_open_page_reports_every_kind_of_problem(chromium, tmp_path):
    """The checks above can fail: a broken page trips each one, over HTTP and as a file."""
    (tmp_path / "broken.html").write_bytes(BROKEN_PAGE.encode("utf-8"))  # no <meta charset>
    (tmp_path / "ok.png").write_bytes(_png(7, 5))
    with LocalHttpServer() as srv:
        serve_folder(srv, tmp_path)
        for url in (srv.url("/broken.html"), (tmp_path / "broken.html").as_uri()):
            visit = open_page(chromium, url)
            assert any("said so" in m for m in visit.console_errors), url
            assert any("missing.png" in m for m in visit.console_errors), url
            assert any("boom" in m for m in visit.page_errors), url
            assert visit.dialogs == ["alert: ran"], url
            missing, ok = visit.images
            assert (
                not missing.loaded and ok.loaded and (ok.natural_width, ok.natural_height) == (7, 5)
            )
            if url.startswith("http"):
                assert any("missing.png HTTP 404" in r for r in visit.failed_requests)
                # No <meta charset>, none in Content-Type: Chromium falls back to a legacy one
                # (as a file it sniffs the bytes instead, so only HTTP shows the mistake).
                assert visit.charset != "UTF-8"
            else:
                assert any("missing.png" in r for r in visit.failed_requests)


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buf, "PNG")
    return buf.getvalue()
