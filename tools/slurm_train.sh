#!/usr/bin/env bash
# tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
set -x
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
srun_tool "$1" "$2" train.py "$3" --work-dir="$4" "${@:5}"
