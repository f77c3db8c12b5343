"""Convert SODA-D to crossdino's COCO layout and split it into patches.

Expected layout (the official release)::

    ROOT/
        Images/*.jpg
        Annotations/{train,val,test}.json

For each split present this writes

- ``OUT_DIR/annotations/sodad-{split}.json``: full images, SODA-D's
  ``ignore`` category as ignored regions; the ground truth of the merge-back
  evaluation;
- unless ``--no-split``: 800 x 800 patches with stride 650 (Cross-DINO
  Sec. IV-A, CFINet's preprocessing) as
  ``OUT_DIR/patches/{split}-patch800-stride650/*.jpg`` and
  ``OUT_DIR/annotations/sodad-{split}-patch800-stride650.json``. Cut objects
  with at most 40% of their area inside a patch become ignored regions
  (CFINet's ``interAreaIgnThr=0.4``). The resize to 1200 x 1200 is in the
  config's pipeline.

``OUT_DIR`` defaults to ``ROOT``; ``--img-dir`` and ``--ann-dir`` override
``ROOT/Images`` and ``ROOT/Annotations``.

``--skip-empty`` (leave out patches without objects) applies to the train
split only: evaluation needs every patch of an image.

Example::

    python tools/dataset_converters/sodad2coco.py data/SODA-D
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
from crossdino.datasets.converters.patches import (  # noqa: E402
    add_patch_arguments, format_patch_summary, patch_kwargs,
    split_dataset_split)
from crossdino.datasets.converters.sodad import (  # noqa: E402
    convert_sodad_split, format_sodad_summary)

SPLITS = ('train', 'val', 'test')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert SODA-D to crossdino\'s COCO layout and split '
        'the images into patches.')
    parser.add_argument('root', type=Path,
                        help='folder holding Images/ and Annotations/')
    parser.add_argument('--img-dir', type=Path, default=None,
                        help='images folder (default: ROOT/Images)')
    parser.add_argument('--ann-dir', type=Path, default=None,
                        help='folder of {train,val,test}.json '
                        '(default: ROOT/Annotations)')
    parser.add_argument('--out-dir', type=Path, default=None,
                        help='write OUT_DIR/annotations and OUT_DIR/patches '
                        '(default: ROOT)')
    parser.add_argument('--splits', nargs='+', choices=SPLITS,
                        default=list(SPLITS),
                        help='splits to convert (default: all present)')
    add_cleaning_arguments(parser, 'entries')
    parser.add_argument('--no-split', action='store_true',
                        help='write only the full-image JSON')
    add_patch_arguments(parser, 'sodad')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    img_dir = args.img_dir or args.root / 'Images'
    ann_dir = args.ann_dir or args.root / 'Annotations'
    out_dir = args.out_dir if args.out_dir is not None else args.root
    present = [s for s in args.splits if (ann_dir / f'{s}.json').is_file()]
    for split in args.splits:
        if split not in present:
            print(f'skip {split}: {ann_dir / f"{split}.json"} not found')
    if not present:
        sys.exit(f'error: none of {[f"{s}.json" for s in args.splits]} '
                 f'found in {ann_dir}')
    try:
        kwargs = patch_kwargs(args)
    except ValueError as e:
        sys.exit(f'error: {e}')

    warnings.formatwarning = lambda msg, *_, **__: f'warning: {msg}\n'
    for split in present:
        full_json = out_dir / 'annotations' / f'sodad-{split}.json'
        try:
            summary = convert_sodad_split(
                ann_dir / f'{split}.json', img_dir, full_json,
                min_size=args.min_size, strict=not args.no_strict,
                progress=True)
        except (FileNotFoundError, ValueError) as e:
            exit_on_error(e, 'entries')
        print(format_sodad_summary(summary))
        if args.no_split:
            continue
        summary = split_dataset_split(full_json, img_dir, out_dir,
                                      'sodad', split, progress=True,
                                      **kwargs)
        print(format_patch_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
