#!/usr/bin/env bash
# tools/dist_train.sh CONFIG NUM_GPUS [train.py args]   (torchrun; gloo on CPU-only hosts)
# Env: PYTHON (interpreter; default: active env, then .venv), PORT (fixed
# rendezvous port; default: a free one), NNODES, NODE_RANK, MASTER_ADDR.
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
torchrun_tool train.py "$2" "$1" "${@:3}"
