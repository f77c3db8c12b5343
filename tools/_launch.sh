#!/usr/bin/env bash
# Sourced by dist_{train,test}.sh and slurm_{train,test}.sh.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The interpreter: $PYTHON if set; else the active virtualenv's or conda
# environment's python; else the repository's .venv; else python3 on PATH.
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" \
            "${CONDA_PREFIX:+$CONDA_PREFIX/bin/python}" "$ROOT/.venv/bin/python"; do
        if [[ -n "$candidate" && -x "$(command -v "$candidate")" ]]; then
            echo "$candidate"
            return
        fi
    done
    if [[ -n "${PYTHON:-}" ]]; then
        echo "PYTHON=$PYTHON is not an executable" >&2
        return 1
    fi
    echo python3
}
PYTHON="$(find_python)" || exit 1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# torchrun_tool TOOL NPROC [tool args]: one process per GPU (per CPU slot
# without GPUs). One node without PORT: torchrun's standalone rendezvous binds
# a free port itself, so concurrent jobs cannot race for one. Several nodes
# (NNODES > 1) or an explicit PORT: static rendezvous at MASTER_ADDR:PORT
# (default 127.0.0.1:29500), with NODE_RANK. exec: signals sent to this script
# (SLURM, kill) reach torchrun, which forwards them to the workers.
torchrun_tool() {
    local tool=$1 nproc=$2
    shift 2
    local rdzv
    if [[ "${NNODES:-1}" == 1 && -z "${PORT:-}" ]]; then
        rdzv=(--standalone --nnodes=1)
    else
        rdzv=(--nnodes="${NNODES:-1}"
              --node_rank="${NODE_RANK:-0}"
              --master_addr="${MASTER_ADDR:-127.0.0.1}"
              --master_port="${PORT:-29500}")
    fi
    exec "$PYTHON" -m torch.distributed.run "${rdzv[@]}" \
        --nproc_per_node="$nproc" \
        "$ROOT/tools/$tool" "$@" --launcher pytorch
}

# srun_tool PARTITION JOB_NAME TOOL [tool args]: one SLURM task per GPU.
# Env: GPUS (total, 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS.
srun_tool() {
    local partition=$1 job=$2 tool=$3
    shift 3
    local gpus=${GPUS:-8} per_node=${GPUS_PER_NODE:-8}
    exec srun -p "$partition" \
        --job-name="$job" \
        --gres=gpu:"$per_node" \
        --ntasks="$gpus" \
        --ntasks-per-node="$per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$ROOT/tools/$tool" "$@" --launcher slurm
}
