"""interleaf-train: the Flamingo recipe on Parquet datasets, from one CPU to many GPUs."""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from torch import nn

from trainer.checkpoint import (
    latest_checkpoint,
    load_trainable,
    load_training_state,
    save_checkpoint,
)
from trainer.config import (
    TrainConfig,
    active_datasets,
    config_to_dict,
    load_config,
)
from trainer.data import DatasetLoader
from trainer.errors import ConfigError, TrainerError
from trainer.flops import batch_flops, model_shapes, peak_flops
from trainer.log import Meter, MetricsLog, gate_values, summary_writer_class
from trainer.model import Flamingo, build_flamingo
from trainer.model.lm import max_positions
from trainer.optim import build_optimizer, build_scheduler
from trainer.parallel import DistInfo, cast_frozen, gradient_sync, init_distributed, parallelize
from trainer.plots import write_training_plot
from trainer.samples import Batch


@dataclass
class Session:
    """Everything a running training holds."""

    cfg: TrainConfig
    info: DistInfo
    flamingo: Flamingo  # the unwrapped model
    model: nn.Module  # what forward/backward go through (maybe DDP/FSDP)
    tokenizer: Any
    preprocess: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loaders: dict[str, DatasetLoader]
    step: int
    amp_dtype: torch.dtype | None


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on GPUs by default; exact fp32 on CPU."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def model_inputs(batch: Batch, device: torch.device) -> dict[str, Any]:
    pixels = batch.pixels.to(device, non_blocking=True) if batch.pixels is not None else None
    return {
        "input_ids": batch.input_ids.to(device, non_blocking=True),
        "attention_mask": batch.attention_mask.to(device, non_blocking=True),
        "pixels": pixels,
        "num_media": batch.num_media,
    }


def train_step(s: Session, batches: dict[str, Batch]) -> tuple[dict[str, float], float]:
    """One optimizer step: a weighted backward per dataset, one clip, one update (paper §2.4)."""
    s.optimizer.zero_grad(set_to_none=True)
    weights = {d.name: d.loss_weight for d in active_datasets(s.cfg.data)}
    losses = {}
    names = list(batches)
    for i, name in enumerate(names):
        batch = batches[name]
        # Only the last backward of the step all-reduces: gradients are summed locally first.
        with gradient_sync(s.model, i == len(names) - 1):
            autocast = (
                torch.autocast(s.info.device.type, dtype=s.amp_dtype)
                if s.amp_dtype is not None
                else contextlib.nullcontext()
            )
            with autocast:
                labels = batch.labels.to(s.info.device)
                # The loss is computed inside the model's forward (fused with the LM head).
                loss = s.model(**model_inputs(batch, s.info.device), labels=labels).loss
            (loss * weights[name]).backward()
        losses[name] = loss.detach()
    params = [p for p in s.model.parameters() if p.requires_grad]
    norm = torch.nn.utils.clip_grad_norm_(params, s.cfg.optim.max_grad_norm)
    s.optimizer.step()
    s.scheduler.step()
    return {k: float(v) for k, v in losses.items()}, float(norm)


def check_lengths(cfg: TrainConfig, flamingo: Flamingo) -> None:
    """Refuse datasets whose max_tokens exceed the LM's position embeddings."""
    limit = max_positions(flamingo.lm)
    for d in active_datasets(cfg.data):
        if limit is not None and d.max_tokens > limit:
            raise ConfigError(
                "max_tokens_too_long", f"{d.name}.max_tokens={d.max_tokens} > LM limit {limit}"
            )


def initial_weights(cfg: TrainConfig, flamingo: Flamingo, info: DistInfo) -> Path | None:
    """Load the run's latest checkpoint (returned) or --init-from weights into the model."""
    resume = latest_checkpoint(cfg.run.output)
    if resume is not None:
        load_trainable(flamingo, resume)
    elif cfg.run.init_from:
        from trainer.openflamingo import init_from_openflamingo

        report = init_from_openflamingo(flamingo, cfg.run.init_from)
        if info.is_main:
            print(
                f"init-from {cfg.run.init_from}: {len(report.loaded)} tensors loaded, "
                f"{len(report.kept)} kept at init {list(report.kept)[:4]}, "
                f"{len(report.ignored)} ignored {list(report.ignored)[:4]}"
            )
    return resume


