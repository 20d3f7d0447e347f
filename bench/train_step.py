"""Train-step throughput of interleaf's Flamingo against open-flamingo on the same backbones.

    python bench/train_step.py                       # CPU, tiny shapes (random weights)
    python bench/train_step.py --device cuda --shape realistic   # ViT-L/14 + ~1B Llama, bf16, MFU

The baseline is the `open-flamingo` package's model code, which scripts/setup.sh installs into
.venv with --no-deps (open-flamingo==2.0.1, einops, einops-exts); it is found there by default,
even under another interpreter of the same Python version, and --open-flamingo-path DIR holding
those packages takes precedence. It runs with transformers 5.x on Llama-family and OPT decoders,
not on GPT-2 (transformers 5 calls GPT-2 blocks with positional arguments its
FlamingoLayer.forward(lang_x, attention_mask, **kw) cannot take), so the LM here is a Llama.
Without the package, the baseline is our model with a plain masked-einsum xattn.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.config import ModelConfig
from trainer.flops import batch_flops, model_shapes, peak_flops
from trainer.loss import lm_loss
from trainer.model import Flamingo, MaskedCrossAttention
from trainer.model.resampler import merge_heads, split_heads
from trainer.model.vision import build_vision_encoder
from trainer.parallel import cast_frozen
from trainer.tokenizer import SpecialIds

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shape:
    """Backbones and batch of one benchmark setting."""

    vision: str
    vision_cfg: dict | None
    lm: dict
    batch: int
    seq: int
    max_images: int


SHAPES = {
    # OpenFlamingo hard-codes its resampler (6 layers, 64 latents, 8×64 heads) and xattn
    # (8×64 heads, MLP ×4), so both models use those; only the backbones are tiny.
    "tiny": Shape(
        "ViT-S-32",
        {"image_size": 64, "patch_size": 16, "width": 128, "layers": 2, "head_width": 32},
        {
            "model_type": "llama",
            "hidden_size": 256,
            "intermediate_size": 688,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "vocab_size": 32000,
            "max_position_embeddings": 512,
        },
        batch=4,
        seq=128,
        max_images=5,
    ),
    # OpenFlamingo-3B-like: CLIP ViT-L/14 and a TinyLlama-1.1B-shaped decoder.
    "realistic": Shape(
        "ViT-L-14",
        None,
        {
            "model_type": "llama",
            "hidden_size": 2048,
            "intermediate_size": 5632,
            "num_hidden_layers": 22,
            "num_attention_heads": 32,
            "num_key_value_heads": 4,
            "vocab_size": 32000,
            "max_position_embeddings": 2048,
        },
        batch=8,
        seq=256,
        max_images=5,
    ),
}


def einsum_forward(self, x, media, media_index):
    """The textbook masked cross-attention: full score matrix, -max fill, zeroed rows."""
    b, t, n, dv = media.shape
    q = split_heads(self.to_q(self.norm(x)), self.heads)
    k, v = self.to_kv(media.reshape(b, t * n, dv)).chunk(2, dim=-1)
    k, v = split_heads(k, self.heads), split_heads(v, self.heads)
    sim = torch.einsum("bhid,bhjd->bhij", q * q.shape[-1] ** -0.5, k)
    key_image = torch.arange(1, t + 1, device=x.device).repeat_interleave(n)
    allowed = (media_index[:, None, :, None] == key_image).expand_as(sim)
    sim = sim.masked_fill(~allowed, -torch.finfo(sim.dtype).max)
    attn = sim.softmax(dim=-1).masked_fill((media_index == 0)[:, None, :, None], 0.0)
    return self.to_out(merge_heads(torch.einsum("bhij,bhjd->bhid", attn, v)))


def language_model(shape: Shape):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = dict(shape.lm)
    hf = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    hf._attn_implementation = "sdpa"
    return AutoModelForCausalLM.from_config(hf, dtype=torch.float32)


def build_ours(shape: Shape, seed: int) -> Flamingo:
    torch.manual_seed(seed)
    lm = language_model(shape)
    vision, _ = build_vision_encoder(shape.vision, None, shape.vision_cfg)
    vocab = shape.lm["vocab_size"]
    ids = SpecialIds(image=vocab + 1, end_of_chunk=vocab, eos=2, pad=0, bos=1)
    return Flamingo(vision, lm, ids, ModelConfig(lm_path="-", max_frames=1))


def build_open_flamingo(shape: Shape, seed: int):
    """OpenFlamingo's model, frozen and unfrozen exactly as its factory does by default."""
    import open_clip
    from open_flamingo.src.flamingo import Flamingo as OFFlamingo
    from open_flamingo.src.flamingo_lm import FlamingoLMMixin
    from open_flamingo.src.utils import extend_instance

    torch.manual_seed(seed)
    lm = language_model(shape)
    kwargs = {
        "vision_cfg": {
            **open_clip.get_model_config(shape.vision)["vision_cfg"],
            **(shape.vision_cfg or {}),
        }
    }
    clip = open_clip.create_model(shape.vision, pretrained=None, **kwargs)
    clip.visual.output_tokens = True
    vocab = shape.lm["vocab_size"]
    extend_instance(lm, FlamingoLMMixin)
    lm.set_decoder_layers_attr_name("model.layers")
    lm.resize_token_embeddings(vocab + 2, mean_resizing=False)
    model = OFFlamingo(clip, lm, vocab, vocab + 1, vis_dim=clip.visual.transformer.width)
    model.requires_grad_(False)
    model.perceiver.requires_grad_(True)
    model.lang_encoder.gated_cross_attn_layers.requires_grad_(True)
    model.lang_encoder.get_input_embeddings().requires_grad_(True)
    return model


