"""Every config under configs/ loads, and every model config builds.

Backbones are built with ``init_cfg=None`` so nothing is downloaded; no
dataset is touched. Configs without a ``model`` (the ``_base_`` pieces) only
need to load. Children that resolve to the same model dict are built once.
"""
import glob
import math
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from tests.conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True))
_BUILT = {}

register_all_modules()


def _no_pretrained(model_cfg):
    for key in ('backbone', 'neck'):
        if isinstance(model_cfg.get(key), dict):
            model_cfg[key]['init_cfg'] = None
    return model_cfg


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    if 'model' not in cfg:
        assert '_base_' in path.split(osp.sep), \
            f'{path} defines no model and is not a _base_ piece'
        return
    model_cfg = _no_pretrained(cfg.model)
    key = repr(model_cfg.to_dict())
    if key not in _BUILT:
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        _BUILT[key] = sum(p.numel() for p in model.parameters())
    assert _BUILT[key] > 0
    if 'train_dataloader' in cfg:
        # Interrupted runs save and resume exactly only with crossdino's loop
        # and the RNG checkpointing hook (crossdino/engine).
        assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop', path
        assert 'RandomStateHook' in [h['type'] for h in cfg.custom_hooks], path


def test_paper_configs_present():
    names = set(CONFIGS)
    for must in ('configs/cross_dino_visdrone.py',
                 'configs/cross_dino/cross-dino-4scale_r50_visdrone.py',
                 'configs/cross_dino/cross-dino-4scale_r50_8xb2-12e_coco.py',
                 'configs/cross_dino/'
                 'cross-dino-4scale_swin-t_8xb2-12e_coco.py'):
        assert must in names
    for table in ('t6_', 't7_', 't8_', 't10_', 't11_'):
        assert any(osp.basename(p).startswith(table) for p in names), table


def test_cross_dino_visdrone_is_the_paper_model():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'cross_dino_visdrone.py'))
    assert cfg.model.type == 'CrossDINO'
    assert cfg.model.backbone.type == 'CLAPStripMLP'
    assert cfg.model.cctm.mode == 'twice'
    assert cfg.model.bbox_head.loss_cls.type == 'BoostLoss'
    assert cfg.model.bbox_head.loss_cls.beta == 0.1
    assert cfg.model.bbox_head.num_classes == 10


@pytest.mark.parametrize('child,key,value', [
    ('t8_1_cctm-mlp.py', 'cctm.mode', 'mlp'),
    ('t8_2_cctm-once.py', 'cctm.mode', 'once'),
    ('t10_1_beta005.py', 'bbox_head.loss_cls.beta', 0.05),
    ('t10_3_beta025.py', 'bbox_head.loss_cls.beta', 0.25),
    ('t10_0_focal.py', 'bbox_head.loss_cls.type', 'FocalLoss'),
    ('t11_2_dino-r50_boost.py', 'bbox_head.loss_cls.type', 'BoostLoss'),
])
def test_ablation_children_change_one_thing(child, key, value):
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'cross_dino', 'ablations', child))
    node = cfg.model
    for k in key.split('.'):
        node = node[k]
    assert node == value


def _ablate():
    return load_tool('tools/ablate.py')


def test_ablate_families_cover_every_ablation_config():
    ablate = _ablate()
    listed = {p for fam in ablate.FAMILIES
              for _, p in ablate.family_configs(fam)}
    on_disk = set(glob.glob(osp.join(ablate.ABLATIONS, '*.py')))
    assert listed == on_disk
    rows = [osp.basename(p) for _, p in ablate.family_configs('table8')]
    assert rows == ['t8_0_dino-r50.py', 't8_1_cctm-mlp.py',
                    't8_2_cctm-once.py', 't8_3_cctm-twice.py']


def test_ablate_table_from_dumped_metrics(tmp_path):
    import json
    ablate = _ablate()
    run = tmp_path / 'test' / '20260101_000000'
    run.mkdir(parents=True)
    record = {'coco/bbox_mAP': 0.354, 'coco/bbox_mAP_50': 0.598,
              'coco/bbox_mAP_75': 0.359, 'coco/bbox_AP_vt': 0.082,
              'coco/bbox_AP_t': 0.162, 'coco/bbox_AP_s': 0.315,
              'coco/bbox_mAP_s': 0.9}
    (run / '20260101_000000.json').write_text(json.dumps(record) + '\n')
    got = ablate.read_metrics(str(tmp_path / 'test'))
    table = ablate.format_table('table10', [('beta 0.1', 'x.py', got)])
    # paper column order AP, AP50, AP75, APvt, APt, APs
    assert '| 35.4 | 59.8 | 35.9 | 8.2 | 16.2 | 31.5 |' in table


