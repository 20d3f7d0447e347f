"""Few-shot evaluation hook: COCO-style captions (CIDEr) and VQA (accuracy) on small local sets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from trainer.config import EvalConfig
from trainer.errors import DataError
from trainer.eval import cider_d, vqa_accuracy
from trainer.generate import generate
from trainer.parallel import DistInfo, barrier

# OpenFlamingo's prompt formats, so numbers are comparable with its evaluations.
CAPTION_SHOT = "<image>Output:{caption}<|endofchunk|>"
CAPTION_QUERY = "<image>Output:"
VQA_SHOT = "<image>Question:{question} Short answer:{answer}<|endofchunk|>"
VQA_QUERY = "<image>Question:{question} Short answer:"


@dataclass(frozen=True)
class Example:
    image: Path
    text: str  # a caption, or a question
    answers: tuple[str, ...]  # all captions of the image, or the annotators' answers


def load_captions(path: str | Path) -> list[Example]:
    """COCO captions JSON ({"images": [{id, file_name}], "annotations": [{image_id, caption}]})."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        files = {img["id"]: path.parent / img["file_name"] for img in data["images"]}
        caps: dict[Any, list[str]] = {}
        for ann in data["annotations"]:
            caps.setdefault(ann["image_id"], []).append(ann["caption"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError("bad_caption_set", f"{path}: {e}") from e
    return [Example(files[i], c[0], tuple(c)) for i, c in caps.items() if i in files]


def load_vqa(path: str | Path) -> list[Example]:
    """VQA JSONL: one {"image": relative path, "question": str, "answers": [str]} per line."""
    path = Path(path)
    out = []
    try:
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                answers = tuple(row["answers"])
                out.append(Example(path.parent / row["image"], row["question"], answers))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError("bad_vqa_set", f"{path}: {e}") from e
    return out


def _image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except OSError as e:
        raise DataError("unreadable_eval_image", f"{path}: {e}") from e


def _clean(text: str) -> str:
    """First line of a generation, without a following prompt keyword."""
    for stop in ("\n", "Output", "Question"):
        text = text.split(stop)[0]
    return text.strip()


def run_task(model: Any, tokenizer: Any, preprocess: Any, cfg: EvalConfig, task: str) -> float:
    """Score one task; demonstrations for example i are the next `shots` examples."""
    examples = load_captions(cfg.captions) if task == "captions" else load_vqa(cfg.vqa)
    shot_fmt, query_fmt = (
        (CAPTION_SHOT, CAPTION_QUERY) if task == "captions" else (VQA_SHOT, VQA_QUERY)
    )
    predictions, scores = {}, []
    for i, ex in enumerate(examples[: cfg.max_examples]):
        shots = [examples[(i + k) % len(examples)] for k in range(1, cfg.shots + 1)]
        shots = [s for s in shots if s is not ex]
        prompt = "".join(
            shot_fmt.format(caption=s.text, question=s.text, answer=s.answers[0]) for s in shots
        )
        prompt += query_fmt.format(question=ex.text)
        images = [_image(s.image) for s in shots] + [_image(ex.image)]
        text = _clean(generate(model, tokenizer, preprocess, prompt, images, cfg.max_new_tokens))
        if task == "captions":
            predictions[str(i)] = text
        else:
            scores.append(vqa_accuracy(text, ex.answers))
    if task == "captions":
        refs = {str(i): list(ex.answers) for i, ex in enumerate(examples[: cfg.max_examples])}
        return cider_d(predictions, refs)[0]
    return sum(scores) / max(1, len(scores))


def evaluate(model: Any, tokenizer: Any, preprocess: Any, cfg: EvalConfig, info: DistInfo) -> dict:
    """CIDEr and/or VQA accuracy on rank 0 (other ranks wait); the model is put back in train."""
    results: dict[str, float] = {}
    if info.is_main:
        was_training = model.training
        model.eval()
        if cfg.captions:
            results[f"cider_{cfg.shots}shot"] = run_task(
                model, tokenizer, preprocess, cfg, "captions"
            )
        if cfg.vqa:
            results[f"vqa_acc_{cfg.shots}shot"] = run_task(model, tokenizer, preprocess, cfg, "vqa")
        model.train(was_training)
    barrier()
    return results
