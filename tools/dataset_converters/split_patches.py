"""Split the images of a full-image COCO JSON into overlapping patches.

Any JSON in crossdino's layout works (written by ``dota2coco.py``,
``sodad2coco.py``, ``visdrone2coco.py``, ...). Writes the patch images and a
patch JSON whose images carry ``orig_image_id``, ``x_offset`` and
``y_offset``, for training on patches and for ``PatchMergeMetric``, which
merges patch detections back onto the full-image JSON. See
``crossdino/datasets/converters/patches.py`` for the window placement and
what happens to objects cut by a patch border.

Examples::

    # DOTA protocol (default): 1024 px patches, gap 200
    cd data/DOTA-v1.5
    python ../../tools/dataset_converters/split_patches.py \\
        annotations/dota-v1.5-val.json val/images \\
        --out-json annotations/dota-v1.5-val-patch1024-stride824.json \\
        --out-img-dir patches/val-patch1024-stride824
    # SODA-D protocol: 800 px patches, stride 650
    python tools/dataset_converters/split_patches.py FULL.json IMAGES \\
        --preset sodad --out-json OUT.json --out-img-dir OUT_IMAGES
"""
import argparse
import sys
import warnings
from pathlib import Path

if __name__ == '__main__':
    # numpy/PIL only: skip crossdino/__init__ (torch, mmdet: ~10 s)
    import _cli
    _cli.enter()

from crossdino.datasets.converters.patches import (  # noqa: E402
    PATCH_PRESETS, add_patch_arguments, format_patch_summary, patch_kwargs,
    split_coco_file)


def parse_args(argv=None) -> argparse.Namespace:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--preset', choices=sorted(PATCH_PRESETS),
                     default='dota')
    known, _ = pre.parse_known_args(argv)
    parser = argparse.ArgumentParser(
        description='Split the images of a COCO JSON into overlapping '
        'patches.', parents=[pre])
    parser.add_argument('full_json', type=Path,
                        help='full-image COCO JSON in crossdino\'s layout')
    parser.add_argument('img_dir', type=Path,
                        help='folder the JSON\'s file_names are relative to')
    parser.add_argument('--out-json', type=Path, required=True,
                        help='patch COCO JSON to write')
    parser.add_argument('--out-img-dir', type=Path, default=None,
                        help='folder for the patch images (omit to write '
                        'only the JSON)')
    add_patch_arguments(parser, known.preset)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    warnings.formatwarning = lambda msg, *_, **__: f'warning: {msg}\n'
    try:
        summary = split_coco_file(
            args.full_json, args.img_dir, args.out_json, args.out_img_dir,
            progress=True, **patch_kwargs(args))
    except (FileNotFoundError, ValueError, KeyError) as e:
        sys.exit(f'error: {e}')
    print(format_patch_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
