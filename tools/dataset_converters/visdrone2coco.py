"""Convert the VisDrone2019-DET release to COCO JSON files.

Expected layout (the official zips unpacked side by side)::

    ROOT/
        VisDrone2019-DET-train/{images,annotations}/
        VisDrone2019-DET-val/{images,annotations}/
        VisDrone2019-DET-test-dev/{images,annotations}/

Writes ``OUT_DIR/annotations/visdrone2019-det-{split}.json`` (``OUT_DIR``
defaults to ``ROOT``), with ``file_name`` relative to the split's ``images/``,
and prints a summary table per split. Ignored regions (categories 0 and 11)
are kept as ``category_id=0, ignore=1`` annotations, see
``crossdino/datasets/converters/visdrone.py``.

Example::

    python tools/dataset_converters/visdrone2coco.py data/VisDrone
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
from crossdino.datasets.converters.visdrone import (  # noqa: E402
    convert_visdrone_split, format_summary)

SPLITS = ('train', 'val', 'test-dev')


def split_folder(split: str) -> str:
    """Official folder name of ``split``, e.g. ``VisDrone2019-DET-val``."""
    return f'VisDrone2019-DET-{split}'


def json_name(split: str) -> str:
    """Output file name of ``split``, e.g. ``visdrone2019-det-val.json``."""
    return f'visdrone2019-det-{split}.json'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert VisDrone2019-DET annotations to COCO JSON.')
    parser.add_argument(
        'root', type=Path, help='folder holding VisDrone2019-DET-<split>/')
    parser.add_argument(
        '--out-dir',
        type=Path,
        default=None,
        help='write OUT_DIR/annotations/visdrone2019-det-<split>.json '
        '(default: ROOT)')
    parser.add_argument(
        '--splits',
        nargs='+',
        choices=SPLITS,
        default=list(SPLITS),
        help='splits to convert (default: all)')
    add_cleaning_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir if args.out_dir is not None else args.root
    present = [
        s for s in args.splits if (args.root / split_folder(s)).is_dir()
    ]
    for split in args.splits:
        if split not in present:
            print(f'skip {split}: {args.root / split_folder(split)} '
                  'not found')
    if not present:
        sys.exit(f'error: none of {[split_folder(s) for s in args.splits]} '
                 f'found in {args.root}')

    # One line per problem file, without the source location noise.
    warnings.formatwarning = lambda msg, *_, **__: f'warning: {msg}\n'
    for split in present:
        try:
            summary = convert_visdrone_split(
                args.root / split_folder(split),
                out_dir / 'annotations' / json_name(split),
                min_size=args.min_size,
                strict=not args.no_strict,
                progress=True)
        except (FileNotFoundError, ValueError) as e:
            exit_on_error(e)
        print(format_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
