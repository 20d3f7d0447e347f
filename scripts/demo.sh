#!/usr/bin/env bash
# Set up .venv (first run only) and run the main job end to end on the bundled sample:
# write the sample crawl → curate M3W samples → print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${1:-demo-out}
rm -rf "$OUT"
.venv/bin/curate make-sample "$OUT/sample"
.venv/bin/curate m3w --input "$OUT/sample/*.warc.gz" --output "$OUT/m3w" \
  --tokenizer "$OUT/sample/tokenizer" --mirror-dir "$OUT/sample/mirror"
echo
echo "outputs:"
echo "  sample crawl   $OUT/sample/sample.warc.gz (manifest: $OUT/sample/manifest.json)"
echo "  M3W samples    $OUT/m3w/samples-*.parquet"
echo "  rejections     $OUT/m3w/rejections-*.parquet"
echo "  summary        $OUT/m3w/summary.json"
