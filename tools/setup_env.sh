#!/usr/bin/env bash
# Idempotent environment set-up for crossdino.
#
# Creates .venv/ at the repository root and installs the pinned stack:
#   torch 2.13.0 + torchvision 0.28.0 (standard builds), mmcv 2.1.0 built from
#   source with its ops, mmengine 0.10.7, mmdet 3.3.0, timm, pycocotools and
#   crossdino itself in editable mode.
# A stamp file records the hash of this script and requirements.txt; when it
# matches and the stack imports, the script returns in about a second.
#
# Usage: bash tools/setup_env.sh [--force]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CROSSDINO_VENV:-$ROOT/.venv}"
PY_BIN="${CROSSDINO_PYTHON:-python3.11}"
command -v "$PY_BIN" >/dev/null 2>&1 || PY_BIN=python3
STAMP="$VENV/.crossdino-setup-stamp"
HASH="$(cat "$ROOT/tools/setup_env.sh" "$ROOT/requirements.txt" | sha256sum | cut -d' ' -f1)"

log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*"; }

check_stack() {
    "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import torch, torchvision, timm, mmcv, mmengine, mmdet, pycocotools  # noqa
from mmcv.ops import nms, batched_nms, MultiScaleDeformableAttention  # noqa
import crossdino  # noqa
assert torch.__version__.split('+')[0] == '2.13.0', torch.__version__
assert mmcv.__version__ == '2.1.0', mmcv.__version__
PY
}

if [[ "${1:-}" != "--force" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]] && check_stack; then
    log "environment up to date ($VENV)"
    exit 0
fi

t0=$SECONDS
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV with $PY_BIN"
    "$PY_BIN" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q wheel ninja psutil

# mmcv's setup.py and mmengine's 'mmdet::' config lookup import pkg_resources,
# which setuptools 82 removed; torch pulls in a newer setuptools, so the pin is
# re-applied last (requirements.txt) and before the mmcv build.
# Standard torch build. Some machines offer a local '+cpu' wheel through pip's
# find-links, which pip prefers for '==2.13.0'; PyPI's torchvision does not load
# beside it ('operator torchvision::nms does not exist'). '===' is PEP 440
# arbitrary equality: it matches the version string '2.13.0' only.
if ! "$VENV/bin/python" -c "import torch, torchvision, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0' or torchvision.__version__.split('+')[0] != '0.28.0' or torch.__version__.endswith('+cpu'))" >/dev/null 2>&1; then
    log "installing torch 2.13.0 + torchvision 0.28.0"
    "${PIP[@]}" uninstall -q -y torch torchvision >/dev/null 2>&1 || true
    "${PIP[@]}" install -q "torch===2.13.0" "torchvision===0.28.0"
fi

# mmcv 2.1.0 ships as source only; build its C++ ops against the installed torch.
# pip caches the built wheel, so later venvs on the same machine take seconds.
if ! "$VENV/bin/python" -c "import mmcv, sys; from mmcv.ops import nms; sys.exit(mmcv.__version__ != '2.1.0')" >/dev/null 2>&1; then
    log "building mmcv 2.1.0 with ops (6-15 min on 2 cores; pip caches the wheel)"
    # The pin must be in place before pip runs mmcv's setup.py (metadata
    # preparation imports pkg_resources), so it is its own step.
    "${PIP[@]}" install -q "setuptools<82"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" install --no-build-isolation "mmcv==2.1.0"
fi

log "installing requirements.txt and crossdino (editable)"
"${PIP[@]}" install -q -r "$ROOT/requirements.txt"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"

if ! check_stack; then
    log "stack check failed; details:"
    "$VENV/bin/python" -c "import torch, torchvision, timm, mmcv, mmengine, mmdet, crossdino; from mmcv.ops import nms"
    exit 1
fi
echo "$HASH" > "$STAMP"
log "done in $((SECONDS - t0)) s"
