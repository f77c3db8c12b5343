"""Generate the synthetic VisDrone-format dataset and its COCO JSON files.

Writes ``OUT_ROOT/VisDrone2019-DET-{train,val}/{images,annotations}`` in the
official VisDrone2019-DET format (see
``crossdino/datasets/synthetic_visdrone.py``) and converts both splits to
``OUT_ROOT/annotations/visdrone2019-det-{train,val}.json`` with the same
converter as the real data. A second run with the same parameters returns
at once; ``--force`` regenerates.

Example::

    python tools/dataset_converters/make_synthetic_visdrone.py \\
        data/synthetic_visdrone --train 128 --val 32
    # the proxy benchmark's data (768x432, dense, mostly very tiny objects)
    python tools/dataset_converters/make_synthetic_visdrone.py \\
        data/proxy_aerial --profile aerial --train 200 --val 24
"""
import argparse
import sys
import time
from pathlib import Path

if __name__ == '__main__':
    # numpy/PIL only: skip crossdino/__init__ (torch, mmdet: ~10 s)
    import _cli
    _cli.enter()

from crossdino.datasets.converters.visdrone import (  # noqa: E402
    convert_visdrone_split, format_summary)
from crossdino.datasets.synthetic_visdrone import (  # noqa: E402
    PROFILES, generate_synthetic_visdrone, synthetic_params,
    synthetic_up_to_date)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate a synthetic dataset in VisDrone2019-DET format.')
    parser.add_argument('out_root', type=Path, help='output folder')
    parser.add_argument(
        '--train', type=int, default=128, help='number of train images')
    parser.add_argument(
        '--val', type=int, default=32, help='number of val images')
    parser.add_argument(
        '--profile',
        choices=sorted(PROFILES),
        default='demo',
        help="'demo': the embedded demo's images; 'aerial': the proxy "
        "benchmark's (large originals, dense clusters, mostly very tiny "
        'objects)')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs=2,
        default=None,
        metavar=('W', 'H'),
        help="image size in pixels (default: the profile's, demo 256 192, "
        'aerial 768 432)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--force',
        action='store_true',
        help='regenerate even if an identical dataset exists')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    kwargs = dict(
        num_images={
            'train': args.train,
            'val': args.val
        },
        img_size=None if args.img_size is None else tuple(args.img_size),
        seed=args.seed,
        profile=args.profile)
    try:
        params = synthetic_params(**kwargs)
    except ValueError as e:
        sys.exit(f'error: {e}')
    jsons = {
        split: args.out_root / 'annotations' / f'visdrone2019-det-{split}.json'
        for split in params['num_images']
    }
    if (not args.force and synthetic_up_to_date(args.out_root, params)
            and all(p.is_file() for p in jsons.values())):
        print(f'{args.out_root}: up to date (use --force to regenerate)')
        return 0

    # JSONs of an earlier run must not outlive an interrupted regeneration.
    for out_json in jsons.values():
        out_json.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        result = generate_synthetic_visdrone(args.out_root, **kwargs)
    except FileExistsError as e:
        sys.exit(f'error: {e}')
    print(f"generated {sum(s['images'] for s in result['splits'].values())} "
          f'images in {time.perf_counter() - t0:.1f} s')
    for split, out_json in jsons.items():
        summary = convert_visdrone_split(
            args.out_root / f'VisDrone2019-DET-{split}', out_json)
        print(format_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
