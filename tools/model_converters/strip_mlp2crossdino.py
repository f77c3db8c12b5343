"""Convert an official Strip-MLP ImageNet checkpoint to CLAPStripMLP's keys.

Not needed for training: ``CLAPStripMLP`` loads the official files as they
are. Use it to inspect the mapping, to ship a backbone-only file, or to take
the backbone out of an MLP-DINO checkpoint (``--prefix`` strips the key prefix
the detector adds, and MLP-DINO's ``proh_w`` spelling is accepted).

    python tools/model_converters/strip_mlp2crossdino.py \
        strip_mlp_tiny.pth pretrained/clap_strip_t.pth

Files are read with ``torch.load(weights_only=True)``. A training checkpoint
that pickles more than tensors (e.g. a yacs config object next to the
weights) is refused; if you trust its origin, ``--trust-pickle`` loads it
fully, and the converted file holds tensors only.
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'src', type=cli.existing_file('checkpoint'),
        help='official Strip-MLP checkpoint')
    parser.add_argument('dst', help='output path')
    parser.add_argument(
        '--prefix', default='',
        help="key prefix to strip first (e.g. 'backbone.')")
    parser.add_argument(
        '--trust-pickle',
        action='store_true',
        help='load SRC with weights_only=False (only for files you trust)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402

from crossdino.models.backbones.clap_strip_mlp import (  # noqa: E402
    convert_strip_mlp_official, is_strip_mlp_official)


def convert_file(src: str,
                 dst: str,
                 prefix: str = '',
                 trust_pickle: bool = False) -> dict:
    """Convert ``src`` and save ``{'state_dict': ...}`` to ``dst``."""
    ckpt = torch.load(src, map_location='cpu', weights_only=not trust_pickle)
    state_dict = ckpt
    for wrapper in ('state_dict', 'model'):
        if isinstance(state_dict, dict) and wrapper in state_dict:
            state_dict = state_dict[wrapper]
            break
    if prefix:
        state_dict = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
    if not is_strip_mlp_official(state_dict):
        raise ValueError(
            f'{src} is not in the official Strip-MLP layout '
            f'(no patch_embed.weight / blocks1.* keys after prefix {prefix!r})')
    converted, dropped = convert_strip_mlp_official(state_dict)
    if osp.dirname(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
    torch.save({'state_dict': converted}, dst)
    print(f'{src}: {len(converted)} tensors -> {dst}' +
          (f' (dropped {", ".join(dropped)})' if dropped else ''))
    return converted


def main(argv=None):
    args = parse_args(argv)
    return convert_file(args.src, args.dst, args.prefix, args.trust_pickle)


if __name__ == '__main__':
    main()
