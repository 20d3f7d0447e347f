"""`curate show`: samples rendered as the model sees them, as one self-contained HTML page.

M3W text is split at its markers: each ``<image>`` becomes the image it stands for (in
order, as the trainer pairs them), each ``<|endofchunk|>`` a visible badge. Pairs show
image + caption; video clips a strip of their frames + caption. Every piece of text from
the data is HTML-escaped: crawled pages do contain ``<script>``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from schemas import M3WSample, PairSample, VideoSample
from schemas.records import END_OF_CHUNK, IMAGE_MARKER

# Maps encoded image bytes to an <img src>: a data: URI, or a file written beside the page.
ImageSource = Callable[[bytes], str]
Sample = M3WSample | PairSample | VideoSample


@dataclass(frozen=True)
class ShowConfig:
    """How the page looks."""

    image_max_px: int = 224  # CSS box per image: the CLIP input size the trainer resizes to
    frame_max_px: int = 112  # video frames are shown as a strip, smaller


@dataclass(frozen=True)
class Segment:
    """A piece of M3W text: kind is "text", "image" or "endofchunk"."""

    kind: str
    text: str = ""


def split_markers(text: str) -> list[Segment]:
    """Split M3W text into text runs and markers, in order; the text round-trips."""
    out: list[Segment] = []
    rest = text
    while rest:
        i, j = rest.find(IMAGE_MARKER), rest.find(END_OF_CHUNK)
        hits = [(p, m) for p, m in ((i, IMAGE_MARKER), (j, END_OF_CHUNK)) if p >= 0]
        if not hits:
            out.append(Segment("text", rest))
            break
        pos, marker = min(hits)
        if pos:
            out.append(Segment("text", rest[:pos]))
        out.append(Segment("image" if marker == IMAGE_MARKER else "endofchunk", marker))
        rest = rest[pos + len(marker) :]
    return out


def image_mime(data: bytes) -> str:
    """The MIME type of encoded image bytes, from their magic number."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return "application/octet-stream"


def data_uri(data: bytes) -> str:
    """A base64 data: URI for image bytes (the page stays one file)."""
    return f"data:{image_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _img(src: str, alt: str, max_px: int, css: str = "img") -> str:
    return (
        f'<img class="{css}" src="{_e(src)}" alt="{_e(alt)}" '
        f'style="max-width:{max_px}px;max-height:{max_px}px">'
    )


def _meta(pairs: Iterable[tuple[str, object]]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs)
    return f'<dl class="meta">{items}</dl>'


def render_m3w(sample: M3WSample, index: int, src: ImageSource, cfg: ShowConfig) -> str:
    """One M3W sample: its text with the images inline where their markers are."""
    parts: list[str] = []
    images = iter(sample.images)
    n_image = 0
    for seg in split_markers(sample.text):
        if seg.kind == "text":
            parts.append(f'<span class="text">{_e(seg.text)}</span>')
        elif seg.kind == "endofchunk":
            parts.append(f'<span class="marker eoc" title="end of chunk">{_e(END_OF_CHUNK)}</span>')
        else:
            img = next(images, None)
            n_image += 1
            if img is None:  # more markers than images: the trainer would fail on this row
                parts.append('<span class="marker missing">&lt;image&gt; without image</span>')
                continue
            label = f"image {n_image}: {img.width}×{img.height} {img.url}"
            parts.append(
                f'<span class="marker image" title="{_e(label)}" data-image="{n_image - 1}">'
                f"{_img(src(img.bytes), label, cfg.image_max_px)}</span>"
            )
    meta = _meta(
        [
            ("url", sample.url),
            ("doc_id", sample.doc_id),
            ("chunk", sample.chunk_index),
            ("tokens", f"{sample.num_tokens} ({sample.tokenizer})"),
            ("images", len(sample.images)),
        ]
    )
    return _card(index, "m3w", meta, f'<div class="sample-text">{"".join(parts)}</div>')


