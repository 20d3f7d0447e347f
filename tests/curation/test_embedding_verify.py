"""Embedding verification: the decisions on hand-made vectors, the verifier on a fake
encoder, and the open_clip image tower on a tiny random-weight model (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curation.embedding_verify import (
    EmbeddingConfig,
    EmbeddingError,
    EmbeddingVerifier,
    ImageEmbedder,
    best_confirmed,
    nearest_embeddings,
)
from curation.eval_index import load_eval_index
from curation.eval_sources import build_eval_dataset, image_file_tasks
from curation.images import process_image
from tests.fixtures.eval_sets import (
    TINY_CLIP_OVERRIDES,
    FakeEmbedder,
    cropped,
    photo,
    write_folder,
)


def _unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_best_confirmed_takes_the_most_similar_candidate_above_the_bar():
    index = np.stack([_unit(1, 0, 0), _unit(0.9, 0.1, 0), _unit(0, 1, 0)])
    q = _unit(1, 0.05, 0)
    got = best_confirmed(q, np.array([2, 1, 0]), np.array([3, 5, 7]), index, 0.9)
    assert got is not None and got[:2] == (0, 7) and got[2] == pytest.approx(float(index[0] @ q))
    assert best_confirmed(q, np.array([2]), np.array([1]), index, 0.9) is None  # orthogonal
    assert best_confirmed(q, np.array([], dtype=np.int64), np.array([]), index, 0.0) is None


def test_nearest_embeddings_spans_blocks(monkeypatch):
    import curation.embedding_verify as ev

    monkeypatch.setattr(ev, "NN_BLOCK", 2)  # force several blocks
    rng = np.random.default_rng(0)
    index = rng.normal(size=(7, 5)).astype(np.float32)
    index /= np.linalg.norm(index, axis=1, keepdims=True)
    queries = np.stack([index[6], index[1], -index[3]])
    got = nearest_embeddings(queries, index, 0.99)
    assert got[0] is not None and got[0][0] == 6 and got[0][1] == pytest.approx(1.0)
    assert got[1] is not None and got[1][0] == 1
    assert got[2] is None  # nothing is that similar to a flipped vector


@pytest.fixture()
def fake_index(tmp_path):
    written = write_folder(tmp_path / "imgs", ["harbour", "forest", "city"])
    build_eval_dataset(
        str(tmp_path / "ix"),
        "ev",
        "val",
        image_file_tasks(str(tmp_path / "imgs")),
        embedder=FakeEmbedder(),
        progress=False,
    )
    return load_eval_index(str(tmp_path / "ix"), radius=8), written


def _record(data: bytes):
    return process_image(data, "https://crawl.example/x.jpg")


def test_verifier_confirms_copies_and_catches_crops_the_phash_misses(fake_index):
    index, written = fake_index
    crop = cropped(written["city"], keep=0.7)
    assert index.nearest([_record(crop).phash]) == [None]  # the phash alone misses it
    cfg = EmbeddingConfig("fake", min_cosine=0.9, crop_min_cosine=0.9)
    verifier = EmbeddingVerifier(cfg, embedder=FakeEmbedder())
    images = [_record(written["forest"]), _record(crop), _record(photo("elsewhere"))]
    copy, crop_match, other = verifier.find(index, images)
    assert copy is not None and copy.image_id == "forest" and copy.distance == 0
    assert copy.cosine == pytest.approx(1.0, abs=1e-4)
    assert crop_match is not None and crop_match.image_id == "city" and crop_match.distance > 8
    assert other is None
    # Without the crop search only phash candidates can match.
    strict = EmbeddingVerifier(
        EmbeddingConfig("fake", min_cosine=0.9, catch_crops=False), embedder=FakeEmbedder()
    )
    assert strict.find(index, images)[1] is None


def test_verifier_rejects_phash_candidates_the_encoder_disagrees_with(fake_index):
    index, written = fake_index

    class Contrary(FakeEmbedder):
        def embed(self, images):
            return -super().embed(images)  # every crawl image looks unlike every eval image

    verifier = EmbeddingVerifier(EmbeddingConfig("fake", min_cosine=0.5), embedder=Contrary())
    assert verifier.find(index, [_record(written["forest"])]) == [None]


def test_verifier_refuses_an_index_without_or_with_other_embeddings(fake_index, tmp_path):
    index, _ = fake_index

    class Other(FakeEmbedder):
        name = "another-model"

    with pytest.raises(EmbeddingError) as e:
        EmbeddingVerifier(EmbeddingConfig("x"), embedder=Other()).check_index(index)
    assert e.value.reason == "embedding_model_mismatch"
    write_folder(tmp_path / "plain", ["a"])
    build_eval_dataset(
        str(tmp_path / "ix2"), "p", "v", image_file_tasks(str(tmp_path / "plain")), progress=False
    )
    plain = load_eval_index(str(tmp_path / "ix2"), radius=8)
    with pytest.raises(EmbeddingError) as e:
        EmbeddingVerifier(EmbeddingConfig("x"), embedder=FakeEmbedder()).check_index(plain)
    assert e.value.reason == "index_without_embeddings"


def _tiny(checkpoint: str | None = None, **kw) -> EmbeddingConfig:
    return EmbeddingConfig(
        "ViT-S-32", checkpoint=checkpoint, overrides=TINY_CLIP_OVERRIDES, batch_size=2, **kw
    )


def test_open_clip_embedder_gives_unit_vectors_and_loads_local_weights(tmp_path):
    torch.manual_seed(0)
    first = ImageEmbedder(_tiny())
    images = [photo("a"), photo("a"), photo("b")]
    vec = first.embed(images)
    assert vec.shape == (3, 32) and np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    assert float(vec[0] @ vec[1]) == pytest.approx(1.0, abs=1e-5)
    assert float(vec[0] @ vec[2]) < 0.99999
    # A full CLIP-style checkpoint ("visual." keys) restores the same encoder elsewhere.
    ckpt = tmp_path / "clip.pt"
    torch.save(
        {"state_dict": {f"visual.{k}": v for k, v in first.visual.state_dict().items()}}, ckpt
    )
    torch.manual_seed(123)
    second = ImageEmbedder(_tiny(str(ckpt)))
    assert np.allclose(second.embed(images), vec, atol=1e-5)
    assert second.name.startswith("ViT-S-32@clip.pt")


def test_open_clip_embedder_errors(tmp_path):
    with pytest.raises(EmbeddingError) as e:
        ImageEmbedder(EmbeddingConfig("no-such-model"))
    assert e.value.reason == "unknown_model"
    with pytest.raises(EmbeddingError) as e:
        ImageEmbedder(_tiny(str(tmp_path / "missing.pt")))
    assert e.value.reason == "checkpoint_missing"
    torch.save({"visual.nonsense": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(EmbeddingError) as e:
        ImageEmbedder(_tiny(str(tmp_path / "bad.pt")))
    assert e.value.reason == "checkpoint_mismatch"


def test_tiny_open_clip_end_to_end_confirms_an_exact_copy(tmp_path):
    torch.manual_seed(0)
    embedder = ImageEmbedder(_tiny())
    written = write_folder(tmp_path / "imgs", ["harbour", "forest"])
    build_eval_dataset(
        str(tmp_path / "ix"),
        "ev",
        "val",
        image_file_tasks(str(tmp_path / "imgs")),
        embedder=embedder,
        progress=False,
    )
    index = load_eval_index(str(tmp_path / "ix"), radius=8)
    # Random weights put all images close together; a bar at ~1 separates copies only.
    verifier = EmbeddingVerifier(
        _tiny(min_cosine=0.99999, crop_min_cosine=0.99999), embedder=embedder
    )
    found = verifier.find(index, [_record(written["forest"]), _record(photo("other"))])
    assert found[0] is not None and found[0].image_id == "forest"
    assert found[1] is None
