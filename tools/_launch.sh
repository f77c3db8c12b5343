#!/usr/bin/env bash
# Sourced by dist_{train,test}.sh and slurm_{train,test}.sh.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-"$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)"}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# torchrun_tool TOOL NPROC [tool args]: one process per GPU (per CPU slot
# without GPUs). Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT.
torchrun_tool() {
    local tool=$1 nproc=$2
    shift 2
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$nproc" \
        --master_port="${PORT:-29500}" \
        "$ROOT/tools/$tool" "$@" --launcher pytorch
}

# srun_tool PARTITION JOB_NAME TOOL [tool args]: one SLURM task per GPU.
# Env: GPUS (total, 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS.
srun_tool() {
    local partition=$1 job=$2 tool=$3
    shift 3
    local gpus=${GPUS:-8} per_node=${GPUS_PER_NODE:-8}
    srun -p "$partition" \
        --job-name="$job" \
        --gres=gpu:"$per_node" \
        --ntasks="$gpus" \
        --ntasks-per-node="$per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$ROOT/tools/$tool" "$@" --launcher slurm
}
