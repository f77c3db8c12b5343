"""Shared fixtures: a tiny synthetic VisDrone dataset and a tiny DINO config.

Everything here is sized for a 2-core CPU: 128x96 images, one encoder and two
decoder layers, 20 queries.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(ROOT, 'configs', 'demo', 'dino_r18_synthetic.py')
PYTHON = sys.executable


def make_visdrone_coco(root, num_train=4, num_val=2, img_size=(128, 96),
                       seed=0, objects_per_image=(3, 8)):
    """Generate a synthetic VisDrone-layout set and convert it to COCO JSON."""
    from crossdino.datasets.converters.visdrone import convert_visdrone_split
    from crossdino.datasets.synthetic_visdrone import \
        generate_synthetic_visdrone
    generate_synthetic_visdrone(
        root, num_images=dict(train=num_train, val=num_val),
        img_size=img_size, objects_per_image=objects_per_image, seed=seed)
    for split in ('train', 'val'):
        convert_visdrone_split(
            osp.join(root, f'VisDrone2019-DET-{split}'),
            osp.join(root, 'annotations', f'visdrone2019-det-{split}.json'))
    return root


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    return make_visdrone_coco(str(tmp_path_factory.mktemp('synthetic')))


TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')


def tiny_detector_cfg(kind: str = 'dino'):
    """The tiny DINO's model config as one of the project's DINO-family
    detectors: ``'dino'``, ``'cross-dino'`` (CCTM, CrossDINOHead, Boost
    loss), ``'hmpe-dino'``, ``'dino-global-enact'`` or ``'all'`` (the
    three in one CrossHMPEDINO)."""
    import copy

    from mmengine.config import Config
    cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    if kind not in ('dino', 'cross-dino', 'hmpe-dino', 'dino-global-enact',
                    'all'):
        raise ValueError(f'unknown detector kind {kind!r}')
    if kind in ('cross-dino', 'all'):
        cfg.update(type='CrossDINO', cctm=dict(type='CCTM'))
        cfg.bbox_head.type = 'CrossDINOHead'
        cfg.bbox_head.loss_cls = dict(type='BoostLoss', alpha=0.25, beta=0.1,
                                      gamma=2.0, loss_weight=1.0)
    if kind in ('hmpe-dino', 'all'):
        cfg.update(type='HMPEDINO', hmpe=dict(
            heatmap_head=dict(type='HeatmapHead', feat_channels=16)))
    if kind in ('dino-global-enact', 'all'):
        dims = cfg.encoder.layer_cfg.self_attn_cfg.embed_dims
        cfg.update(type='ENACTDINO', global_enact=dict(
            num_levels=1,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=dims, num_heads=4, sigma=1.0),
                ffn_cfg=dict(embed_dims=dims, feedforward_channels=32))))
    if kind == 'all':
        cfg.type = 'CrossHMPEDINO'
    return cfg


def padded_det_batch(shapes=((64, 80), (56, 72)), num_gts=(3, 0),
                     pad=(64, 80), seed=0):
    """A padded training batch the way mmdet's unit tests build one.

    Returns ``(inputs (B, 3, *pad), data samples)``: image ``i`` is
    ``shapes[i]`` inside the padding and holds ``num_gts[i]`` random boxes
    of 2-16 px with labels in 0..9.
    """
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    inputs = torch.rand(len(shapes), 3, *pad, generator=g)
    samples = []
    for (h, w), n in zip(shapes, num_gts):
        s = DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=pad,
            batch_input_shape=pad, scale_factor=(1.0, 1.0)))
        xy = torch.rand(n, 2, generator=g) * torch.tensor([w * .6, h * .6])
        wh = 2 + torch.rand(n, 2, generator=g) * 14
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, 10, (n, ), generator=g))
        samples.append(s)
    return inputs, samples


def data_root_options(data_root):
    """--cfg-options pointing a synthetic-VisDrone config at ``data_root``."""
    val_json = osp.join(data_root, 'annotations', 'visdrone2019-det-val.json')
    opts = {
        f'{loader}.dataset.data_root': data_root
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    }
    opts['val_evaluator.ann_file'] = val_json
    opts['test_evaluator.ann_file'] = val_json
    return opts


def format_cfg_options(opts):
    return [f'{k}={v}' for k, v in opts.items()]


def load_tool(path):
    """The repository's script ``path`` (relative to the root, e.g.
    ``'tools/benchmarks/compare.py'``) imported as a module, for testing its
    functions in-process; named ``crossdino_tool_<stem>``."""
    import importlib.util
    stem = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(
        f'crossdino_tool_{stem}', osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(args, timeout=600, env=None, check=True):
    """Run a command-line tool of the repo in a fresh interpreter."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env.update(env or {})
    proc = subprocess.run(
        args, cwd=ROOT, env=full_env, capture_output=True, text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(args)} exited with {proc.returncode}\n'
            f'--- stdout ---\n{proc.stdout[-6000:]}\n'
            f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc
