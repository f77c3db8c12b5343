#!/usr/bin/env bash
# The GPU suite in one call (tools/benchmarks/gpu_suite.py): OUT/gpu_suite.md
# and OUT/gpu_suite.json: about 6 min on one H200 (the suite), plus about
# 2 min for the mmcv build on a bare machine.
#
#   bash tools/benchmarks/gpu_suite.sh OUT [gpu_suite.py args]
#
# With the stack installed (tools/setup_env.sh on a GPU machine) it runs the
# suite. On a bare GPU machine with torch and no network, WHEELHOUSE=DIR names
# a folder holding, for that machine's Python, the wheels of mmengine 0.10.7,
# mmdet 3.3.0, addict, yapf, platformdirs, termcolor, terminaltables, shapely,
# pycocotools, faster-coco-eval 1.8.0 and setuptools<82 (mmcv's setup.py
# imports pkg_resources), plus mmcv-2.1.0.tar.gz; e.g. for Python 3.12:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       -d DIR mmengine==0.10.7 mmdet==3.3.0 ...
#   pip download --no-deps --no-binary=:all: -d DIR mmcv==2.1.0
# They are installed under SITE (default /tmp/crossdino-site), and mmcv is
# built in SITE's sibling folder with only the CUDA kernels this project uses
# (tools/build_mmcv_lean.py: 5 of 58, a few minutes on 16 cores). The built
# extension is copied to OUT; put it in DIR/mmcv_ext/ to skip the build the
# next time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: gpu_suite.sh OUT [gpu_suite.py args]}"
shift
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
log() { printf '[gpu_suite.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }

if [[ -n "${WHEELHOUSE:-}" ]]; then
    SITE="${SITE:-/tmp/crossdino-site}"
    BUILD="$SITE-mmcv"
    log "installing $WHEELHOUSE/*.whl into $SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$SITE" "$WHEELHOUSE"/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    if ! "$PY" -c 'import distutils' 2>/dev/null; then
        # Python >= 3.12 has no distutils (mmengine's collect_env imports
        # it); setuptools' shim is enabled by a .pth file, read in site dirs
        echo "import site; site.addsitedir('$SITE')" >"$SITE/sitecustomize.py"
    fi
    SRC="$BUILD/mmcv-2.1.0"
    if [[ ! -d "$SRC" ]]; then
        mkdir -p "$BUILD"
        tar xzf "$WHEELHOUSE/mmcv-2.1.0.tar.gz" -C "$BUILD"
        "$PY" "$ROOT/tools/build_mmcv_lean.py" "$SRC"
    fi
    if compgen -G "$WHEELHOUSE/mmcv_ext/_ext*.so" >/dev/null; then
        log "reusing $(ls "$WHEELHOUSE"/mmcv_ext/_ext*.so)"
        cp "$WHEELHOUSE"/mmcv_ext/_ext*.so "$SRC/mmcv/"
    elif ! compgen -G "$SRC/mmcv/_ext*.so" >/dev/null; then
        ARCH="${TORCH_CUDA_ARCH_LIST:-$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}"
        # torch finds the toolkit through CUDA_HOME, else `which nvcc`, which
        # misleads when nvcc is a wrapper script outside the toolkit
        if [[ -z "${CUDA_HOME:-}" ]]; then
            NVCC="$(command -v nvcc || true)"
            for c in /usr/local/cuda ${NVCC:+"$(dirname "$(dirname "$(readlink -f "$NVCC")")")"}; do
                if [[ -f "$c/include/cuda_runtime_api.h" ]]; then
                    export CUDA_HOME="$c"
                    break
                fi
            done
        fi
        # torch's CUDA wheels carry headers (cusparse.h, ...) that a
        # compiler-only toolkit may lack; searched after the toolkit's own
        NV_INC=""
        if [[ ! -f "${CUDA_HOME:-/usr/local/cuda}/include/cusparse.h" ]]; then
            NV_INC="$("$PY" -c 'import glob, os, nvidia; print(":".join(p for d in nvidia.__path__ for p in glob.glob(os.path.join(d, "*", "include"))))' 2>/dev/null || true)"
        fi
        log "CUDA_HOME=${CUDA_HOME:-?}; extra headers: ${NV_INC:-none}"
        # OMP_NUM_THREADS would cap nproc's answer
        JOBS="${MAX_JOBS:-$(env -u OMP_NUM_THREADS nproc)}"
        log "building mmcv 2.1.0 (lean CUDA ops, arch $ARCH, $JOBS jobs)"
        start=$SECONDS
        (cd "$SRC" && CPATH="$NV_INC${CPATH:+:$CPATH}" MMCV_WITH_OPS=1 \
            FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH" \
            MAX_JOBS="$JOBS" \
            "$PY" setup.py build_ext --inplace >"$OUT/mmcv_build.log" 2>&1) ||
            { tail -40 "$OUT/mmcv_build.log"; exit 1; }
        log "mmcv built in $((SECONDS - start)) s"
        for so in "$SRC"/mmcv/_ext*.so; do
            strip --strip-debug -o "$OUT/$(basename "$so")" "$so" ||
                cp "$so" "$OUT/"
        done
    fi
    export PYTHONPATH="$SRC:$PYTHONPATH"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import mmcv, mmdet, mmengine; from mmcv.ops import MultiScaleDeformableAttention' ||
    { echo "the OpenMMLab stack does not import: run tools/setup_env.sh or set WHEELHOUSE" >&2; exit 1; }
cd "$ROOT"
exec "$PY" tools/benchmarks/gpu_suite.py --out "$OUT" "$@"
