"""Metrics on known values, and the few-shot evaluation hook on a tiny local set."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.fixtures.trainer_data import COLORS, TINY_FLAMINGO, jpeg
from trainer.config import EvalConfig, config_from_dict
from trainer.errors import DataError
from trainer.eval import caption_tokens, cider_d, normalize_answer, vqa_accuracy
from trainer.fewshot import evaluate, load_captions
from trainer.parallel import DistInfo
from trainer.train import train

REFS = {
    "1": ["a man riding a horse on a beach", "a person rides a brown horse along the shore",
          "man on horseback near the ocean"],
    "2": ["two dogs playing with a ball in the grass", "a pair of dogs chase a red ball",
          "dogs play fetch on a lawn"],
    "3": ["a plate of food with broccoli and rice", "a dinner plate with rice and vegetables"],
}  # fmt: skip
CANDIDATES = {"1": "a man riding a horse on the beach", "2": "two dogs play with a ball",
              "3": "a cat sitting on a couch"}  # fmt: skip


def test_cider_matches_coco_caption_reference_values():
    # Expected values computed with pycocoevalcap 1.2 (Cider().compute_score) on these strings.
    score, per_image = cider_d(CANDIDATES, REFS)
    assert score == pytest.approx(1.5990916369338795, abs=1e-12)
    assert per_image["1"] == pytest.approx(2.928397774619818, abs=1e-12)
    assert per_image["2"] == pytest.approx(1.86887713618182, abs=1e-12)
    assert per_image["3"] == 0.0


def test_cider_edge_cases():
    # With one image every n-gram has idf log(1/1) = 0, so CIDEr is 0 whatever the text.
    assert cider_d({"a": "a dog"}, {"a": ["a dog"]})[0] == 0.0
    assert caption_tokens("A Dog, running!") == ["a", "dog", "running"]
    with pytest.raises(ValueError):
        cider_d({"a": "x"}, {"b": ["x"]})


@pytest.mark.parametrize(
    ("matches", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)]
)
def test_vqa_accuracy_leave_one_out_values(matches, expected):
    answers = ["yes"] * matches + ["no"] * (10 - matches)
    assert vqa_accuracy("Yes.", answers) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("Two", "2"), ("The dog", "dog"), ("3,000", "3000"), ("yes!", "yes"), ("dont", "don't"),
     ("red/blue", "red blue"), ("an apple ", "apple"), ("Ten.", "10")],
)  # fmt: skip
def test_vqa_answer_normalization(raw, norm):
    assert normalize_answer(raw) == norm


def write_eval_sets(root):
    images = []
    for i, color in enumerate(("red", "blue", "green")):
        name = f"img{i}.jpg"
        Image.open(io.BytesIO(jpeg(COLORS[color]))).save(root / name)
        images.append({"id": i, "file_name": name})
    anns = [
        {"image_id": i, "caption": f"a {c} square"} for i, c in enumerate(("red", "blue", "green"))
    ]
    (root / "captions.json").write_text(json.dumps({"images": images, "annotations": anns}))
    lines = [json.dumps({"image": f"img{i}.jpg", "question": "what color?", "answers": [c] * 10})
             for i, c in enumerate(("red", "blue", "green"))]  # fmt: skip
    (root / "vqa.jsonl").write_text("\n".join(lines))


def test_training_runs_the_few_shot_hook(tmp_path, lm_dirs, shards):
    write_eval_sets(tmp_path)
    m3w = {"path": str(shards["m3w"]), "max_tokens": 64}
    cfg = config_from_dict(
        {
            "model": {**TINY_FLAMINGO, "lm_path": str(lm_dirs["gpt2"])},
            "data": {"num_workers": 0, "datasets": {"m3w": m3w}},
            "run": {"output": str(tmp_path / "run"), "steps": 2, "progress": False},
            "eval": {"every": 2, "captions": str(tmp_path / "captions.json"),
                     "vqa": str(tmp_path / "vqa.jsonl"), "shots": 1, "max_new_tokens": 3},
        }
    )  # fmt: skip
    train(cfg)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r["eval"] for r in records if "eval" in r]
    assert len(evals) == 1 and set(evals[0]) == {"cider_1shot", "vqa_acc_1shot"}
    assert evals[0]["cider_1shot"] >= 0 and 0 <= evals[0]["vqa_acc_1shot"] <= 1


def test_eval_set_errors_name_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DataError, match=r"bad\.json"):
        load_captions(tmp_path / "bad.json")
    cfg = EvalConfig(captions=None, vqa=None)
    assert evaluate(None, None, None, cfg, DistInfo(1, 1, 0, None)) == {}
