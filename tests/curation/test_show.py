"""curate show's page: samples in order, images at their markers, everything escaped."""

from __future__ import annotations

import base64

import lxml.html
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.show import (
    ShowConfig,
    data_uri,
    image_mime,
    render_page,
    split_markers,
)
from schemas import M3WSample
from schemas.records import END_OF_CHUNK, IMAGE_MARKER
from tests.fixtures.curate_outputs import (
    HOSTILE_TEXT,
    image_record,
    m3w_samples,
    pair_samples,
    video_samples,
)
from tests.fixtures.images import gif_bytes, jpeg_bytes, png_bytes, webp_bytes


def by_class(el, *classes: str, tag: str = "*") -> list:
    """Descendants of `el` carrying every class (XPath: no cssselect dependency)."""
    cond = " and ".join(
        f"contains(concat(' ', normalize-space(@class), ' '), ' {c} ')" for c in classes
    )
    return el.xpath(f".//{tag}[{cond}]")


def decode_src(src: str) -> bytes:
    head, payload = src.split(",", 1)
    assert head.startswith("data:image/") and head.endswith(";base64")
    return base64.b64decode(payload)


def rendered_sequence(section) -> list[tuple[str, object]]:
    """What a sample's text div shows, in order: text runs, image bytes, end-of-chunk badges."""
    out: list[tuple[str, object]] = []
    for el in by_class(section, "sample-text")[0]:
        classes = el.get("class", "").split()
        if "text" in classes:
            out.append(("text", el.text_content()))
        elif "eoc" in classes:
            out.append(("endofchunk", el.text_content()))
        elif "image" in classes:
            (img,) = el.findall("img")
            out.append(("image", decode_src(img.get("src"))))
        else:
            out.append(("other", el.text_content()))
    return out


def expected_sequence(sample: M3WSample) -> list[tuple[str, object]]:
    images = iter(sample.images)
    return [
        ("image", next(images).bytes) if seg.kind == "image" else (seg.kind, seg.text)
        for seg in split_markers(sample.text)
    ]


def test_every_m3w_sample_is_shown_with_its_images_at_their_markers():
    samples = m3w_samples(8)
    doc = lxml.html.fromstring(render_page(samples, "t"))
    sections = by_class(doc, "sample", tag="section")
    assert [int(s.get("data-index")) for s in sections] == list(range(8))
    for sample, section in zip(samples, sections, strict=True):
        assert rendered_sequence(section) == expected_sequence(sample)
        meta = by_class(section, "meta")[0].text_content()
        assert sample.url in meta and f"{sample.num_tokens} (tok)" in meta
        assert f"chunk{sample.chunk_index}" in meta.replace(" ", "")
    # Samples with images really have them (not a vacuous comparison).
    assert sum(len(by_class(s, "marker", "image", tag="span")) for s in sections) == sum(
        len(s.images) for s in samples
    )


def test_hostile_text_is_escaped_not_executed():
    samples = m3w_samples(3)
    page = render_page(samples, HOSTILE_TEXT)
    doc = lxml.html.fromstring(page)
    assert doc.findall(".//script") == []
    assert "<script>" not in page
    assert (
        HOSTILE_TEXT in by_class(doc.get_element_by_id("sample-1"), "sample-text")[0].text_content()
    )
    assert doc.findtext(".//title") == HOSTILE_TEXT


def test_markers_without_images_are_flagged_and_extra_images_not_shown():
    img = image_record(20, 20, seed=1)
    sample = M3WSample("d", 0, "u", f"a{IMAGE_MARKER}b{IMAGE_MARKER}c", (img,), 5, "tok")
    section = lxml.html.fromstring(render_page([sample], "t")).findall(".//section")[0]
    assert len(by_class(section, "marker", "image")) == 1
    assert len(by_class(section, "marker", "missing")) == 1


def test_pairs_show_image_then_caption():
    pairs = pair_samples(3)
    doc = lxml.html.fromstring(render_page(pairs, "pairs"))
    legend = by_class(doc, "legend")[0].text_content()
    assert "<image>caption<|endofchunk|>" in legend and "Green frame" not in legend
    sections = by_class(doc, "sample", "pair", tag="section")
    assert len(sections) == 3
    for pair, section in zip(pairs, sections, strict=True):
        (img,) = section.findall(".//figure/img")
        assert decode_src(img.get("src")) == pair.image.bytes
        assert section.findall(".//figcaption")[0].text_content() == pair.caption


def test_video_shows_every_frame_in_order_and_the_caption():
    clips = video_samples(3)
    doc = lxml.html.fromstring(render_page(clips, "video"))
    assert "frames as one <image>" in by_class(doc, "legend")[0].text_content()
    for clip, section in zip(clips, by_class(doc, "sample", "video", tag="section"), strict=True):
        srcs = [decode_src(i.get("src")) for i in by_class(section, "strip")[0].findall(".//img")]
        assert srcs == list(clip.frames)
        assert by_class(section, "caption")[0].text_content() == clip.caption


def test_image_source_callback_decides_the_src():
    samples = m3w_samples(4)
    seen: list[bytes] = []

    def src(data: bytes) -> str:
        seen.append(data)
        return f"files/{len(seen)}.jpg"

    doc = lxml.html.fromstring(render_page(samples, "t", src, ShowConfig(image_max_px=99)))
    imgs = doc.findall(".//img")
    assert [i.get("src") for i in imgs] == [f"files/{k + 1}.jpg" for k in range(len(seen))]
    assert seen == [im.bytes for s in samples for im in s.images]
    assert all("max-width:99px" in i.get("style") for i in imgs)


def test_image_mime_and_data_uri():
    assert image_mime(jpeg_bytes(8, 8)) == "image/jpeg"
    assert image_mime(png_bytes(8, 8)) == "image/png"
    assert image_mime(webp_bytes(8, 8)) == "image/webp"
    assert image_mime(gif_bytes(8, 8)) == "image/gif"
    assert image_mime(b"nope") == "application/octet-stream"
    data = png_bytes(8, 8)
    assert data_uri(data).startswith("data:image/png;base64,")
    assert decode_src(data_uri(data)) == data


def test_split_markers_examples():
    segs = split_markers(f"{IMAGE_MARKER}hi{END_OF_CHUNK}{IMAGE_MARKER}")
    assert [(s.kind, s.text) for s in segs] == [
        ("image", IMAGE_MARKER),
        ("text", "hi"),
        ("endofchunk", END_OF_CHUNK),
        ("image", IMAGE_MARKER),
    ]
    assert split_markers("") == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", " ", "<", ">", "|", "image", IMAGE_MARKER, END_OF_CHUNK, "<ima"]),
        max_size=20,
    )
)
def test_split_markers_round_trips_and_isolates_markers(pieces):
    text = "".join(pieces)
    segs = split_markers(text)
    assert "".join(s.text for s in segs) == text
    for s in segs:
        if s.kind == "text":
            assert IMAGE_MARKER not in s.text and END_OF_CHUNK not in s.text and s.text
    assert sum(s.kind == "image" for s in segs) == text.count(IMAGE_MARKER)
