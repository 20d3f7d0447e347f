"""Trainer configuration: frozen dataclasses loaded from YAML with dotted CLI overrides."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from trainer.errors import ConfigError

DATASET_KINDS = ("m3w", "pairs", "video")

# Flamingo paper (§2.4, appendix) loss weights: M3W 1.0, ALIGN 0.2, LTIP 0.2, VTP 0.03.
DEFAULT_LOSS_WEIGHT = {"m3w": 1.0, "pairs": 0.2, "video": 0.03}
# M3W: the paper samples chunks of L = 256 tokens; captions: 32 tokens (OpenFlamingo, LAION).
DEFAULT_MAX_TOKENS = {"m3w": 256, "pairs": 32, "video": 32}


@dataclass(frozen=True)
class ModelConfig:
    """Vision encoder, language model and the Flamingo modules between them."""

    vision_model: str = "ViT-L-14"  # OpenFlamingo's CLIP ViT-L/14 (the paper used NFNet-F6)
    vision_checkpoint: str | None = None  # local open_clip weights; None = random (tests)
    vision_cfg: dict | None = None  # open_clip vision_cfg overrides, for tiny test encoders
    lm_path: str | None = None  # local Hugging Face causal LM directory
    lm_config: dict | None = None  # or: build a random LM from this config dict (`model_type`)
    tokenizer: str | None = None  # tokenizer directory; default lm_path; "byte" = built-in
    cross_attn_every: int = 1  # paper: every layer (3B), every 4th (9B), every 7th (80B)
    num_latents: int = 64  # paper / OpenFlamingo: 64 latents
    resampler_depth: int = 6  # paper / OpenFlamingo: 6 layers
    resampler_heads: int = 8  # OpenFlamingo default
    resampler_dim_head: int = 64  # OpenFlamingo default
    xattn_heads: int = 8  # OpenFlamingo default
    xattn_dim_head: int = 64  # OpenFlamingo default
    ff_mult: int = 4  # OpenFlamingo: MLP hidden = 4 × width
    max_frames: int = 8  # paper: 8 video frames in training (interpolated beyond)
    attn_implementation: str = "sdpa"  # the LM's attention kernel


@dataclass(frozen=True)
class DatasetConfig:
    """One dataset of the mixture: where it is, its kind, batch size and loss weight."""

    name: str
    kind: str  # "m3w" | "pairs" | "video"
    path: str | None = None  # Parquet file or directory; None = not used in this run
    batch_size: int = 8  # per rank, per step
    loss_weight: float = 1.0  # λ in the paper's weighted sum
    max_tokens: int = 256  # text truncated to this many tokens
    max_images: int = 5  # paper: N = 5 images per M3W sample
    frames: int = 8  # video frames per sample (paper: 8 frames at 1 FPS)


@dataclass(frozen=True)
class DataConfig:
    """The dataset mixture and how it is read."""

    datasets: tuple[DatasetConfig, ...] = ()
    num_workers: int = 2  # DataLoader workers per dataset
    seed: int = 0  # shard and row order; the same seed replays the same stream
    prefetch_factor: int = 2


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and the learning-rate schedule."""

    lr: float = 1e-4  # paper: peak 1e-4
    weight_decay: float = 0.1  # paper: 0.1 (OpenFlamingo: none on resampler, gates, norms)
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW defaults (paper does not say)
    eps: float = 1e-8
    warmup_steps: int = 5000  # paper: linear warmup over 5k steps
    schedule: str = "constant"  # paper: constant after warmup; or "cosine"
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    max_grad_norm: float = 1.0  # paper: global norm clipped at 1


@dataclass(frozen=True)
class RunConfig:
    """Loop length, output, logging, checkpoints, precision and parallelism."""

    output: str = "run"
    steps: int = 1000
    seed: int = 0
    log_every: int = 10
    save_every: int = 500
    keep_checkpoints: int = 2
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU
    parallel: str = "auto"  # "auto" (ddp when WORLD_SIZE > 1), "none", "ddp", "fsdp"
    activation_checkpointing: bool = False
    compile: bool = False
    init_from: str | None = None  # an OpenFlamingo checkpoint to start from
    tensorboard: bool = False  # off: metrics.jsonl is enough; on needs the tensorboard package
    progress: bool = True
    peak_flops: float | None = None  # per device; None = guessed from the GPU name


@dataclass(frozen=True)
class EvalConfig:
    """Periodic few-shot evaluation on small local caption / VQA sets."""

    every: int = 0  # steps between evaluations; 0 = never
    captions: str | None = None  # COCO-style captions JSON (images beside it)
    vqa: str | None = None  # VQA JSONL: image, question, answers
    shots: int = 2  # paper reports 0/4/8/16/32 shots; small default for speed
    max_examples: int = 50
    max_new_tokens: int = 20


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs, one section per concern."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"