def build_loaders(
    cfg: TrainConfig,
    tokenizer: Any,
    flamingo: Flamingo,
    preprocess: Any,
    info: DistInfo,
    states: dict,
) -> dict[str, DatasetLoader]:
    """One resumable loader per dataset with a path, in config order."""
    return {
        d.name: DatasetLoader(
            d,
            tokenizer,
            flamingo.ids,
            preprocess,
            info.rank,
            info.world,
            cfg.data.num_workers,
            cfg.data.seed,
            cfg.data.prefetch_factor,
            pin_memory=info.device.type == "cuda",
            state=states.get(d.name),
        )
        for d in active_datasets(cfg.data)
    }


def setup(cfg: TrainConfig) -> Session:
    """Build model, optimizer and loaders; resume from the run's latest checkpoint if any."""
    info = init_distributed()
    if not active_datasets(cfg.data):
        raise ConfigError("no_datasets", "give at least one --data NAME=PATH")
    if cfg.eval.every and cfg.run.parallel == "fsdp":
        # Generation on rank 0 alone cannot run through parameters sharded over all ranks.
        raise ConfigError("eval_with_fsdp", "set eval.every=0 with run.parallel=fsdp")
    torch.manual_seed(cfg.run.seed)  # identical initial weights on every rank
    flamingo, tokenizer, preprocess = build_flamingo(cfg.model)
    check_lengths(cfg, flamingo)
    resume = initial_weights(cfg, flamingo, info)
    dtype = amp_dtype(cfg.run.precision, info.device)
    flamingo.to(info.device)
    if dtype is not None and info.device.type == "cuda":
        cast_frozen(flamingo, dtype)
    run_cfg = cfg.run
    model = parallelize(
        flamingo, info, run_cfg.parallel, run_cfg.activation_checkpointing, run_cfg.compile, dtype
    )
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, run_cfg.steps)
    step, data_states = 0, {}
    if resume is not None:
        resumed = load_training_state(resume, model, optimizer, scheduler, info)
        step, data_states = resumed.step, resumed.data
    if info.is_main:
        output = Path(run_cfg.output)
        output.mkdir(parents=True, exist_ok=True)
        (output / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    loaders = build_loaders(cfg, tokenizer, flamingo, preprocess, info, data_states)
    return Session(
        cfg,
        info,
        flamingo,
        model,
        tokenizer,
        preprocess,
        optimizer,
        scheduler,
        loaders,
        step,
        dtype,
    )


def step_counts(batches: dict[str, Batch], shapes: Any) -> dict[str, float]:
    """Tokens, samples and model FLOPs of one step on this rank."""
    flops = 0.0
    for b in batches.values():
        frames = int(b.pixels.shape[1]) if b.pixels is not None else 1
        slots = max(1, int(b.num_media.max()))
        flops += batch_flops(
            shapes, b.num_samples, int(b.input_ids.shape[1]), int(b.num_media.sum()), frames, slots
        ).total
    return {
        "tokens": float(sum(b.num_tokens for b in batches.values())),
        "samples": float(sum(b.num_samples for b in batches.values())),
        "flops": flops,
    }


def all_ranks_sum(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if not dist.is_initialized():
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, t.tolist(), strict=True))


def log_record(s: Session, meter: Meter, elapsed: float, peak: float | None) -> dict[str, Any]:
    """One JSONL line: means since the last line, throughput, MFU and gate values."""
    means = meter.means()
    totals = all_ranks_sum(
        {k: meter.sums[k] for k in ("tokens", "samples", "flops")}, s.info.device
    )
    record: dict[str, Any] = {
        "step": s.step,
        "lr": s.scheduler.get_last_lr()[0],
        "loss": {k[5:]: v for k, v in means.items() if k.startswith("loss/")},
        "grad_norm": means["grad_norm"],
        "tokens_per_s": totals["tokens"] / elapsed,
        "samples_per_s": totals["samples"] / elapsed,
        "step_time_s": elapsed / meter.steps,
        "data_time_s": means["data_time"],
        "mfu": totals["flops"] / elapsed / (peak * s.info.world) if peak else None,
        "gates": gate_values(s.flamingo),
        "skipped": {name: loader.skipped() for name, loader in s.loaders.items()},
    }
    return record


