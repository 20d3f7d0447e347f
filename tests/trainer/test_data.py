"""Parquet streaming: schema checks, sharding without overlap, exact resume, sample formatting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.base import versioned
from schemas.records import END_OF_CHUNK, IMAGE_MARKER, Rejection
from schemas.tables import (
    M3W_SCHEMA,
    REJECTION_SCHEMA,
    VIDEO_SCHEMA,
    pair_sample_to_row,
    rejection_to_row,
    video_sample_to_row,
)
from tests.fixtures.trainer_data import (
    TINY_VISION,
    image_row,
    jpeg,
    m3w_rows,
    pair_samples,
    video_samples,
    write_m3w,
)
from trainer.config import DatasetConfig
from trainer.data import DatasetLoader, SampleStream, discover_units
from trainer.errors import DataError, SampleError
from trainer.model.vision import build_vision_encoder
from trainer.samples import collate, decode_image, m3w_example, pair_example, video_example
from trainer.tokenizer import load_tokenizer, special_ids


@pytest.fixture(scope="module")
def tok(lm_dirs):
    return load_tokenizer(str(lm_dirs["gpt2"]))


@pytest.fixture(scope="module")
def preprocess():
    return build_vision_encoder("ViT-S-32", None, TINY_VISION)[1]


def row_key(row):
    return (row["doc_id"], row["chunk_index"])


def epoch_rows(stream: SampleStream, first: tuple | None = None) -> tuple[list, tuple]:
    """Rows of the current epoch (after `first`), and the first row of the next one."""
    out, epoch = [first] if first else [], stream.epoch
    while True:
        row = row_key(stream.next_row())
        if stream.epoch != epoch:
            return out, row
        out.append(row)


def test_wrong_schema_version_is_rejected_with_the_file_named(tmp_path):
    bad = tmp_path / "old.parquet"
    schema = versioned(M3W_SCHEMA, "m3w_sample", 99)
    pq.write_table(pa.Table.from_pylist(m3w_rows(2), schema=schema), bad)
    with pytest.raises(DataError) as err:
        discover_units(str(tmp_path), "m3w")
    assert err.value.reason == "schema_mismatch"
    assert "old.parquet" in err.value.detail and "99" in err.value.detail


def test_file_without_interleaf_metadata_is_rejected(tmp_path):
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.Table.from_pylist(m3w_rows(2), schema=M3W_SCHEMA.with_metadata({})), plain)
    with pytest.raises(DataError, match=r"plain\.parquet"):
        discover_units(str(plain), "m3w")


def test_pair_shards_are_not_read_as_m3w(shards):
    with pytest.raises(DataError) as err:
        discover_units(str(shards["pairs"]), "m3w")
    assert err.value.reason == "schema_mismatch" and "pair_sample" in err.value.detail


def test_rejections_and_summary_beside_samples_are_passed_over(tmp_path):
    # The layout `curate m3w` writes: samples, rejections and summary.json in one directory.
    write_m3w(tmp_path / "samples-00000-of-00001.parquet", n=4)
    rejection = rejection_to_row(Rejection("chunk", "no_text", "doc1", "empty"))
    pq.write_table(
        pa.Table.from_pylist([rejection], schema=REJECTION_SCHEMA),
        tmp_path / "rejections-00000-of-00001.parquet",
    )
    (tmp_path / "summary.json").write_text("{}")
    units = discover_units(str(tmp_path), "m3w")
    assert [Path(u.path).name for u in units] == ["samples-00000-of-00001.parquet"]
    assert sum(u.num_rows for u in units) == 4
    # A wrong version of the expected record type is still refused, even beside others.
    old = versioned(M3W_SCHEMA, "m3w_sample", 0)
    pq.write_table(pa.Table.from_pylist(m3w_rows(1), schema=old), tmp_path / "old.parquet")
    with pytest.raises(DataError, match=r"old\.parquet"):
        discover_units(str(tmp_path), "m3w")


@pytest.mark.parametrize("slots", [1, 2, 3, 7, 16])
def test_slots_partition_every_epoch_without_overlap(shards, slots):
    units = discover_units(str(shards["m3w"]), "m3w")
    everything = []
    for slot in range(slots):
        stream = SampleStream(units, slot, slots, seed=5, columns=["doc_id", "chunk_index"])
        everything += epoch_rows(stream)[0]
    assert len(everything) == 16
    assert len(set(everything)) == 16


def test_epochs_reshuffle_and_stream_state_resumes_exactly(shards):
    units = discover_units(str(shards["m3w"]), "m3w")
    cols = ["doc_id", "chunk_index"]
    a = SampleStream(units, 0, 1, seed=5, columns=cols)
    first, head = epoch_rows(a)
    second, _ = epoch_rows(a, head)
    assert sorted(first) == sorted(second) and first != second
    b = SampleStream(units, 1, 2, seed=5, columns=cols)
    for _ in range(11):  # past an epoch boundary
        b.next_row()
    state = b.state_dict()
    expected = [row_key(b.next_row()) for _ in range(9)]
    c = SampleStream(units, 1, 2, seed=5, columns=cols)
    c.load_state_dict(state)
    assert [row_key(c.next_row()) for _ in range(9)] == expected


def loader(shards, tok, preprocess, workers, state=None, rank=0, world=1, kind="m3w", **over):
    cfg = DatasetConfig(name=kind, kind=kind, path=str(shards[kind]), batch_size=3, **over)
    return DatasetLoader(
        cfg, tok, special_ids(tok), preprocess, rank, world, workers, seed=1, state=state
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_resumes_to_the_exact_batches(shards, tok, preprocess, workers):
    full = loader(shards, tok, preprocess, workers)
    reference = [next(full).input_ids for _ in range(7)]
    first = loader(shards, tok, preprocess, workers)
    for _ in range(3):
        next(first)
    state = first.state_dict()
    resumed = loader(shards, tok, preprocess, workers, state=state)
    for want in reference[3:]:
        assert torch.equal(next(resumed).input_ids, want)


def test_layout_change_is_refused(shards, tok, preprocess):
    first = loader(shards, tok, preprocess, 0)
    next(first)
    with pytest.raises(DataError) as err:
        loader(shards, tok, preprocess, 2, state=first.state_dict())
    assert err.value.reason == "data_layout_changed"


def test_ranks_read_disjoint_samples(shards, tok, preprocess):
    seen = []
    for rank in (0, 1):
        stream = loader(shards, tok, preprocess, 0, rank=rank, world=2)
        batches = [next(stream) for _ in range(2)]  # 6 of the 8 rows each rank owns
        seen.append(
            {tuple(row[row != tok.pad_token_id].tolist()) for b in batches for row in b.input_ids}
        )
    assert len(seen[0]) >= 3 and len(seen[1]) >= 3
    assert not (seen[0] & seen[1])


def test_m3w_example_keeps_markers_and_images_in_step(tok, preprocess):
    ids = special_ids(tok)
    row = m3w_rows(1, seed=3, max_images=3)[0]
    ex = m3w_example(row, tok, ids, preprocess, max_tokens=256, max_images=2)
    assert ex.input_ids.count(ids.image) == 2 == len(ex.images)
    assert ex.images[0].shape == (1, 3, 32, 32)
    assert ex.input_ids[-1] == ids.eos
    cut = m3w_example(row, tok, ids, preprocess, max_tokens=12, max_images=5)
    assert len(cut.input_ids) == 12 and cut.input_ids.count(ids.image) == len(cut.images)


def test_m3w_marker_mismatch_and_bad_bytes_are_sample_errors(tok, preprocess):
    ids = special_ids(tok)
    row = m3w_rows(1, max_images=2)[0]
    with pytest.raises(SampleError) as err:
        m3w_example({**row, "images": row["images"][:1]}, tok, ids, preprocess, 256, 5)
    assert err.value.reason == "marker_image_mismatch"
    broken = [{**row["images"][0], "bytes": b"not an image"}, row["images"][1]]
    with pytest.raises(SampleError) as err:
        m3w_example({**row, "images": broken}, tok, ids, preprocess, 256, 5)
    assert err.value.reason == "image_decode_error"


def test_bad_rows_are_skipped_and_counted(tmp_path, tok, preprocess):
    rows = m3w_rows(5, seed=4)  # row 0 always has images
    rows[0]["images"][0] = {**rows[0]["images"][0], "bytes": b"junk"}
    pq.write_table(pa.Table.from_pylist(rows, schema=M3W_SCHEMA), tmp_path / "a.parquet")
    stream = loader({"m3w": tmp_path}, tok, preprocess, 0)
    next(stream)
    next(stream)  # 6 good rows: more than one epoch of 4, so the bad row was read
    oracle = SampleStream(discover_units(str(tmp_path), "m3w"), 0, 1, 1, ["doc_id", "chunk_index"])
    good = bad = 0
    while good < 6:
        if oracle.next_row()["doc_id"] == rows[0]["doc_id"]:
            bad += 1
        else:
            good += 1
    assert bad >= 1
    assert stream.skipped() == {"image_decode_error": bad}


def test_pairs_and_video_are_formatted_as_captions(shards, tok, preprocess):
    ids = special_ids(tok)
    pair = pair_example(
        {"image": image_row(jpeg((1, 2, 3))), "caption": " a red square "}, tok, ids, preprocess, 32
    )
    assert tok.decode(pair.input_ids) == f"{IMAGE_MARKER}a red square{END_OF_CHUNK}{tok.eos_token}"
    frames = [jpeg((10 * i, 0, 0), seed=i) for i in range(3)]
    clip = video_example({"frames": frames, "caption": "x"}, tok, ids, preprocess, 32, frames=5)
    assert clip.images[0].shape == (5, 3, 32, 32)
    batch = next(loader(shards, tok, preprocess, 0, kind="video", frames=4))
    assert batch.pixels.shape == (3, 4, 3, 32, 32) and batch.num_media.tolist() == [1, 1, 1]


def gapped_clip_file(path: Path, with_times: bool) -> list[bytes]:
    """One 9-frame clip whose frames 6..19 s were lost: times 0..5 s, then 20..22 s."""
    clip = video_samples(1, seed=6, frames=(9,))[0]
    times = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 20.0, 21.0, 22.0)
    row = video_sample_to_row(dataclasses.replace(clip, frame_times=times, duration=23.0))
    schema = VIDEO_SCHEMA
    if not with_times:  # as a hand-made file might be: the column left out
        schema = schema.remove(schema.get_field_index("frame_times"))
        del row["frame_times"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([row], schema=schema), path)
    return list(clip.frames)


@pytest.mark.parametrize(("with_times", "picked"), [(True, (0, 5, 6, 8)), (False, (0, 3, 5, 8))])
def test_video_loader_spaces_frames_by_time_when_the_file_has_times(
    tmp_path, tok, preprocess, with_times, picked
):
    frames = gapped_clip_file(tmp_path / "video" / "part-0.parquet", with_times)
    batch = next(loader({"video": tmp_path / "video"}, tok, preprocess, 0, kind="video", frames=4))
    want = torch.stack([decode_image(frames[i], preprocess) for i in picked])
    assert batch.pixels.shape == (3, 4, 3, 32, 32)
    for clip in batch.pixels:  # the one row, three times over
        assert torch.equal(clip, want)


def test_pair_shards_in_the_shared_schema_load_and_name_bad_samples(shards, tok, preprocess):
    batch = next(loader(shards, tok, preprocess, 0, kind="pairs"))
    assert batch.pixels.shape == (3, 1, 3, 32, 32) and batch.num_media.tolist() == [1, 1, 1]
    assert (batch.input_ids == special_ids(tok).image).sum() == 3
    row = pair_sample_to_row(pair_samples(1, seed=5)[0])
    broken = {**row, "image": {**row["image"], "bytes": b""}}
    with pytest.raises(SampleError) as err:
        pair_example(broken, tok, special_ids(tok), preprocess, 32)
    assert err.value.reason == "pair_without_image" and "pair5-0" in err.value.detail


def test_collate_pads_and_masks_labels(tok, preprocess):
    ids = special_ids(tok)
    rows = m3w_rows(3, seed=7)
    examples = [m3w_example(r, tok, ids, preprocess, 256, 5) for r in rows]
    batch = collate(examples, ids)
    assert batch.pixels.shape[0] == batch.num_media.sum() == sum(len(e.images) for e in examples)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        labels = batch.labels[i]
        assert (labels[n:] == -100).all() and (batch.attention_mask[i, n:] == 0).all()
        assert (labels[batch.input_ids[i] == ids.image] == -100).all()
        if ids.image in e.input_ids:
            first = e.input_ids.index(ids.image)
            assert (labels[:first] == -100).all() and (labels[first + 1 : n] != -100).any()
        else:
            assert (labels == -100).all()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(
        st.sampled_from(["word ", IMAGE_MARKER, END_OF_CHUNK, "é ", "<ima", "\n"]), max_size=30
    ),
    max_tokens=st.integers(2, 40),
    max_images=st.integers(1, 4),
)
def test_m3w_formatting_invariants(tok, preprocess, pieces, max_tokens, max_images):
    ids = special_ids(tok)
    text = "".join(pieces)
    image = image_row(jpeg((9, 9, 9)))
    row = {
        "doc_id": "d",
        "chunk_index": 0,
        "text": text,
        "images": [image] * text.count(IMAGE_MARKER),
    }
    ex = m3w_example(row, tok, ids, preprocess, max_tokens, max_images)
    assert len(ex.input_ids) <= max_tokens
    assert ex.input_ids.count(ids.image) == len(ex.images) <= max_images
