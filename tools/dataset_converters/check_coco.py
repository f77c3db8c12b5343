"""Validate COCO JSON files (AI-TOD, COCO, ...) and optionally clean one.

Checks unique ids, image sizes, that every annotation's image and category
exist, 4-number boxes inside the image, images without annotations, (with
``--img-dir``) image files missing on disk and (with ``--decode``) image
files that do not decode; prints a summary table with the
per-size buckets and the first problems, each naming the entry
(``annotations[17] (id 18)``). ``--fix OUT.json`` writes a cleaned copy:
boxes clipped, invalid entries dropped, all counted in the table.

Exit status: 0 when the files are clean or ``--fix`` wrote a copy, 1 when
problems were found and not fixed, 2 on unreadable input.

Example::

    python tools/dataset_converters/check_coco.py \\
        data/AI-TOD/annotations/aitod_test_v1.json \\
        --img-dir data/AI-TOD/test/images --decode
"""
import argparse
import sys
from pathlib import Path

if __name__ == '__main__':
    # numpy/PIL only: skip crossdino/__init__ (torch, mmdet: ~10 s)
    import _cli
    _cli.enter()

from crossdino.datasets.converters.coco_check import (  # noqa: E402
    check_coco_file, format_coco_report)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Validate COCO detection JSON files.')
    parser.add_argument('json', type=Path, nargs='+', help='COCO JSON files')
    parser.add_argument(
        '--img-dir', type=Path, default=None,
        help='folder the file_name entries are relative to; report (and '
        'drop with --fix) images whose file is missing')
    parser.add_argument(
        '--decode', action='store_true',
        help='with --img-dir: also decode every image and report (and drop '
        'with --fix) empty, truncated or corrupt files, each with its path '
        'and the decoder error (reads all pixels: slow)')
    parser.add_argument(
        '--fix', type=Path, default=None, metavar='OUT.json',
        help='write a cleaned copy (only with one input file)')
    parser.add_argument(
        '--min-size', type=float, default=0.0,
        help='count boxes whose clipped width or height is <= this (px) as '
        'empty')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.fix is not None and len(args.json) != 1:
        sys.exit('error: --fix takes exactly one input file')
    if args.decode and args.img_dir is None:
        sys.exit('error: --decode needs --img-dir')
    status = 0
    for path in args.json:
        try:
            result = check_coco_file(
                path, args.img_dir, args.fix, decode=args.decode,
                min_size=args.min_size, progress=True)
        except (OSError, ValueError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
        print(format_coco_report(result))
        if result['num_issues'] and args.fix is None:
            status = 1
    return status


if __name__ == '__main__':
    sys.exit(main())
