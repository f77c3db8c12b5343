"""Prune an mmcv 2.1.0 source tree to the CUDA kernels crossdino uses.

mmcv 2.1.0 has no wheels for current torch, and its source build compiles 58
CUDA files. The DINO-family detectors of this project call five of them on
the GPU (deformable attention, NMS, focal loss, box overlaps, RoIAlign for
mmdet's mask/RoI utilities). This script moves the other ``.cu`` files to
``cuda/pruned/`` (a re-run with a longer ``--keep`` brings them back) and
drops their bindings from ``cudabind.cpp``; every CPU
implementation and every Python binding stays, so ``mmcv.ops`` imports as usual
and a pruned op called on a CUDA tensor fails with mmcv's own "implementation
for device cuda not found" (or "not compiled with GPU support") error.

Usage (then build as usual, e.g. ``MMCV_WITH_OPS=1 pip install --no-deps
--no-build-isolation SRC`` or ``python setup.py build_ext --inplace``)::

    python tools/build_mmcv_lean.py SRC [--keep ms_deform_attn nms ...]

``cudabind.cpp`` is a sequence of per-op blocks (launcher prototypes, the
``*_cuda`` wrappers and their ``REGISTER_DEVICE_IMPL`` lines). A block is kept
when every launcher it declares is defined in a kept ``.cu`` file. A few
wrappers (``spconv_ops.cpp``, ``nms_rotated.cpp``, ``nms_quadri.cpp``) call
their kernels directly under ``#ifdef MMCV_WITH_CUDA``: those that call a
pruned one are compiled with the macro undefined. The checks are textual;
importing the built ``mmcv._ext`` is the proof (a missed symbol fails there).
"""
import argparse
import re
import sys
from pathlib import Path

# The kernels DINO, Cross-DINO, HMPE-DINO, the ENACT DETRs and ViCrop reach
# on the GPU, by file stem under mmcv/ops/csrc/pytorch/cuda/.
DEFAULT_KEEP = ('ms_deform_attn_cuda', 'nms_cuda', 'focal_loss_cuda',
                'bbox_overlaps_cuda', 'roi_align_cuda')

_CALL = re.compile(r'([A-Za-z_]\w*)\s*\(')