def test_ablate_rerun_resumes_and_work_dir_is_the_callers(tmp_path,
                                                          monkeypatch, capsys):
    """A relative --work-dir is the caller's, although the tools run from the
    repository root; a run with a checkpoint but no test metrics (a failed
    test) is resumed, not retrained from scratch."""
    ablate = _ablate()
    cfg = osp.join(ROOT, 'configs', 'demo', 'dino_r18_synthetic.py')
    monkeypatch.chdir(tmp_path)
    argv = ['table10', '--configs', cfg, '--work-dir', 'wd', '--dry-run']
    ablate.main(argv)
    first = [ln for ln in capsys.readouterr().out.splitlines()
             if ln.startswith('$ ')]
    run_dir = tmp_path / 'wd' / 'table10' / 'dino_r18_synthetic'
    assert f'--work-dir {run_dir} ' in first[0] + ' '
    assert '--resume' not in first[0]

    run_dir.mkdir(parents=True)
    (run_dir / 'epoch_3.pth').write_bytes(b'')
    ablate.main(argv)
    again = [ln for ln in capsys.readouterr().out.splitlines()
             if ln.startswith('$ ')]
    assert again[0].endswith('--resume')
    assert str(run_dir / 'epoch_3.pth') in again[1]  # tests that checkpoint


def _metric_limit(evaluator) -> float:
    """Most detections per image a metric counts (inf: every detection).

    ``max_dets`` of the COCO-style metrics (their default when the config
    omits it), capped by a patch merge's ``max_per_img``; a metric without
    ``max_dets`` (WiderPerson's AP, recall and miss rate) counts them all.
    """
    import inspect

    from mmdet.registry import METRICS
    if isinstance(evaluator, (list, tuple)):
        return max(_metric_limit(e) for e in evaluator)
    if evaluator.type == 'PatchMergeMetric':
        return min(_metric_limit(evaluator.metric),
                   evaluator.get('max_per_img') or math.inf)
    params = inspect.signature(METRICS.get(evaluator.type)).parameters
    if 'max_dets' not in params:
        return math.inf
    return max(evaluator.get('max_dets', params['max_dets'].default))


def _reachable_detections(model_cfg) -> int:
    """Detections a DETR-style head can return: top-k over queries x classes
    with a sigmoid classifier, one per query with a softmax one."""
    head = model_cfg.bbox_head
    sigmoid = head.loss_cls.get('use_sigmoid', True)
    return model_cfg.num_queries * (head.num_classes if sigmoid else 1)


@pytest.mark.parametrize('path', CONFIGS)
def test_model_returns_what_the_metric_counts(path):
    """A model that returns fewer detections than its metric counts caps AR
    and AP on dense images (issue 14): ``test_cfg.max_per_img`` must reach
    the evaluator's limit, or every detection the head can produce.

    COCO (mmdet's ``CocoMetric``) is exempt: its configs reproduce published
    COCO numbers, which DINO reports at 300 detections per image.
    """
    cfg = Config.fromfile(osp.join(ROOT, path))
    if 'model' not in cfg or 'test_evaluator' not in cfg:
        return
    evaluators = []
    for key in ('val_evaluator', 'test_evaluator'):
        e = cfg.get(key)
        evaluators += list(e) if isinstance(e, (list, tuple)) else [e] * bool(e)
    evaluators = [e for e in evaluators if e.type != 'CocoMetric']
    if not evaluators:
        return
    model = cfg.model
    got = None
    if model.type == 'ViCropTTAModel':  # caps the merged detections too
        got, model = model.get('max_per_img'), model.module
    need = min(_metric_limit(evaluators), _reachable_detections(model))
    got = min(got or math.inf, model.test_cfg.max_per_img)
    assert got >= need, (
        f'{path}: model.test_cfg.max_per_img={got}, but the metric counts '
        f'up to {_metric_limit(evaluators)} detections per image and the '
        f'head can return {_reachable_detections(model)}')


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'clap' in p])
def test_paper_configs_use_the_authors_clap_tiling(path):
    """Published CLAP-Strip weights were trained with MLP-DINO's tiling; our
    exact-cover 'even' rule changes the features (issue 14)."""
    cfg = Config.fromfile(osp.join(ROOT, path))
    model = cfg.get('model') or cfg.clap_strip_t  # or the _base_ delta
    model = model.get('module', model)
    if model.backbone.type == 'CLAPStripMLP':
        assert model.backbone.clap_mode == 'mlp_dino', path