def make_batch(shape: Shape, image_size: int, seed: int) -> dict:
    """M3W-like: each sample has 1..max_images images, each followed by caption tokens."""
    g = torch.Generator().manual_seed(seed)
    vocab = shape.lm["vocab_size"]
    ids = torch.randint(3, vocab, (shape.batch, shape.seq), generator=g)
    counts = torch.randint(1, shape.max_images + 1, (shape.batch,), generator=g)
    for b, k in enumerate(counts.tolist()):
        step = shape.seq // k
        ids[b, torch.arange(k) * step + 1] = vocab + 1
        ids[b, torch.arange(1, k) * step] = vocab  # <|endofchunk|> before each later image
    labels = ids.clone()
    labels[(ids == vocab + 1) | ((ids == vocab + 1).cumsum(1) == 0)] = -100
    total = int(counts.sum())
    pixels = torch.randn(total, 1, 3, image_size, image_size, generator=g)
    padded = torch.zeros(shape.batch, shape.max_images, 1, 3, image_size, image_size)
    start = 0
    for b, k in enumerate(counts.tolist()):
        padded[b, :k] = pixels[start : start + k]
        start += k
    return {
        "ids": ids,
        "mask": torch.ones_like(ids),
        "labels": labels,
        "pixels": pixels,
        "counts": counts,
        "padded": padded,
    }