def split_statements(text: str) -> tuple:
    """Split C++ source into top-level statements (declarations, function
    definitions, macro calls), each with its leading comments and blanks;
    returns (statements, trailing text). String literals are not parsed
    (``cudabind.cpp`` has none with brackets)."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if text.startswith('//', i):
            i = text.find('\n', i) + 1 or len(text)
            continue
        if text.startswith('/*', i):
            i = text.find('*/', i) + 2
            continue
        if c in '({':
            depth += 1
        elif c in ')}':
            depth -= 1
            # a function body or a REGISTER_DEVICE_IMPL(...) call (which
            # may stand without ';') ends the statement; an optional ';'
            # follows
            if depth == 0 and (c == '}' or _name(
                    text[start:i]) == 'REGISTER_DEVICE_IMPL'):
                j = i + 1
                while j < len(text) and text[j] in ' \t':
                    j += 1
                i = j + 1 if j < len(text) and text[j] == ';' else i + 1
                out.append(text[start:i])
                start = i
                continue
        elif c == ';' and depth == 0:
            out.append(text[start:i + 1])
            start = i + 1
        i += 1
    tail = text[start:]
    return out, tail


def _name(stmt: str) -> str:
    """The identifier before a statement's first '(' (function or macro)."""
    code = re.sub(r'//[^\n]*|/\*.*?\*/', '', stmt, flags=re.S)
    m = _CALL.search(code)
    return m.group(1) if m else ''


def prune_cudabind(text: str, kept_sources: str) -> tuple:
    """Return (pruned cudabind text, kept op names, dropped op names)."""
    lines = text.splitlines(keepends=True)
    n_head = 0
    while n_head < len(lines) and (lines[n_head].startswith('#')
                                   or not lines[n_head].strip()):
        n_head += 1
    header = lines[:n_head]
    stmts, tail = split_statements(''.join(lines[n_head:]))
    blocks, cur = [], []
    for s in stmts:
        is_reg = _name(s) == 'REGISTER_DEVICE_IMPL'
        if cur and not is_reg and _name(cur[-1]) == 'REGISTER_DEVICE_IMPL':
            blocks.append(cur)
            cur = []
        cur.append(s)
    if cur:
        blocks.append(cur)
    kept, dropped, keep_names, drop_names = [], [], [], []
    for block in blocks:
        defined = {_name(s) for s in block if s.rstrip().endswith('}')
                   or s.rstrip().endswith('};')}
        declared = {_name(s) for s in block
                    if s.rstrip().endswith(');') and _name(s) not in (
                        'REGISTER_DEVICE_IMPL', '')}
        # the dispatchers a block registers for are defined in pytorch/*.cpp
        ops = sorted({m.group(1) for s in block
                      if _name(s) == 'REGISTER_DEVICE_IMPL'
                      for m in [re.search(r'\(\s*(\w+)', s)] if m})
        external = declared - defined - set(ops)
        if all(re.search(rf'\b{n}\s*\(', kept_sources) for n in external):
            kept.append(block)
            keep_names += ops
        else:
            dropped.append(block)
            drop_names += ops
    body = ''.join(header) + ''.join(''.join(b) for b in kept) + tail
    return body, keep_names, drop_names


def cuda_only_names(text: str) -> set:
    """CUDA launchers a wrapper calls inside ``#ifdef MMCV_WITH_CUDA``."""
    names, depth, inside = set(), 0, None
    for line in text.splitlines():
        d = line.strip()
        if d.startswith('#if'):
            depth += 1
            if inside is None and d.split()[:2] == ['#ifdef',
                                                    'MMCV_WITH_CUDA']:
                inside = depth
            continue
        if d.startswith('#endif'):
            if inside == depth:
                inside = None
            depth -= 1
            continue
        if d.startswith('#else') and inside == depth:
            inside = None
            continue
        if inside is not None:
            names |= set(re.findall(r'\b(\w+(?:_cuda|Launcher))\s*[<(]',
                                    line))
    return names


def prune_wrappers(pytorch_dir: Path, kept_sources: str) -> list:
    """Compile without ``MMCV_WITH_CUDA`` the wrappers that call a pruned
    kernel directly (not through ``cudabind.cpp``): they take their own
    "not compiled with GPU support" branch. Returns their names."""
    changed = []
    for f in sorted(pytorch_dir.glob('*.cpp')):
        orig = f.with_name(f.name + '.orig')
        text = orig.read_text() if orig.is_file() else f.read_text()
        missing = sorted(n for n in cuda_only_names(text)
                         if not re.search(rf'\b{n}\s*[<(]', kept_sources))
        if missing:
            if not orig.is_file():
                orig.write_text(text)
            f.write_text('#undef MMCV_WITH_CUDA  // build_mmcv_lean: '
                         f'{", ".join(missing)} pruned\n' + text)
            changed.append(f.name)
        elif orig.is_file():
            f.write_text(text)
            orig.unlink()
    return changed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('src', type=Path, help='extracted mmcv-2.1.0 source tree')
    p.add_argument('--keep', nargs='+', default=list(DEFAULT_KEEP),
                   help='.cu file stems to keep (default: %(default)s)')
    args = p.parse_args(argv)
    cuda_dir = args.src / 'mmcv' / 'ops' / 'csrc' / 'pytorch' / 'cuda'
    bind = cuda_dir / 'cudabind.cpp'
    if not bind.is_file():
        p.error(f'{bind} not found: SRC must be an extracted mmcv source tree')
    aside = cuda_dir / 'pruned'  # setup.py globs cuda/*.cu only
    for f in aside.glob('*.cu'):  # a re-run starts from every kernel
        f.rename(cuda_dir / f.name)
    stems = {f.stem for f in cuda_dir.glob('*.cu')}
    missing = sorted(set(args.keep) - stems)
    if missing:
        p.error(f'no such CUDA source(s) in {cuda_dir}: {missing}')
    orig = cuda_dir / 'cudabind.cpp.orig'
    if not orig.is_file():  # idempotent: always prune from the original
        orig.write_text(bind.read_text())
    kept_sources = ''.join((cuda_dir / f'{s}.cu').read_text()
                           for s in args.keep)
    text, kept, dropped = prune_cudabind(orig.read_text(), kept_sources)
    bind.write_text(text)
    wrappers = prune_wrappers(cuda_dir.parent, kept_sources)
    removed = 0
    for f in cuda_dir.glob('*.cu'):
        if f.stem not in args.keep:
            aside.mkdir(exist_ok=True)
            f.rename(aside / f.name)
            removed += 1
    print(f'[build_mmcv_lean] kept {len(args.keep)} CUDA files, removed '
          f'{removed}; CUDA bindings kept: {len(kept)}, dropped: '
          f'{len(dropped)}')
    print('[build_mmcv_lean] kept bindings: ' + ', '.join(kept))
    print('[build_mmcv_lean] wrappers built without CUDA: '
          + (', '.join(wrappers) or 'none'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
