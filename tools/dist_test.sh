#!/usr/bin/env bash
# tools/dist_test.sh CONFIG CHECKPOINT NUM_GPUS [test.py args]
# Env: as tools/dist_train.sh (PYTHON, PORT, NNODES, NODE_RANK, MASTER_ADDR).
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
torchrun_tool test.py "$3" "$1" "$2" "${@:4}"