def loss_of(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The baseline's loss (trainer.loss.lm_loss: shifted labels, no logits copy, fp32)."""
    return lm_loss(logits, labels)


def step_fn(kind: str, model, batch: dict, device: torch.device, amp: torch.dtype | None):
    """A closure running forward, loss, backward and an AdamW step."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1)
    b = {k: v.to(device) for k, v in batch.items()}

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            if kind == "open-flamingo":
                out = model(b["padded"], b["ids"], b["mask"], clear_conditioned_layers=True)
                loss = loss_of(out.logits, b["labels"])
            else:
                # As trainer.train_step does: the loss fused with the LM head, in the forward.
                out = model(b["ids"], b["mask"], b["pixels"], batch["counts"], labels=b["labels"])
                loss = out.loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    return step


def timed(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    p.add_argument("--steps", type=int, default=10, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument(
        "--open-flamingo-path",
        default=None,
        help="directory with open_flamingo, einops, einops_exts (default: the repo's .venv)",
    )
    p.add_argument("--no-baseline", action="store_true", help="measure interleaf only (MFU runs)")
    return p.parse_args()


def add_open_flamingo_path(path: str | None) -> None:
    """Make `open_flamingo` importable: from `path` if given, else from the repo's .venv."""
    if path:
        sys.path.insert(0, path)
        return
    if importlib.util.find_spec("open_flamingo") is not None:
        return
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = REPO / ".venv" / "lib" / version / "site-packages"
    if (site / "open_flamingo").is_dir():
        # Appended, not prepended: this interpreter's own torch/transformers must win; only
        # the pure-Python packages it lacks (open_flamingo, einops, einops_exts) come from here.
        sys.path.append(str(site))


def main() -> None:
    args = parse_args()
    add_open_flamingo_path(args.open_flamingo_path)
    shape = SHAPES[args.shape]
    if args.batch:
        shape = Shape(**{**shape.__dict__, "batch": args.batch})
    device = torch.device(args.device)
    amp = torch.bfloat16 if device.type == "cuda" else None
    ours = build_ours(shape, 0)
    image_size = ours.vision.visual.image_size[0]
    batch = make_batch(shape, image_size, 0)
    flops = batch_flops(
        model_shapes(ours),
        shape.batch,
        shape.seq,
        int(batch["counts"].sum()),
        1,
        int(batch["counts"].max()),
    )
    models = {"interleaf": ("interleaf", ours)}
    if not args.no_baseline:
        try:
            models["open-flamingo"] = ("open-flamingo", build_open_flamingo(shape, 0))
        except ImportError as e:
            print(f"open-flamingo unavailable ({e}); baseline = masked-einsum xattn")
        einsum = copy.deepcopy(ours)
        for block in einsum.xattn_blocks():
            block.attn.forward = einsum_forward.__get__(block.attn, MaskedCrossAttention)
        models["interleaf, masked-einsum xattn"] = ("interleaf", einsum)
    steps = {}
    for name, (kind, model) in models.items():
        model.to(device).train()
        if amp is not None:
            cast_frozen(model, amp)
        steps[name] = step_fn(kind, model, batch, device, amp)
        for _ in range(args.warmup):
            steps[name]()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.steps):  # interleaved, so load changes hit every model alike
        for name, step in steps.items():
            times[name].append(timed(step, device))
    report(args, shape, batch, times, flops.total, device)


def report(
    args, shape: Shape, batch: dict, times: dict, flops: float, device: torch.device
) -> None:
    """Side-by-side table; ratios use the fastest step of each model (least disturbed by load)."""
    tokens = shape.batch * shape.seq
    peak = peak_flops(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device: {name}, threads: {torch.get_num_threads()}, shape: {args.shape}, "
        f"batch {shape.batch} x {shape.seq} tokens, {int(batch['counts'].sum())} images "
        f"(max {shape.max_images}/sample), {args.steps} interleaved timed steps per model"
    )
    baseline = "open-flamingo" if "open-flamingo" in times else "interleaf, masked-einsum xattn"
    base = min(times[baseline]) if baseline in times else None
    print(f"baseline: {baseline}")
    print(
        f"{'model':32} {'best ms':>8} {'median ms':>9} {'tokens/s':>9} {'samples/s':>9} "
        f"{'MFU':>6} {'vs base':>7}"
    )
    for model, ts in times.items():
        best, median = min(ts), statistics.median(ts)
        mfu = f"{flops / best / peak:6.1%}" if peak and model.startswith("interleaf") else "     -"
        ratio = f"{base / best:7.2f}" if base else "      -"
        print(
            f"{model:32} {best * 1e3:8.1f} {median * 1e3:9.1f} {tokens / best:9.0f} "
            f"{shape.batch / best:9.2f} {mfu} {ratio}"
        )


if __name__ == "__main__":
    main()
