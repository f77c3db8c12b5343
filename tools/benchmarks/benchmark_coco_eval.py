"""Time of the tiny-object COCO evaluation with pycocotools and with
faster-coco-eval, side by side, and the largest difference of any metric.

Two sets: the proxy benchmark's validation annotations (``--ann``, made by
``make_synthetic_visdrone.py --profile aerial``; skipped when absent) and a
generated dense set (``--images`` images of 1333x800 with ``--objects``
objects each). Detections are ``--dets`` per image: jittered copies of the
ground truth (80% with the right class) and random boxes, with random
scores; the ignored regions of the annotation file are used.

    python tools/benchmarks/benchmark_coco_eval.py
"""
import argparse
import contextlib
import io
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
ANN = 'data/proxy_aerial/annotations/visdrone2019-det-val.json'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--ann', default=ANN)
    p.add_argument('--images', type=int, default=100)
    p.add_argument('--objects', type=int, default=300)
    p.add_argument('--dets', type=int, default=1500)
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def dense_gt(num_images, num_objects, rng):
    from pycocotools.coco import COCO
    anns = []
    for img in range(1, num_images + 1):
        wh = rng.uniform(2, 64, (num_objects, 2))
        xy = rng.uniform(0, (1333 - 64, 800 - 64), (num_objects, 2))
        for c, (x, y), (w, h) in zip(rng.integers(1, 11, num_objects), xy,
                                     wh):
            anns.append(dict(id=len(anns) + 1, image_id=img,
                             category_id=int(c), bbox=[x, y, w, h],
                             area=w * h, iscrowd=0))
    coco = COCO()
    coco.dataset = dict(
        images=[dict(id=i, width=1333, height=800)
                for i in range(1, num_images + 1)],
        categories=[dict(id=c, name=str(c)) for c in range(1, 11)],
        annotations=anns)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def detections(coco, per_image, rng):
    import numpy as np
    cats = [c for c in coco.getCatIds()]
    dets = []
    for img in coco.getImgIds():
        gts = [a for a in coco.imgToAnns[img] if a['category_id'] in cats
               and not a.get('iscrowd')]
        n_true = min(len(gts), int(per_image * 0.6))
        for a in [gts[i] for i in rng.integers(0, len(gts), n_true)] \
                if gts else []:
            x, y, w, h = a['bbox']
            b = np.r_[x, y, w, h] + rng.normal(0, 0.1, 4) * np.r_[w, h, w, h]
            c = a['category_id'] if rng.random() < 0.8 else \
                int(rng.choice(cats))
            dets.append(dict(image_id=img, category_id=int(c),
                             bbox=[float(v) for v in np.abs(b) + [0, 0, .5,
                                                                  .5]],
                             score=float(rng.random())))
        for _ in range(per_image - n_true):
            w, h = rng.uniform(2, 80, 2)
            dets.append(dict(image_id=img, category_id=int(rng.choice(cats)),
                             bbox=[float(rng.uniform(0, 1200)),
                                   float(rng.uniform(0, 700)), float(w),
                                   float(h)], score=float(rng.random())))
    return dets


def compare(name, coco, dets):
    from crossdino.evaluation.functional import evaluate_tiny_coco
    res, secs = {}, {}
    for backend in ('pycocotools', 'faster'):
        t0 = time.perf_counter()
        res[backend] = evaluate_tiny_coco(coco, dets, backend=backend)
        secs[backend] = time.perf_counter() - t0
    diff = max(abs(res['faster'][k] - res['pycocotools'][k])
               for k in res['faster'])
    print(f'{name:<34s}{len(coco.getImgIds()):>7d}{len(dets):>10d}'
          f'{secs["pycocotools"]:>14.2f}{secs["faster"]:>10.2f}'
          f'{secs["pycocotools"] / secs["faster"]:>10.1f}x{diff:>12.1e}'
          f'{res["faster"]["mAP"]:>8.4f}')


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    from pycocotools.coco import COCO
    rng = np.random.default_rng(args.seed)
    print(f'{"set":<34s}{"images":>7s}{"dets":>10s}{"pycocotools s":>14s}'
          f'{"faster s":>10s}{"speed-up":>11s}{"max |diff|":>12s}'
          f'{"mAP":>8s}')
    ann = osp.join(ROOT, args.ann)
    if osp.isfile(ann):
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(ann)
        compare('proxy validation (aerial profile)', coco,
                detections(coco, args.dets, rng))
    else:
        print(f'{args.ann} not found: make it with tools/dataset_converters/'
              'make_synthetic_visdrone.py --profile aerial')
    coco = dense_gt(args.images, args.objects, rng)
    compare(f'dense, {args.objects} objects/image', coco,
            detections(coco, args.dets, rng))


if __name__ == '__main__':
    main()
