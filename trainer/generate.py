"""interleaf-generate: few-shot generation from a trained run, images encoded once and cached."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from schemas.records import IMAGE_MARKER
from trainer.checkpoint import latest_checkpoint, load_trainable
from trainer.config import TrainConfig, load_config
from trainer.errors import CheckpointError, ModelError, TrainerError
from trainer.model import Flamingo, build_flamingo


def resolve_checkpoint(path: str | Path) -> tuple[Path, Path]:
    """(run directory, step directory) from either of them."""
    path = Path(path)
    if (path / "config.yaml").is_file():
        step = latest_checkpoint(path)
        if step is None:
            raise CheckpointError("no_checkpoint", f"{path}: no checkpoints/latest")
        return path, step
    run = path.parent.parent
    if (path / "meta.json").is_file() and (run / "config.yaml").is_file():
        return run, path
    raise CheckpointError("not_a_run", f"{path}: neither a run directory nor a checkpoint in one")


def load_for_inference(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[Flamingo, Any, Any, TrainConfig]:
    """Rebuild the model of a run from its config.yaml and load the trained weights."""
    run, step = resolve_checkpoint(path)
    cfg = load_config(run / "config.yaml")
    torch.manual_seed(cfg.run.seed)
    model, tokenizer, preprocess = build_flamingo(cfg.model)
    load_trainable(model, step)
    return model.to(device).eval(), tokenizer, preprocess, cfg


def _next_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None):
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(
    model: Flamingo,
    tokenizer: Any,
    preprocess: Any,
    prompt: str,
    images: Sequence[Image.Image],
    max_new_tokens: int = 20,
    temperature: float = 0.0,
    seed: int | None = None,
    stop_at_end_of_chunk: bool = True,
) -> str:
    """Continue `prompt` (with one `<image>` per image) and return only the new text.

    The images go through the vision encoder and resampler once; every decoding step
    reuses those latents and the LM's KV cache.
    """
    if prompt.count(IMAGE_MARKER) != len(images):
        raise ModelError(
            "prompt_image_mismatch",
            f"{prompt.count(IMAGE_MARKER)} {IMAGE_MARKER} markers, {len(images)} images",
        )
    device = model.resampler.latents.device
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=True)["input_ids"]], device=device)
    pixels = None
    if images:
        pixels = torch.stack([preprocess(img.convert("RGB")) for img in images])[:, None]
    media = model.encode_media(pixels, torch.tensor([len(images)]))
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    stops = {model.ids.eos} | ({model.ids.end_of_chunk} if stop_at_end_of_chunk else set())
    out = model(ids, media=media, use_cache=True)
    offset = torch.tensor([len(images)], device=device)
    new: list[int] = []
    for _ in range(max_new_tokens):
        logits = out.logits[:, -1].clone()
        logits[:, model.ids.image] = float("-inf")  # an image cannot be generated
        token = _next_token(logits, temperature, generator)
        if int(token) in stops:
            break
        new.append(int(token))
        out = model(
            token[:, None], media=media, media_offset=offset, cache=out.cache, use_cache=True
        )
    return tokenizer.decode(new, skip_special_tokens=True)


GENERATE_EXAMPLES = """examples:
  # few-shot captioning: two solved examples, then the query image
  interleaf-generate --checkpoint run/ \\
      --prompt '<image>A red square.<|endofchunk|><image>A blue circle.<|endofchunk|><image>A' \\
      --images a.jpg b.jpg query.jpg
  # a given step of a run, sampled instead of greedy
  interleaf-generate --checkpoint run/checkpoints/step_00000300 --prompt '<image>A photo of' \\
      --images query.jpg --temperature 0.7 --seed 0"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="interleaf-generate",
        description=__doc__,
        epilog=GENERATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="a run directory or one of its steps")
    p.add_argument("--prompt", required=True, help="text with one <image> per --images file")
    p.add_argument("--images", nargs="*", default=[], help="image files, in marker order")
    p.add_argument("--max-new-tokens", type=int, default=20)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: prints the generated continuation."""
    args = parse_args(argv)
    try:
        model, tokenizer, preprocess, _ = load_for_inference(args.checkpoint, args.device)
        images = []
        for path in args.images:
            try:
                with Image.open(path) as img:
                    images.append(img.convert("RGB"))
            except OSError as e:
                raise ModelError("unreadable_image", f"{path}: {e}") from e
        text = generate(
            model,
            tokenizer,
            preprocess,
            args.prompt,
            images,
            args.max_new_tokens,
            args.temperature,
            args.seed,
        )
    except TrainerError as e:
        raise SystemExit(f"interleaf-generate: {e.reason}: {e.detail}") from e
    print(text)


if __name__ == "__main__":
    main()