def run(s: Session, stop_after: int | None = None) -> list[dict[str, Any]]:
    """The loop; returns per-step losses (used by tests), logs and checkpoints on the way."""
    from tqdm import tqdm

    cfg = s.cfg
    log = MetricsLog(cfg.run.output, s.info.is_main, cfg.run.tensorboard, resume_step=s.step)
    shapes = model_shapes(s.flamingo)
    peak = peak_flops(s.info.device, cfg.run.peak_flops)
    meter, history = Meter(), []
    bar = tqdm(
        total=cfg.run.steps, initial=s.step, disable=not (s.info.is_main and cfg.run.progress)
    )
    started = time.perf_counter()
    s.model.train()
    while s.step < cfg.run.steps and (stop_after is None or s.step < stop_after):
        t0 = time.perf_counter()
        batches = {name: next(loader) for name, loader in s.loaders.items()}
        data_time = time.perf_counter() - t0
        losses, norm = train_step(s, batches)
        s.step += 1
        history.append({"step": s.step, "loss": losses})
        values = {f"loss/{k}": v for k, v in losses.items()}
        meter.add(
            {**values, "grad_norm": norm, "data_time": data_time, **step_counts(batches, shapes)}
        )
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
        if s.step % cfg.run.log_every == 0 or s.step == cfg.run.steps:
            log.write(log_record(s, meter, time.perf_counter() - started, peak))
            meter.reset()
            started = time.perf_counter()
        if cfg.eval.every and s.step % cfg.eval.every == 0:
            from trainer.fewshot import evaluate

            log.write(
                {
                    "step": s.step,
                    "eval": evaluate(s.flamingo, s.tokenizer, s.preprocess, cfg.eval, s.info),
                }
            )
        if s.step % cfg.run.save_every == 0 or s.step == cfg.run.steps:
            save(s)
    bar.close()
    log.close()
    if s.info.is_main:
        write_training_plot(cfg.run.output)
    return history


def save(s: Session) -> Path:
    data = {name: loader.state_dict() for name, loader in s.loaders.items()}
    if s.info.is_main:  # the loss/gate PNG follows the checkpoints (metrics.jsonl is rank 0's)
        write_training_plot(s.cfg.run.output)
    return save_checkpoint(
        s.cfg.run.output,
        s.step,
        s.model,
        s.optimizer,
        s.scheduler,
        data,
        s.info,
        s.cfg.run.keep_checkpoints,
    )


def train(cfg: TrainConfig, stop_after: int | None = None) -> list[dict[str, Any]]:
    """Set up (resuming when the output has a checkpoint) and run to cfg.run.steps."""
    if cfg.run.tensorboard:
        summary_writer_class()  # a missing package fails now, not after the model loads
    s = setup(cfg)
    try:
        return run(s, stop_after)
    finally:
        for loader in s.loaders.values():
            loader.close()


TRAIN_EXAMPLES = """examples:
  # CPU, minutes: the tiny config (trainer/configs/tiny-cpu.yaml) on curated M3W and pairs
  interleaf-train --config tiny-cpu --data m3w=out/ --data pairs=pairs/ --output run/
  # the tokenizer a curation run used (it already holds <image> and <|endofchunk|>)
  interleaf-train --config tiny-cpu --data m3w=out/ --output run/ \\
      --set model.tokenizer=sample/tokenizer --set run.steps=100
  # 8 GPUs on one node (DDP or FSDP2 from the config); see trainer/scripts/ for multi-node/SLURM
  torchrun --nproc-per-node 8 -m trainer.train --config flamingo-3b --data m3w=out/ \\
      --output run/ --set model.lm_path=/models/Llama-3.2-1B \\
      --set model.vision_checkpoint=/models/open_clip/ViT-L-14-openai.safetensors
  # TensorBoard scalars in run/tensorboard/ as well as run/metrics.jsonl
  interleaf-train --config tiny-cpu --data m3w=out/ --output run/ --set run.tensorboard=true
A run directory that already holds a checkpoint is resumed exactly."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="interleaf-train",
        description=__doc__,
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        help="YAML file, or the name of a shipped one: tiny-cpu, flamingo-3b, flamingo-9b",
    )
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a dataset (Parquet file or directory); repeat for a mixture",
    )
    p.add_argument(
        "--output", help="run directory (checkpoints, metrics.jsonl); resumes if present"
    )
    p.add_argument("--init-from", help="an OpenFlamingo checkpoint to start from")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=3e-4",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (also `torchrun -m trainer.train`)."""
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.set, args.data)
        # Paths are set after YAML parsing of --set values, so they stay strings verbatim.
        run_cfg = cfg.run
        if args.output:
            run_cfg = replace(run_cfg, output=args.output)
        if args.init_from:
            run_cfg = replace(run_cfg, init_from=args.init_from)
        train(replace(cfg, run=run_cfg))
    except TrainerError as e:
        raise SystemExit(f"interleaf-train: {e.reason}: {e.detail}") from e
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
