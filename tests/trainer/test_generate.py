"""Generation: cached media and KV cache give the same tokens as full recomputation."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from tests.fixtures.trainer_data import COLORS, TINY_FLAMINGO, jpeg
from trainer.config import ModelConfig, config_from_dict
from trainer.errors import ModelError
from trainer.generate import generate, load_for_inference, main
from trainer.model import build_flamingo
from trainer.train import train

PROMPT = "<image>a photo of a red square.<|endofchunk|><image>a photo of"


def picture(color: str) -> Image.Image:
    return Image.open(io.BytesIO(jpeg(COLORS[color]))).convert("RGB")


@pytest.fixture(scope="module")
def model(lm_dirs):
    torch.manual_seed(0)
    flamingo, tok, pre = build_flamingo(ModelConfig(lm_path=str(lm_dirs["llama"]), **TINY_FLAMINGO))
    with torch.no_grad():
        for block in flamingo.xattn_blocks():  # open gates so the images matter
            block.attn_gate.fill_(1.0)
            block.ff_gate.fill_(1.0)
    return flamingo.eval(), tok, pre


def greedy_without_cache(flamingo, tok, pre, prompt, images, steps):
    ids = tok(prompt)["input_ids"]
    pixels = torch.stack([pre(i) for i in images])[:, None]
    out = []
    with torch.no_grad():
        for _ in range(steps):
            logits = flamingo(
                torch.tensor([ids + out]), pixels=pixels, num_media=torch.tensor([len(images)])
            ).logits[0, -1]
            logits[flamingo.ids.image] = float("-inf")
            out.append(int(logits.argmax()))
    return out


def test_generation_uses_cached_media_and_matches_recomputation(model):
    flamingo, tok, pre = model
    images = [picture("red"), picture("blue")]
    calls = []
    hook = flamingo.vision.register_forward_hook(lambda *a: calls.append(1))
    try:
        text = generate(
            flamingo, tok, pre, PROMPT, images, max_new_tokens=8, stop_at_end_of_chunk=False
        )
    finally:
        hook.remove()
    assert calls == [1]  # the encoder ran once for all decoding steps
    assert isinstance(text, str)
    expected = greedy_without_cache(flamingo, tok, pre, PROMPT, images, 8)
    stop = [i for i, t in enumerate(expected) if t == flamingo.ids.eos]
    expected = expected[: stop[0]] if stop else expected
    assert text == tok.decode(expected, skip_special_tokens=True)


def test_generated_text_depends_on_the_last_image(model):
    flamingo, tok, pre = model
    a = generate(
        flamingo, tok, pre, PROMPT, [picture("red"), picture("blue")], 6, stop_at_end_of_chunk=False
    )
    b = generate(
        flamingo,
        tok,
        pre,
        PROMPT,
        [picture("red"), picture("white")],
        6,
        stop_at_end_of_chunk=False,
    )
    assert a != b


def test_marker_count_must_match_images(model):
    flamingo, tok, pre = model
    with pytest.raises(ModelError) as err:
        generate(flamingo, tok, pre, PROMPT, [picture("red")])
    assert err.value.reason == "prompt_image_mismatch"


def test_sampling_is_seeded(model):
    flamingo, tok, pre = model
    images = [picture("red"), picture("blue")]
    runs = [
        generate(flamingo, tok, pre, PROMPT, images, 6, temperature=1.0, seed=7) for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_cli_generates_from_a_trained_run(tmp_path, lm_dirs, shards, capsys):
    cfg = config_from_dict(
        {
            "model": {**TINY_FLAMINGO, "lm_path": str(lm_dirs["gpt2"])},
            "data": {
                "num_workers": 0,
                "datasets": {
                    "m3w": {"path": str(shards["m3w"]), "batch_size": 2, "max_tokens": 64}
                },
            },
            "run": {"output": str(tmp_path / "run"), "steps": 1, "progress": False},
        }
    )
    train(cfg)
    for name in ("a", "b"):
        picture("green").save(tmp_path / f"{name}.jpg")
    main(
        [
            "--checkpoint",
            str(tmp_path / "run"),
            "--prompt",
            PROMPT,
            "--images",
            str(tmp_path / "a.jpg"),
            str(tmp_path / "b.jpg"),
            "--max-new-tokens",
            "4",
        ]
    )
    printed = capsys.readouterr().out
    assert printed.endswith("\n")
    flamingo, tok, pre, _ = load_for_inference(tmp_path / "run" / "checkpoints" / "step_00000001")
    assert printed[:-1] == generate(flamingo, tok, pre, PROMPT, [picture("green")] * 2, 4)
