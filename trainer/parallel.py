"""Parallelism and speed-ups as functions applied to a model: DDP, FSDP2, checkpointing, compile."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from trainer.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, world size, its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on GPUs, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return DistInfo(rank, world, local, device)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def unwrap(model: nn.Module) -> nn.Module:
    """The Flamingo inside a DDP wrapper (FSDP2 and compile keep the module itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def clean_name(name: str) -> str:
    """A parameter name without wrapper segments, stable across parallel settings."""
    parts = name.split(".")
    if parts and parts[0] == "module":  # DDP's wrapper, always outermost
        parts = parts[1:]
    return ".".join(p for p in parts if p not in ("_orig_mod", "_checkpoint_wrapped_module"))


def cast_frozen(model: nn.Module, dtype: torch.dtype) -> None:
    """Keep frozen weights in `dtype` (bf16 on GPUs); trainable ones stay fp32 masters."""
    for p in model.parameters():
        if not p.requires_grad and p.is_floating_point():
            p.data = p.data.to(dtype)


def apply_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each decoder block and each xattn block in backward (memory for compute)."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    for layer in model.decoder_layers:
        layer.decoder_layer = checkpoint_wrapper(layer.decoder_layer)
        if layer.xattn is not None:
            layer.xattn = checkpoint_wrapper(layer.xattn)


def apply_compile(model: nn.Module, backend: str = "inductor") -> None:
    """torch.compile per block (as torchtitan does): small graphs, shared across layers."""
    for layer in model.decoder_layers:
        layer.decoder_layer.compile(backend=backend)
        if layer.xattn is not None:
            layer.xattn.compile(backend=backend)
    for layer in model.resampler.layers:
        layer.compile(backend=backend)


def apply_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """Replicate; every trainable parameter is used each step, so no unused-param search."""
    ids = [info.local_rank] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def apply_fsdp(model: nn.Module, param_dtype: torch.dtype | None) -> nn.Module:
    """FSDP2: one shard group per xattn block and per decoder block, then the rest.

    xattn blocks (fp32, trainable) and decoder blocks (frozen, possibly bf16) get their own
    groups so each group's trainable parameters share one dtype, as fully_shard requires.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for layer in model.decoder_layers:
        if layer.xattn is not None:
            fully_shard(layer.xattn, mp_policy=policy)
        fully_shard(layer.decoder_layer, mp_policy=policy)
    fully_shard(model.resampler, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def parallelize(
    model: nn.Module,
    info: DistInfo,
    mode: str,
    activation_checkpointing: bool,
    compile_blocks: bool,
    param_dtype: torch.dtype | None,
) -> nn.Module:
    """Apply, in torchtitan's order: checkpointing, compile, then DDP or FSDP2."""
    if mode == "auto":
        mode = "ddp" if info.world > 1 else "none"
    if mode != "none" and not dist.is_initialized():
        raise ConfigError("parallel_without_torchrun", f"run.parallel={mode} needs torchrun")
    if activation_checkpointing:
        apply_activation_checkpointing(model)
    if compile_blocks:
        apply_compile(model)
    if mode == "ddp":
        return apply_ddp(model, info)
    if mode == "fsdp":
        return apply_fsdp(model, param_dtype)
    return model


def is_sharded(model: nn.Module) -> bool:
    """True when parameters are DTensor shards (FSDP2)."""
    return any(type(p).__name__ == "DTensor" for p in model.parameters())


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Skip the gradient all-reduce for all but the last backward of a step."""
    if isinstance(model, nn.parallel.DistributedDataParallel) and not enabled:
        with model.no_sync():
            yield
        return
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(enabled)
    yield
