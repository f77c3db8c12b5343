#!/usr/bin/env bash
# tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
set -x
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
srun_tool "$1" "$2" test.py "$3" "$4" "${@:5}"
