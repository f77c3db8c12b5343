#!/usr/bin/env bash
# tools/dist_train.sh CONFIG NUM_GPUS [train.py args]   (torchrun; gloo on CPU-only hosts)
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
torchrun_tool train.py "$2" "$1" "${@:3}"
