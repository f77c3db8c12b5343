#!/usr/bin/env bash
# The main job on the embedded default (no external data):
#   set up -> generate the synthetic VisDrone-layout set -> convert it with the
#   VisDrone converter -> train the demo DINO -> evaluate with tools/test.py.
# Leaves in work_dirs/demo/: the log, the checkpoint, metrics (JSON), the
# predictions (results.pkl) and images with predicted boxes (*/vis/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
CFG=configs/demo/dino_r18_synthetic.py
DATA=data/synthetic_visdrone
WORK=${WORK_DIR:-work_dirs/demo}
START=$SECONDS

# Generates the images and converts them with the VisDrone converter.
"$PY" tools/dataset_converters/make_synthetic_visdrone.py "$DATA" --train 128 --val 32
"$PY" tools/train.py "$CFG" --work-dir "$WORK"
CKPT="$(cat "$WORK/last_checkpoint")"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$WORK" \
    --out "$WORK/results.pkl" --show-dir vis
"$PY" tools/analysis_tools/analyze_logs.py summary "$WORK" --keys bbox_mAP bbox_mAP_50 bbox_AP_vt bbox_AP_t bbox_AP_s_aitod
echo "demo finished in $((SECONDS - START)) s; outputs in $WORK"
