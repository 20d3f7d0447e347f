"""Run under torchrun by test_parallel.py: train, then dump each rank's weights and samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file

from trainer.checkpoint import trainable_state
from trainer.config import load_config
from trainer.train import run, setup


class Recorder:
    """Wraps a DatasetLoader and remembers the token rows of every batch it hands out."""

    def __init__(self, loader, seen: list) -> None:
        self.loader, self.seen = loader, seen

    def __next__(self):
        batch = next(self.loader)
        for row, mask in zip(batch.input_ids, batch.attention_mask, strict=True):
            self.seen.append(row[mask.bool()].tolist())
        return batch

    def __getattr__(self, name):
        return getattr(self.loader, name)


def main() -> None:
    """argv: config, output dir, and optionally a step to stop at and resume from in-process."""
    cfg = load_config(sys.argv[1])
    out = Path(sys.argv[2])
    session = setup(cfg)
    if len(sys.argv) > 3:  # simulate a restart: stop, then build everything again from disk
        run(session, stop_after=int(sys.argv[3]))
        for loader in session.loaders.values():
            loader.close()
        session = setup(cfg)
    seen: list = []
    session.loaders = {k: Recorder(v, seen) for k, v in session.loaders.items()}
    history = run(session)
    rank = session.info.rank
    save_file(trainable_state(session.model), out / f"weights_rank{rank}.safetensors")
    (out / f"rank{rank}.json").write_text(json.dumps({"seen": seen, "history": history}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
