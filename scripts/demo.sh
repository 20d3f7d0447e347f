#!/usr/bin/env bash
# Set up .venv (first run only) and run the main job end to end on the bundled samples:
# write the sample crawl, pairs and clips → curate M3W samples (decontaminated) → serve the
# pair and video lists on 127.0.0.1 and curate them → train a tiny Flamingo on all three on
# CPU → caption a held-out image → print where everything is.
# Knobs (environment): OUT (default demo-out), STEPS (training steps, default 400).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-demo-out}
STEPS=${STEPS:-400}
rm -rf "$OUT"
mkdir -p "$OUT/sample"
started=$(date +%s)

# The pair and video lists name their files by URL: serve the sample folder on a free
# loopback port, and stop the server when curation is done (or the demo fails).
PORT=$(.venv/bin/python -c \
  'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m http.server "$PORT" --bind 127.0.0.1 --directory "$OUT/sample" \
  >"$OUT/http-server.log" 2>&1 &
SERVER=$!
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
trap stop_server EXIT
.venv/bin/python - "$PORT" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("demo: the local HTTP server did not start (see http-server.log)")
PY

echo "== 1/6 write the bundled samples: a crawl, image-text pairs and video clips"
.venv/bin/curate make-sample "$OUT/sample" --base-url "http://127.0.0.1:$PORT/"

echo "== 2/6 curate M3W samples (interleaved, 256 tokens, <= 5 images), decontaminated"
# A few of the crawl's own images play an evaluation set: decontamination must drop them.
.venv/bin/curate evalset-index --name planted --images "$OUT/sample/evalset/*" \
  --output "$OUT/eval-index"
.venv/bin/curate m3w --input "$OUT/sample/*.warc.gz" --output "$OUT/m3w" \
  --tokenizer "$OUT/sample/tokenizer" --mirror-dir "$OUT/sample/mirror" --chunk-mode tile \
  --eval-index "$OUT/eval-index"
.venv/bin/curate decontam-report "$OUT/m3w"
.venv/bin/curate show "$OUT/m3w" --n 20
.venv/bin/curate stats "$OUT/m3w"

echo "== 3/6 curate image-text pairs (img2dataset) and video clips (ffmpeg, 1 FPS) over HTTP"
# The server is on loopback, which the fetchers refuse unless told otherwise.
.venv/bin/curate pairs --input "$OUT/sample/pairs/pairs.csv" --output "$OUT/pairs" \
  --eval-index "$OUT/eval-index" --allow-network 127.0.0.1
.venv/bin/curate video --input "$OUT/sample/videos/videos.csv" --output "$OUT/video" \
  --eval-index "$OUT/eval-index" --allow-network 127.0.0.1
.venv/bin/curate decontam-report "$OUT/pairs"
.venv/bin/curate show "$OUT/pairs" --n 20
.venv/bin/curate show "$OUT/video" --n 6
stop_server
echo "(local HTTP server on port $PORT stopped; its request log: $OUT/http-server.log)"

echo "== 4/6 train a tiny Flamingo on M3W + pairs + video ($STEPS steps, CPU)"
# A random frozen LM: a sharper init than HF's 0.02 lets the trainable cross-attention
# move the loss within a few hundred steps. Pairs weigh as much as M3W here (the paper:
# 0.2, video 0.03): with the paper's weights a run this short never learns to look at the
# image (tried: 900 steps gave every picture the same caption).
.venv/bin/interleaf-train --config tiny-cpu --output "$OUT/run" \
  --data m3w="$OUT/m3w" --data pairs="$OUT/pairs" --data video="$OUT/video" \
  --set data.datasets.pairs.loss_weight=1.0 --set data.datasets.video.loss_weight=0.2 \
  --set model.tokenizer="$OUT/sample/tokenizer" \
  --set model.lm_config.initializer_range=0.1 \
  --set optim.lr=3e-3 --set optim.warmup_steps=10 \
  --set run.steps="$STEPS" --set run.log_every=20 --set run.save_every="$STEPS"

echo "== 5/6 how the loss moved (mean of the first and last logged windows)"
.venv/bin/python - "$OUT/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if '"loss"' in line]
first, last = rows[0], rows[-1]
for name in first["loss"]:
    print(f"  {name:6s} step {first['step']:4d}: {first['loss'][name]:.3f}  ->  "
          f"step {last['step']:4d}: {last['loss'][name]:.3f}")
PY

echo "== 6/6 caption a held-out picture of boats at sea (a tiny model trained on 40 pairs for"
echo "   a minute of CPU: it looks at the image, but often names the wrong scene)"
.venv/bin/interleaf-generate --checkpoint "$OUT/run" --prompt "<image>A photo of" \
  --images "$OUT/sample/held-out.jpg" --max-new-tokens 16 --temperature 0.7 --seed 0

echo
echo "done in $(( $(date +%s) - started )) s; outputs:"
echo "  samples        $OUT/sample/ (crawl: sample.warc.gz + manifest.json; pairs/pairs.csv;"
echo "                 videos/videos.csv; media.json says what curation must keep and drop)"
echo "  M3W samples    $OUT/m3w/samples-*.parquet"
echo "  pairs, video   $OUT/pairs/samples-*.parquet, $OUT/video/samples-*.parquet"
echo "  rejections     $OUT/{m3w,pairs,video}/rejections-*.parquet (stage, reason, key, detail)"
echo "  summaries      $OUT/{m3w,pairs,video}/summary.json (in = kept + rejected, per stage)"
echo "  decontam       $OUT/{m3w,pairs}/decontam-report/index.html (the planted eval images dropped)"
echo "  look at them   $OUT/{m3w,pairs,video}/show.html, $OUT/m3w/stats/index.html"
echo "  training run   $OUT/run (metrics.jsonl, training.png, checkpoints/)"
