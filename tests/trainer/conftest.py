"""Session fixtures for trainer tests: tiny LMs with a generated tokenizer, data shards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.fixtures.trainer_data import TINY_FLAMINGO, make_lm, write_m3w, write_pairs, write_video


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a shared CPU they spin against other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def lm_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """arch -> directory holding a random tiny LM and its tokenizer (gpt2, llama, opt)."""
    root = tmp_path_factory.mktemp("lms")
    return {arch: make_lm(root / arch, arch) for arch in ("gpt2", "llama", "opt")}


@pytest.fixture(scope="session")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated datasets: m3w (2 files, row groups of 3), pairs, video."""
    root = tmp_path_factory.mktemp("shards")
    write_m3w(root / "m3w" / "part-0.parquet", n=9, seed=1, row_group_size=3)
    write_m3w(root / "m3w" / "part-1.parquet", n=7, seed=2, row_group_size=3)
    write_pairs(root / "pairs" / "part-0.parquet", n=10, seed=3, row_group_size=5)
    write_video(root / "video" / "part-0.parquet", n=4, seed=4)
    return {k: root / k for k in ("m3w", "pairs", "video")}


@pytest.fixture
def tiny_model_settings() -> dict:
    """ModelConfig keyword arguments for a tiny Flamingo (add lm_path)."""
    return dict(TINY_FLAMINGO)
