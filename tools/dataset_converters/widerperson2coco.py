"""Convert WiderPerson annotations to COCO JSON files.

Expected layout (the official release unpacked)::

    ROOT/
        Images/*.jpg
        Annotations/*.jpg.txt
        train.txt  val.txt  test.txt

Writes ``OUT_DIR/annotations/widerperson_{split}.json`` (``OUT_DIR`` defaults
to ``ROOT``; ``--classes person|all`` add a ``_person``/``_all`` suffix), with
``file_name`` relative to ``Images/``, and prints a summary table per split.
The default class protocol is IterDet's (pedestrians are the class, labels
2-5 ignored regions), see ``crossdino/datasets/converters/widerperson.py``.

Example::

    python tools/dataset_converters/widerperson2coco.py data/WiderPerson
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
from crossdino.datasets.converters.widerperson import (  # noqa: E402
    WIDERPERSON_CLASS_MODES, WIDERPERSON_SPLITS, convert_widerperson_split,
    format_widerperson_summary)


def json_name(split: str, classes: str = 'pedestrian') -> str:
    """Output file name, e.g. ``widerperson_val.json``."""
    suffix = '' if classes == 'pedestrian' else f'_{classes}'
    return f'widerperson_{split}{suffix}.json'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert WiderPerson annotations to COCO JSON.')
    parser.add_argument(
        'root', type=Path,
        help='folder holding Images/, Annotations/ and train/val/test.txt')
    parser.add_argument(
        '--out-dir', type=Path, default=None,
        help='write OUT_DIR/annotations/widerperson_<split>.json '
        '(default: ROOT)')
    parser.add_argument(
        '--splits', nargs='+', choices=WIDERPERSON_SPLITS,
        default=['train', 'val'],
        help='split lists to convert (default: train val; test has no '
        'ground truth and gives images only)')
    parser.add_argument(
        '--classes', choices=sorted(WIDERPERSON_CLASS_MODES),
        default='pedestrian',
        help='pedestrian: label 1 is the class, 2-5 ignored (IterDet, '
        'Cross-DINO; default); person: labels 1-3 merged, 4-5 ignored; '
        'all: labels 1, 2, 3, 5 as 4 classes, 4 ignored')
    parser.add_argument(
        '--plus-one', action='store_true',
        help="w = x2 - x1 + 1 like IterDet's converter (default x2 - x1)")
    add_cleaning_arguments(parser, 'lines and count-line mismatches')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir if args.out_dir is not None else args.root
    warnings.formatwarning = lambda msg, *_, **__: f'warning: {msg}\n'
    for split in args.splits:
        try:
            summary = convert_widerperson_split(
                args.root, split,
                out_dir / 'annotations' / json_name(split, args.classes),
                classes=args.classes,
                plus_one=args.plus_one,
                min_size=args.min_size,
                strict=not args.no_strict,
                progress=True)
        except (FileNotFoundError, ValueError) as e:
            exit_on_error(e)
        print(format_widerperson_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
