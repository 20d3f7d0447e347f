"""Headless Chromium for tests: find it, launch it once, open a page and record what went wrong.

    def test_page(chromium):
        seen = open_page(chromium, "file:///tmp/out/show.html")
        assert seen.problems() == []
        assert all(i.loaded for i in seen.images)

Chromium is Debian's package (scripts/install_browser.sh) or $INTERLEAF_CHROMIUM, driven by
Playwright with `executable_path`: never `playwright install`, which downloads a browser
build from a host this project cannot reach. Without a Chromium the tests fail (never skip)
and say how to install it; scripts/test.sh installs it first.
"""

from __future__ import annotations

import io
import mimetypes
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import pytest

from tests.fixtures.http_server import LocalHttpServer, Reply

# Flags this machine needs: root needs --no-sandbox; the --disable-*network*/sync/update
# flags stop Chromium from calling Google hosts, which are refused here (and in CI).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1280, "height": 900}  # a laptop screen; pages are ~60-72em wide
LOAD_TIMEOUT_MS = 30_000  # a cold Chromium on 2 busy cores, not a speed claim

# Reads every <img> after load: loaded means decoded (complete with a natural size),
# shown means laid out with a non-empty box and not hidden by CSS.
_IMAGES_JS = """() => Array.from(document.images, (img) => {
  const r = img.getBoundingClientRect(), s = getComputedStyle(img);
  return {src: img.currentSrc || img.src, complete: img.complete,
          natural_width: img.naturalWidth, natural_height: img.naturalHeight,
          shown: r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'};
})"""

_VISIBLE_JS = "els => els.filter((e) => e.checkVisibility() && e.getClientRects().length).length"


@dataclass(frozen=True)
class ImageState:
    """One <img> as Chromium sees it after the page's load event."""

    src: str
    complete: bool
    natural_width: int
    natural_height: int
    shown: bool

    @property
    def loaded(self) -> bool:
        return self.complete and self.natural_width > 0 and self.natural_height > 0


@dataclass
class PageVisit:
    """What happened while a page loaded: every kind of error, images, charset, screenshot."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    failed_requests: list[str] = field(default_factory=list)  # network errors and HTTP >= 400
    dialogs: list[str] = field(default_factory=list)  # alert() etc.: escaped text never runs
    images: list[ImageState] = field(default_factory=list)
    charset: str = ""
    title: str = ""
    shown: dict[str, int] = field(default_factory=dict)  # visible elements per CSS selector
    screenshot: bytes = field(default=b"", repr=False)

    def problems(self) -> list[str]:
        """Every error of every kind, labelled; [] for a clean load."""
        return (
            [f"console: {m}" for m in self.console_errors]
            + [f"uncaught: {m}" for m in self.page_errors]
            + [f"request: {m}" for m in self.failed_requests]
            + [f"dialog: {m}" for m in self.dialogs]
        )


def find_chromium() -> str | None:
    """$INTERLEAF_CHROMIUM, else `chromium` / `chromium-browser` on PATH; None if absent."""
    explicit = os.environ.get("INTERLEAF_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _missing(reason: str) -> NoReturn:
    pytest.fail(f"{reason}: run scripts/install_browser.sh (scripts/test.sh does)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (a Playwright Browser).

    Module scope, not session: between calls the sync Playwright API leaves its asyncio
    loop marked running in the main thread, so asyncio.run() in any later test would fail.
    """
    path = find_chromium()
    if path is None:
        _missing("no Chromium found (chromium on PATH or $INTERLEAF_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str, selectors: dict[str, str] | None = None) -> PageVisit:
    """Load `url` in a fresh context; record errors, images, visible `selectors` and a PNG."""
    visit = PageVisit(url)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and visit.console_errors.append(_said(m)))
        page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: visit.failed_requests.append(_failure(r)))
        page.on("response", lambda r: r.status >= 400 and visit.failed_requests.append(_bad(r)))

        def on_dialog(dialog: Any) -> None:
            visit.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        visit.images = [ImageState(**s) for s in page.evaluate(_IMAGES_JS)]
        visit.charset = page.evaluate("document.characterSet")
        visit.title = page.title()
        visit.shown = {
            name: page.locator(css).evaluate_all(_VISIBLE_JS)
            for name, css in (selectors or {}).items()
        }
        visit.screenshot = page.screenshot(full_page=True, type="png")
    finally:
        context.close()
    return visit


def _said(message: Any) -> str:
    where = message.location.get("url", "")  # which resource: a favicon, an image, the page
    return f"{message.text} at {where[:120]}" if where else message.text


def _failure(request: Any) -> str:
    return f"{request.url[:120]} {request.failure}"


def _bad(response: Any) -> str:
    return f"{response.url[:120]} HTTP {response.status}"


def distinct_colours(png: bytes, limit: int = 4096) -> int:
    """How many colours a screenshot holds (capped): 1 means a blank page."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        colours = img.convert("RGB").getcolors(maxcolors=limit)
    return limit if colours is None else len(colours)


def serve_folder(server: LocalHttpServer, root: Path) -> None:
    """Route every file under `root` at its relative, percent-encoded path.

    HTML goes out as plain ``text/html`` with no charset parameter, so the page's own
    ``<meta charset>`` decides how Chromium decodes it, as when a user opens the file.
    """
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        server.route(
            "/" + quote(rel), Reply(body=path.read_bytes(), headers={"Content-Type": mime})
        )
