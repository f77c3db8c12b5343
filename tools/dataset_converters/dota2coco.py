"""Convert DOTA-v1.5 to horizontal-box COCO JSON and split it into patches.

Expected layout (DOTA-v1.0 images with the v1.5 label files)::

    ROOT/
        train/{images,labelTxt}/
        val/{images,labelTxt}/
        test/images/             (optional, no labels)

For each split present this writes

- ``OUT_DIR/annotations/dota-v1.5-{split}.json``: full images (``file_name``
  relative to ``{split}/images/``), the ground truth of the merge-back
  evaluation;
- unless ``--no-split``: patches of ``--patch-size`` (1024) with ``--gap``
  (200), as ``OUT_DIR/patches/{split}-patch1024-stride824/*.png`` and
  ``OUT_DIR/annotations/dota-v1.5-{split}-patch1024-stride824.json``;

and prints a summary table per step. ``OUT_DIR`` defaults to ``ROOT``.
Difficult objects stay objects (``difficult: 1``) unless
``--difficult-as-ignored``; see ``crossdino/datasets/converters/dota.py``.

``--skip-empty`` (leave out patches without objects) applies to the train
split only: evaluation needs every patch of an image.

Example::

    python tools/dataset_converters/dota2coco.py data/DOTA-v1.5
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
from crossdino.datasets.converters.dota import (  # noqa: E402
    convert_dota_split, format_dota_summary)
from crossdino.datasets.converters.patches import (  # noqa: E402
    add_patch_arguments, format_patch_summary, patch_kwargs,
    split_dataset_split)

SPLITS = ('train', 'val', 'test')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert DOTA-v1.5 to COCO JSON (horizontal boxes) and '
        'split the images into patches.')
    parser.add_argument('root', type=Path,
                        help='folder holding train/, val/ (and test/)')
    parser.add_argument('--out-dir', type=Path, default=None,
                        help='write OUT_DIR/annotations and OUT_DIR/patches '
                        '(default: ROOT)')
    parser.add_argument('--splits', nargs='+', choices=SPLITS,
                        default=list(SPLITS),
                        help='splits to convert (default: all present)')
    parser.add_argument('--difficult-as-ignored', action='store_true',
                        help='write difficult objects as ignored regions '
                        '(DOTA evaluation protocol) instead of objects')
    add_cleaning_arguments(parser)
    parser.add_argument('--no-split', action='store_true',
                        help='write only the full-image JSON')
    add_patch_arguments(parser, 'dota')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir if args.out_dir is not None else args.root
    present = [s for s in args.splits if (args.root / s).is_dir()]
    for split in args.splits:
        if split not in present:
            print(f'skip {split}: {args.root / split} not found')
    if not present:
        sys.exit(f'error: none of {args.splits} found in {args.root}')
    try:
        kwargs = patch_kwargs(args)
    except ValueError as e:
        sys.exit(f'error: {e}')

    warnings.formatwarning = lambda msg, *_, **__: f'warning: {msg}\n'
    for split in present:
        full_json = out_dir / 'annotations' / f'dota-v1.5-{split}.json'
        try:
            summary = convert_dota_split(
                args.root / split, full_json,
                difficult_as='ignore' if args.difficult_as_ignored else
                'object',
                min_size=args.min_size,
                strict=not args.no_strict,
                labels_required=split != 'test',
                progress=True)
        except (FileNotFoundError, ValueError) as e:
            exit_on_error(e)
        print(format_dota_summary(summary))
        if args.no_split:
            continue
        summary = split_dataset_split(full_json,
                                      args.root / split / 'images', out_dir,
                                      'dota-v1.5', split, progress=True,
                                      **kwargs)
        print(format_patch_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
