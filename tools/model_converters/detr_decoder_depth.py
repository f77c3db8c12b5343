"""Cut a trained two-stage DETR checkpoint (DINO and its children) to fewer
decoder layers, for decoder-depth ablations that fine-tune from it.

mmdet's two-stage heads hold one prediction branch per decoder layer plus,
last, the encoder's proposal branch (``bbox_head.{cls,reg}_branches.L`` for
``L`` layers). Loading an ``L``-layer checkpoint into a ``K``-layer model by
name would give the encoder's proposals the classifier of decoder layer
``K + 1``; this tool keeps decoder layers ``0..K-1`` with their branches and
moves the encoder's branches from index ``L`` to ``K``.

    python tools/model_converters/detr_decoder_depth.py \\
        work_dirs/proxy_pretrain/epoch_8.pth \\
        work_dirs/proxy_pretrain/epoch_8_2dec.pth --num-layers 2

The output holds ``state_dict`` and ``meta`` only (a starting point for
``load_from``, not a run to resume).
"""
import argparse
import importlib.util
import os
import os.path as osp
import re
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)

BRANCH = re.compile(r'^bbox_head\.(cls|reg)_branches\.(\d+)\.')
LAYER = re.compile(r'^decoder\.layers\.(\d+)\.')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src', type=cli.existing_file('checkpoint'),
                   help='trained checkpoint (mmengine format)')
    p.add_argument('dst', help='output path')
    p.add_argument('--num-layers', type=int, required=True,
                   help='decoder layers to keep (the first ones)')
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402


def cut_decoder(state_dict: dict, num_layers: int, name: str = 'checkpoint'
                ) -> dict:
    """The state dict of the same detector with its first ``num_layers``
    decoder layers; the encoder's branches (the last index) move to index
    ``num_layers``. Raises ValueError naming ``name`` if the layout is not
    a two-stage DETR's or ``num_layers`` is not below its depth."""
    layers = {int(m.group(1)) for k in state_dict
              if (m := LAYER.match(k))}
    branches = {int(m.group(2)) for k in state_dict
                if (m := BRANCH.match(k))}
    if not layers:
        raise ValueError(f'{name}: no decoder.layers.* keys')
    depth = max(layers) + 1
    if branches != set(range(depth + 1)):
        raise ValueError(
            f'{name}: expected bbox_head branches 0..{depth} for {depth} '
            f'decoder layers and the encoder (a two-stage head), found '
            f'{sorted(branches) or "none"}')
    if not 0 < num_layers < depth:
        raise ValueError(f'{name}: --num-layers must be in [1, {depth - 1}]'
                         f' (it has {depth} decoder layers), got {num_layers}')
    out = {}
    for key, value in state_dict.items():
        if (m := LAYER.match(key)) and int(m.group(1)) >= num_layers:
            continue
        if m := BRANCH.match(key):
            index = int(m.group(2))
            if index == depth:  # the encoder's proposal branch
                key = BRANCH.sub(f'bbox_head.{m.group(1)}_branches.'
                                 f'{num_layers}.', key)
            elif index >= num_layers:
                continue
        out[key] = value
    return out


def main(argv=None):
    args = parse_args(argv)
    from crossdino.utils.checkpoint import (_load_local_checkpoint,
                                            register_checkpoint_safe_globals)
    register_checkpoint_safe_globals()
    ckpt = _load_local_checkpoint(args.src, map_location='cpu')
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) \
        else None
    if not isinstance(state_dict, dict):
        raise ValueError(f'{args.src}: no state_dict')
    cut = cut_decoder(state_dict, args.num_layers, args.src)
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    meta = dict(ckpt.get('meta', {}), decoder_layers_from=args.src)
    # written whole or not at all: an interrupted save must not leave a
    # truncated file that looks newer than its source
    torch.save(dict(state_dict=cut, meta=meta), args.dst + '.tmp')
    os.replace(args.dst + '.tmp', args.dst)
    print(f'{args.src}: {len(state_dict)} -> {len(cut)} tensors, '
          f'{args.num_layers} decoder layers -> {args.dst}')
    return cut


if __name__ == '__main__':
    try:
        main()
    except (OSError, RuntimeError, ValueError) as err:
        # unreadable, corrupt or foreign files: one line naming the file
        sys.exit(f'detr_decoder_depth: {err}')
