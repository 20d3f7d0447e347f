"""The bundled pair and video samples: lists, files and the expectations in media.json."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from curation.captions import filter_caption
from curation.ffmpeg_tools import find_tools
from curation.images import ImageConfig
from curation.sample_media import (
    MEDIA_NAME,
    SUBJECTS,
    caption_texts,
    make_sample_media,
)
from curation.video import VideoConfig, VideoRejected, sample_video_file

BASE = "http://127.0.0.1:9999/data/"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    planted = Image.new("RGB", (200, 160), (10, 200, 30))
    buf = io.BytesIO()
    planted.save(buf, "JPEG")
    made = make_sample_media(
        root, BASE, seed=3, pairs=10, videos=5, seconds=3, planted=buf.getvalue()
    )
    return root, made, buf.getvalue()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _local(root: Path, url: str) -> Path:
    assert url.startswith(BASE), url
    return root / url[len(BASE) :]


def test_pair_list_names_every_file_under_the_base_url(media):
    root, made, planted = media
    rows = _rows(root / made.pairs_list)
    assert len(rows) == made.pairs.total == 10 + 5
    bad = {Path(r["url"]).name: r for r in rows if Path(r["url"]).name in made.pairs.rejected}
    assert set(bad) == {"missing.jpg", "truncated.jpg", "tiny.jpg", "short.jpg", "planted.jpg"}
    assert not _local(root, bad["missing.jpg"]["url"]).exists()
    assert _local(root, bad["planted.jpg"]["url"]).read_bytes() == planted


def test_good_pairs_pass_the_caption_and_image_filters(media):
    root, made, _ = media
    good = [r for r in _rows(root / made.pairs_list) if Path(r["url"]).name.startswith("pair-")]
    assert len(good) == made.pairs.kept
    cfg = ImageConfig()
    for row in good:
        assert filter_caption(row["caption"])[1].keep, row
        with Image.open(_local(root, row["url"])) as img:
            assert img.format == "JPEG" and min(img.size) >= cfg.min_side
    # Every scene kind appears: the captions say what is in the picture.
    subjects = {
        s for row in good for subs in SUBJECTS.values() for s in subs if s in row["caption"]
    }
    assert len(subjects) >= 5


def test_bad_pairs_fail_for_the_reason_they_are_there(media):
    root, made, _ = media
    rows = {Path(r["url"]).name: r for r in _rows(root / made.pairs_list)}
    assert not filter_caption(rows["short.jpg"]["caption"])[1].keep
    with Image.open(_local(root, rows["tiny.jpg"]["url"])) as img:
        assert min(img.size) < ImageConfig().min_side
    with pytest.raises(OSError), Image.open(_local(root, rows["truncated.jpg"]["url"])) as img:
        img.load()


def test_clips_decode_at_one_frame_per_second_and_bad_ones_are_rejected(media, tmp_path):
    root, made, _ = media
    rows = _rows(root / made.videos_list)
    assert len(rows) == made.videos.total == 5 + 3
    tools = find_tools()
    kept = 0
    for row in rows:
        path = _local(root, row["url"])
        name = path.name
        if name in made.videos.rejected:
            if path.exists():
                with pytest.raises(VideoRejected):
                    sample_video_file(str(path), VideoConfig(), tools)
            else:
                assert name == "missing.mp4"
            continue
        clip = sample_video_file(str(path), VideoConfig(), tools)
        assert len(clip.frames) == 3 and (clip.width, clip.height) == (192, 144)
        assert row["caption"].split()[0] in {"A", "The"}
        kept += 1
    assert kept == made.videos.kept == 5


def test_media_json_round_trips_the_expectations(media):
    root, made, _ = media
    data = json.loads((root / MEDIA_NAME).read_text())
    assert data["base_url"] == BASE
    assert data["pairs"]["kept"] == made.pairs.kept
    assert sorted(data["videos"]["rejected"]) == sorted(made.videos.rejected)


def test_same_seed_same_pairs_other_seed_other_pairs(tmp_path):
    a = make_sample_media(tmp_path / "a", BASE, seed=1, pairs=4, videos=1, seconds=1)
    b = make_sample_media(tmp_path / "b", BASE, seed=1, pairs=4, videos=1, seconds=1)
    make_sample_media(tmp_path / "c", BASE, seed=2, pairs=4, videos=1, seconds=1)
    assert a == b
    read = lambda d: (d / "pairs" / "pairs.csv").read_text()  # noqa: E731
    assert read(tmp_path / "a") == read(tmp_path / "b") != read(tmp_path / "c")
    img = "pairs/images/pair-000.jpg"
    assert (tmp_path / "a" / img).read_bytes() == (tmp_path / "b" / img).read_bytes()
    assert "planted.jpg" not in a.pairs.rejected  # nothing planted when no bytes given


def test_base_url_gets_its_trailing_slash(tmp_path):
    made = make_sample_media(tmp_path, "http://127.0.0.1:1/x", pairs=1, videos=1, seconds=1)
    assert made.base_url == "http://127.0.0.1:1/x/"
    assert _rows(tmp_path / made.pairs_list)[0]["url"].startswith("http://127.0.0.1:1/x/pairs/")


def test_caption_texts_cover_every_caption_word(media):
    root, made, _ = media
    vocabulary = {w for text in caption_texts() for w in text.split()}
    for name in (made.pairs_list, made.videos_list):
        for row in _rows(root / name):
            if Path(row["url"]).name.startswith(("pair-", "clip-")):
                assert set(row["caption"].split()) <= vocabulary, row["caption"]