def config_path(path: str | Path) -> Path:
    """`path` as given, or a config shipped in trainer/configs/ named bare ("tiny-cpu")."""
    given = Path(path)
    if given.exists() or given.parent != Path("."):
        return given
    # An installed package has no trainer/configs/ under the working directory.
    shipped = SHIPPED_CONFIGS / f"{given.name.removesuffix('.yaml')}.yaml"
    return shipped if shipped.is_file() else given


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    data: Iterable[str] = (),
) -> TrainConfig:
    """Read a YAML file, apply `key.path=value` overrides and `name=path` data flags."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = config_path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError("unreadable_config", f"{path}: {e}") from e
        if not isinstance(raw, dict):
            raise ConfigError("config_not_mapping", f"{path}: top level is {type(raw).__name__}")
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, value = _split_pair(item, "override")
        _set_dotted(raw, key.split("."), yaml.safe_load(value))
    for item in data:
        name, value = _split_pair(item, "data")
        _set_dotted(raw, ["data", "datasets", name, "path"], value)
    return config_from_dict(raw)


def config_from_dict(raw: Mapping[str, Any]) -> TrainConfig:
    """Build a TrainConfig from a plain dict (as in YAML); unknown keys are errors."""
    raw = dict(raw)
    data = dict(raw.pop("data", None) or {})
    datasets = data.pop("datasets", None) or {}
    if not isinstance(datasets, Mapping):
        raise ConfigError("datasets_not_mapping", "data.datasets must map name -> settings")
    built = tuple(_dataset(name, dict(v or {})) for name, v in datasets.items())
    data_cfg = _build(DataConfig, {**data, "datasets": built}, "data")
    sections = {
        "model": ModelConfig,
        "optim": OptimConfig,
        "run": RunConfig,
        "eval": EvalConfig,
    }
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ConfigError("unknown_key", f"top-level section '{unknown[0]}'")
    kwargs = {k: _build(cls, dict(raw.get(k) or {}), k) for k, cls in sections.items()}
    cfg = TrainConfig(data=data_cfg, **kwargs)
    validate_config(cfg)
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The YAML-ready dict of a config (datasets as a name -> settings mapping)."""
    out = dataclasses.asdict(cfg)
    out["data"]["datasets"] = {
        d["name"]: {k: v for k, v in d.items() if k != "name"} for d in out["data"]["datasets"]
    }
    out["optim"]["betas"] = list(out["optim"]["betas"])
    return out


def active_datasets(cfg: DataConfig) -> tuple[DatasetConfig, ...]:
    """The datasets that have a path (a YAML may list templates that a run leaves out)."""
    return tuple(d for d in cfg.datasets if d.path)


def validate_config(cfg: TrainConfig) -> None:
    """Raise ConfigError for values no run could use."""
    m = cfg.model
    if m.lm_path is None and m.lm_config is None:
        raise ConfigError("no_language_model", "set model.lm_path or model.lm_config")
    if m.cross_attn_every < 1:
        raise ConfigError("bad_value", f"model.cross_attn_every={m.cross_attn_every}")
    if cfg.optim.schedule not in ("constant", "cosine"):
        raise ConfigError("bad_value", f"optim.schedule={cfg.optim.schedule!r}")
    if cfg.run.precision not in ("auto", "fp32", "bf16"):
        raise ConfigError("bad_value", f"run.precision={cfg.run.precision!r}")
    if cfg.run.parallel not in ("auto", "none", "ddp", "fsdp"):
        raise ConfigError("bad_value", f"run.parallel={cfg.run.parallel!r}")
    for d in cfg.data.datasets:
        if d.batch_size < 1 or d.max_tokens < 2 or d.max_images < 1 or d.frames < 1:
            raise ConfigError("bad_value", f"data.datasets.{d.name}: {d}")


def _dataset(name: str, raw: dict[str, Any]) -> DatasetConfig:
    kind = raw.get("kind") or infer_kind(name)
    if kind not in DATASET_KINDS:
        raise ConfigError("unknown_dataset_kind", f"data.datasets.{name}.kind={kind!r}")
    raw.setdefault("loss_weight", DEFAULT_LOSS_WEIGHT[kind])
    raw.setdefault("max_tokens", DEFAULT_MAX_TOKENS[kind])
    return _build(DatasetConfig, {**raw, "name": name, "kind": kind}, f"data.datasets.{name}")


def infer_kind(name: str) -> str:
    """Guess a dataset kind from its name (`m3w`, `video`/`vtp`, anything else: pairs)."""
    low = name.lower()
    if "m3w" in low or "interleaved" in low:
        return "m3w"
    if "video" in low or "vtp" in low:
        return "video"
    return "pairs"


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError("unknown_key", f"{where}.{unknown[0]}")
    kwargs = {}
    for key, value in raw.items():
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Accept YAML scalars for typed fields (ints or "1e-4" strings for floats, lists)."""
    text = hint.__name__ if isinstance(hint, type) else str(hint)
    base = text.replace(" | None", "")
    if value is None:
        if base == text:
            raise ConfigError("bad_value", f"{where} may not be null")
        return None
    if base == "float":
        # PyYAML reads "1e-4" (no dot) as a string, so accept numeric strings here.
        try:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        except (TypeError, ValueError) as e:
            raise ConfigError("bad_value", f"{where}={value!r} is not a number") from e
    if base == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError("bad_value", f"{where}={value!r} is not an integer")
    if base == "bool" and not isinstance(value, bool):
        raise ConfigError("bad_value", f"{where}={value!r} is not true/false")
    if base == "str" and not isinstance(value, str):
        raise ConfigError("bad_value", f"{where}={value!r} is not a string")
    if base.startswith("tuple[float"):
        return tuple(float(v) for v in value)
    return value


def _split_pair(item: str, what: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"bad_{what}_flag", f"expected KEY=VALUE, got {item!r}")
    return key.strip(), value


def _set_dotted(raw: dict[str, Any], keys: list[str], value: Any) -> None:
    node = raw
    for k in keys[:-1]:
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        if not isinstance(child, dict):
            raise ConfigError("bad_override", f"{'.'.join(keys)}: '{k}' is not a section")
        node = child
    node[keys[-1]] = value
