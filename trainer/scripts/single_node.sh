#!/usr/bin/env bash
# One machine, all its GPUs (or N CPU processes with gloo when there is no GPU).
#   trainer/scripts/single_node.sh trainer/configs/flamingo-3b.yaml --data m3w=/data/m3w --output runs/3b
# NPROC overrides the process count (default: number of GPUs, else 1).
set -euo pipefail
CONFIG=${1:?usage: single_node.sh CONFIG [interleaf-train args...]}
shift
if [[ -z "${NPROC:-}" ]]; then
  NPROC=$(python -c "import torch; print(max(1, torch.cuda.device_count()))")
fi
exec torchrun --standalone --nproc-per-node "$NPROC" -m trainer.train --config "$CONFIG" "$@"