def render_pair(sample: PairSample, index: int, src: ImageSource, cfg: ShowConfig) -> str:
    """One image-text pair: the image, then its caption."""
    img = sample.image
    body = (
        f"<figure>{_img(src(img.bytes), sample.caption, cfg.image_max_px)}"
        f'<figcaption class="caption">{_e(sample.caption)}</figcaption></figure>'
    )
    meta = _meta(
        [("url", sample.url), ("id", sample.sample_id), ("size", f"{img.width}×{img.height}")]
    )
    return _card(index, "pair", meta, body)


def render_video(sample: VideoSample, index: int, src: ImageSource, cfg: ShowConfig) -> str:
    """One video clip: its sampled frames as a strip, then its caption."""
    frames = "".join(
        f'<span class="frame">{_img(src(f), f"t={t:.1f}s", cfg.frame_max_px, "img frame-img")}'
        f"<small>{t:.1f}s</small></span>"
        for f, t in zip(sample.frames, sample.frame_times, strict=False)
    )
    body = f'<div class="strip">{frames}</div><p class="caption">{_e(sample.caption)}</p>'
    meta = _meta(
        [
            ("url", sample.url),
            ("id", sample.sample_id),
            ("frames", f"{len(sample.frames)} at {sample.fps:g} fps"),
            ("duration", f"{sample.duration:.1f}s"),
            ("size", f"{sample.width}×{sample.height}"),
        ]
    )
    return _card(index, "video", meta, body)


def _card(index: int, kind: str, meta: str, body: str) -> str:
    return (
        f'<section class="sample {kind}" id="sample-{index}" data-index="{index}">'
        f"<h2>#{index}</h2>{meta}{body}</section>"
    )


def render_sample(sample: Sample, index: int, src: ImageSource, cfg: ShowConfig) -> str:
    """Dispatch on the record type."""
    if isinstance(sample, M3WSample):
        return render_m3w(sample, index, src, cfg)
    if isinstance(sample, PairSample):
        return render_pair(sample, index, src, cfg)
    return render_video(sample, index, src, cfg)


_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
.sample{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:1em 0}
.sample h2{font-size:1em;margin:.2em 0;color:#666}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:0 1em;font-size:.85em;color:#555}
.meta dd{margin:0;overflow-wrap:anywhere}
.sample-text{white-space:pre-wrap}
.marker{display:inline-block;vertical-align:middle;border-radius:4px;margin:2px}
.marker.image{border:2px solid #2a7}
.eoc{background:#c33;color:#fff;font:12px monospace;padding:0 4px}
.missing{background:#fc0;font:12px monospace;padding:0 4px}
.strip{display:flex;flex-wrap:wrap;gap:4px}
.frame{display:inline-flex;flex-direction:column;align-items:center;font-size:.75em}
.caption{font-style:italic}
"""


def legend_text(samples: Sequence[Sample]) -> str:
    """How to read the page: what the model sees for this kind of sample (HTML)."""
    image, eoc = f"<code>{_e(IMAGE_MARKER)}</code>", f"<code>{_e(END_OF_CHUNK)}</code>"
    if samples and isinstance(samples[0], PairSample):
        return f"The model sees each pair as {image}caption{eoc}."
    if samples and isinstance(samples[0], VideoSample):
        return (
            f"The model sees each clip's frames as one {image} (a short video), then the caption."
        )
    return (
        f"Green frame: an image at its {image} marker; "
        f'<span class="marker eoc">{_e(END_OF_CHUNK)}</span>: end of chunk.'
    )


def render_page(
    samples: Sequence[Sample],
    title: str,
    src: ImageSource = data_uri,
    cfg: ShowConfig | None = None,
) -> str:
    """A whole HTML page of samples; `src` decides where image bytes go."""
    cfg = cfg or ShowConfig()
    cards = "\n".join(render_sample(s, i, src, cfg) for i, s in enumerate(samples))
    legend = f'<p class="legend">{len(samples)} samples. {legend_text(samples)}</p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # An empty icon: served over HTTP, the browser's /favicon.ico 404 is a console error.
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{_e(title)}</h1>{legend}\n{cards}\n</body></html>\n"
    )
