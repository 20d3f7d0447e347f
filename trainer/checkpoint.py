"""Checkpoints: trainable weights (safetensors), optimizer, scheduler, data position, RNG."""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from trainer.errors import CheckpointError
from trainer.parallel import DistInfo, barrier, clean_name, is_sharded

CHECKPOINTS = "checkpoints"
LATEST = "latest"
WEIGHTS = "trainable.safetensors"


@dataclass(frozen=True)
class Resumed:
    """What a checkpoint gives back besides weights and optimizer state."""

    step: int
    data: dict[str, Any]  # dataset name -> DatasetLoader.state_dict() of this rank


def checkpoint_dir(output: str | Path, step: int) -> Path:
    return Path(output) / CHECKPOINTS / f"step_{step:08d}"


def latest_checkpoint(output: str | Path) -> Path | None:
    """The newest complete checkpoint of a run directory, or None."""
    pointer = Path(output) / CHECKPOINTS / LATEST
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text().strip()
    if not (path / "meta.json").is_file():
        raise CheckpointError("incomplete_checkpoint", f"{path}: no meta.json")
    return path


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Full fp32 CPU copies of the trainable parameters (collective under FSDP2)."""
    out = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            t = p.detach()
            if hasattr(t, "full_tensor"):
                t = t.full_tensor()
            out[clean_name(name)] = t.float().cpu().contiguous()
    return out


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    output: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    data_state: dict[str, Any],
    info: DistInfo,
    keep: int = 2,
) -> Path:
    """Write step_N/ atomically (a .tmp directory renamed at the end) and point `latest` at it."""
    final = checkpoint_dir(output, step)
    tmp = final.with_name(final.name + ".tmp")
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    weights = trainable_state(model)
    sharded = is_sharded(model)
    if sharded:
        _save_sharded_optimizer(model, optimizer, tmp / "optimizer")
    elif info.is_main:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if info.is_main:
        save_file(weights, tmp / WEIGHTS)
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    (tmp / f"data_rank{info.rank}.json").write_text(json.dumps(data_state))
    torch.save(rng_state(), tmp / f"rng_rank{info.rank}.pt")
    barrier()
    if info.is_main:
        meta = {"step": step, "world": info.world, "sharded_optimizer": sharded}
        (tmp / "meta.json").write_text(json.dumps(meta))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        _point_latest(final)
        _prune(final.parent, keep)
    barrier()
    return final


def _point_latest(path: Path) -> None:
    pointer = path.parent / LATEST
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(path.name)
    os.replace(tmp, pointer)


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.glob("step_*") if not p.name.endswith(".tmp"))
    for old in done[: max(0, len(done) - keep)]:
        shutil.rmtree(old)


def _save_sharded_optimizer(model: nn.Module, optimizer: Any, path: Path) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    dcp.save({"optim": get_optimizer_state_dict(model, optimizer)}, checkpoint_id=str(path))


def load_trainable(model: nn.Module, path: str | Path) -> None:
    """Copy saved trainable weights into an unwrapped model; names and shapes must match."""
    file = Path(path) / WEIGHTS if Path(path).is_dir() else Path(path)
    if not file.is_file():
        raise CheckpointError("weights_missing", f"{file}: not found")
    state = load_file(str(file))
    load_named(model, state, str(file))


def load_named(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy `state` into the trainable parameters of `model` by clean name."""
    params = {clean_name(n): p for n, p in model.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params))
    if missing or unexpected:
        raise CheckpointError(
            "weights_mismatch",
            f"{source}: missing {missing[:3]}, unexpected {unexpected[:3]}",
        )
    with torch.no_grad():
        for name, p in params.items():
            if tuple(state[name].shape) != tuple(p.shape):
                raise CheckpointError(
                    "shape_mismatch",
                    f"{source}: {name} {tuple(state[name].shape)} vs model {tuple(p.shape)}",
                )
            p.copy_(state[name].to(p.dtype))


def load_training_state(
    path: str | Path, model: nn.Module, optimizer: Any, scheduler: Any, info: DistInfo
) -> Resumed:
    """Restore optimizer, scheduler and RNG; return the step and this rank's data state."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta["world"] != info.world:
        raise CheckpointError(
            "world_size_changed", f"{path}: saved with {meta['world']} ranks, now {info.world}"
        )
    if meta["sharded_optimizer"]:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (
            get_optimizer_state_dict,
            set_optimizer_state_dict,
        )

        holder = {"optim": get_optimizer_state_dict(model, optimizer)}
        dcp.load(holder, checkpoint_id=str(path / "optimizer"))
        set_optimizer_state_dict(model, optimizer, holder["optim"])
    else:
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    # Our own files: RNG states hold Python tuples, which weights_only cannot read.
    set_rng_state(torch.load(path / f"rng_rank{info.rank}.pt", weights_only=False))
    data = json.loads((path / f"data_rank{info.rank}.json").read_text())
    return Resumed(step=int(meta["step"]), data=data)
