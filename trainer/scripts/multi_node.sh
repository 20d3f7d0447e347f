#!/usr/bin/env bash
# Several machines joined by torchrun's c10d rendezvous. Run the same command on every node:
#   NNODES=4 RDZV_HOST=node0.cluster trainer/scripts/multi_node.sh trainer/configs/flamingo-9b.yaml \
#       --data m3w=/shared/m3w --data pairs=/shared/pairs --output /shared/runs/9b
# The output directory must be on a filesystem every node sees (checkpoints are written by all ranks).
set -euo pipefail
CONFIG=${1:?usage: multi_node.sh CONFIG [interleaf-train args...]}
shift
: "${NNODES:?set NNODES (number of machines)}"
: "${RDZV_HOST:?set RDZV_HOST (a hostname every node can reach)}"
RDZV_PORT=${RDZV_PORT:-29500}
RUN_ID=${RUN_ID:-interleaf}
NPROC=${NPROC:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}
exec torchrun \
  --nnodes "$NNODES" \
  --nproc-per-node "$NPROC" \
  --rdzv-backend c10d \
  --rdzv-endpoint "$RDZV_HOST:$RDZV_PORT" \
  --rdzv-id "$RUN_ID" \
  --max-restarts "${MAX_RESTARTS:-3}" \
  -m trainer.train --config "$CONFIG" "$@"
