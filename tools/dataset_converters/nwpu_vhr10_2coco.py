"""Convert NWPU VHR-10 to COCO JSON files with a seeded split.

Expected layout (the release unpacked)::

    ROOT/
        positive image set/*.jpg
        negative image set/*.jpg
        ground truth/*.txt

NWPU VHR-10 has no official split and the HMPE paper states none; this
writes a deterministic split stratified by image set (default 60/20/20 %
train/val/test, seed 0) as ``OUT_DIR/nwpu_vhr10_{train,val,test}.json``
(``OUT_DIR`` defaults to ``ROOT/annotations``), ``file_name`` relative to
``ROOT``, and prints a summary table.

Example::

    python tools/dataset_converters/nwpu_vhr10_2coco.py data/NWPU-VHR-10
    python tools/dataset_converters/nwpu_vhr10_2coco.py ROOT --split 0.7 0.3
"""
import argparse
import sys
import warnings
from pathlib import Path

if __name__ == '__main__':
    # numpy/PIL only: skip crossdino/__init__ (torch, mmdet: ~10 s)
    import _cli
    _cli.enter()

from crossdino.datasets.converters.common import (  # noqa: E402
    add_cleaning_arguments, exit_on_error)
from crossdino.datasets.converters.nwpu_vhr10 import (  # noqa: E402
    DEFAULT_SPLIT, convert_nwpu_vhr10, format_nwpu_summary)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert NWPU VHR-10 to COCO JSON with a seeded split.')
    parser.add_argument(
        'root', type=Path,
        help="folder holding 'positive image set/', 'negative image set/' "
        "and 'ground truth/'")
    parser.add_argument(
        '--out-dir', type=Path, default=None,
        help='write OUT_DIR/nwpu_vhr10_<subset>.json '
        '(default: ROOT/annotations)')
    parser.add_argument(
        '--split', nargs='+', type=float, default=list(DEFAULT_SPLIT),
        metavar='RATIO',
        help='2 ratios: train test; 3 ratios: train val test '
        '(default: 0.6 0.2 0.2)')
    parser.add_argument(
        '--seed', type=int, default=0, help='split seed (default: 0)')
    parser.add_argument(
        '--no-negative', action='store_true',
        help='leave out the 150 negative images')
    add_cleaning_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= len(args.split) <= 3 or min(args.split) <= 0:
        parser.error(f'--split takes 1 to 3 positive ratios, got {args.split}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = (args.out_dir if args.out_dir is not None else args.root /
               'annotations')
    warnings.formatwarning = lambda msg, *_, **__: f'warning: {msg}\n'
    try:
        summary = convert_nwpu_vhr10(
            args.root, out_dir,
            ratios=args.split,
            seed=args.seed,
            include_negative=not args.no_negative,
            min_size=args.min_size,
            strict=not args.no_strict,
            progress=True)
    except (FileNotFoundError, ValueError) as e:
        exit_on_error(e)
    print(format_nwpu_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
