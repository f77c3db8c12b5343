"""What the tools load: ``--cfg-options`` keys, checkpoints, the metrics.

* ``--cfg-options`` with a key the config does not have is an error naming
  the closest key (a typo used to be merged as a new, unused key); every
  ``--cfg-options`` use of the repository still loads.
* A checkpoint of another model fails with a short summary unless
  ``--partial-load`` is given (mmengine's Runner loads with strict=False);
  ``load_from`` of tools/train.py, tools/test.py's checkpoint and resume.
* A pickled global outside the checkpoint allow-list is refused, naming the
  file and the global, without running it.
* The metrics tools/test.py prints equal the metric recomputed from its
  ``--out`` pickle.
"""
import glob
import json
import os
import os.path as osp
import pickle
import re

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from crossdino.utils import load_tool_config
from crossdino.utils.checkpoint import (StrictLoadRunner,
                                        load_state_dict_checked,
                                        strict_runner_class)
from crossdino.utils.config import CfgOptionsError
from tests.conftest import (DEMO_CFG, PYTHON, ROOT, TINY_CFG,
                            data_root_options, format_cfg_options, load_tool,
                            run_tool)

HMPE_CFG = osp.join(ROOT, 'configs', 'hmpe', 'dino_r18_synthetic_hmpe.py')


def tool_module(name):
    """``tools/<name>.py`` as a module (its ``parse_args``)."""
    return load_tool(f'tools/{name}.py')


def save_model(cfg_path, path, seed=0):
    """A randomly initialised model of ``cfg_path`` saved as a checkpoint."""
    from crossdino.utils import build_detector_offline
    torch.manual_seed(seed)
    model = build_detector_offline(Config.fromfile(cfg_path))
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return model.state_dict()


# ---------------------------------------------------------------- cfg-options


def test_cfg_options_typo_names_the_closest_key():
    with pytest.raises(CfgOptionsError) as err:
        load_tool_config(TINY_CFG, {'train_dataloder.batch_size': 1})
    msg = str(err.value)
    assert 'train_dataloder.batch_size' in msg and TINY_CFG in msg
    assert "did you mean 'train_dataloader'?" in msg
    assert '+train_dataloder.batch_size' in msg  # the escape hatch

    for key, closest in [('train_dataloader.datset.indices', 'dataset'),
                         ('model.test_cfg.max_per_imgs', 'max_per_img'),
                         ('default_hooks.checkpont.interval', 'checkpoint'),
                         ('randomnes.seed', 'randomness')]:
        with pytest.raises(CfgOptionsError, match=f"did you mean '{closest}'"):
            load_tool_config(TINY_CFG, {key: 1})


def test_cfg_options_all_problems_in_one_error():
    with pytest.raises(CfgOptionsError) as err:
        load_tool_config(TINY_CFG, {
            'foo': 1,
            'train_pipeline.9.scale': (64, 48),
            'train_pipeline.x': 1,
            'model.backbone.init_cfg.checkpoint': 'a.pth',  # init_cfg=None
            'train_dataloader.batch_size': 1,  # fine
        })
    msg = str(err.value)
    assert '4 key(s)' in msg
    assert "no top-level key 'foo'" in msg
    assert "index 9 is out of range: 'train_pipeline' has 5 items" in msg
    assert "'train_pipeline' is a list" in msg
    assert "'model.backbone.init_cfg' is None, not a dict" in msg


def test_cfg_options_legitimate_new_keys():
    cfg = load_tool_config(TINY_CFG, {
        # a new constructor argument of a registry-built dict (`type`)
        'model.backbone.with_cp': True,
        'test_dataloader.dataset.indices': 4,
        # a data loader's DataLoader kwargs (no `type`)
        'test_dataloader.pin_memory': True,
        # list items by position
        'train_pipeline.2.scale': (64, 48),
        'model.encoder.layer_cfg.ffn_cfg.feedforward_channels': 32,
        # Runner arguments the config does not define
        'experiment_name': 'exp',
        'resume': True,
        'load_from': 'x.pth',
        'find_unused_parameters': True,
        'randomness.seed': 3,
        'partial_load': True,
        # tools/test.py --vicrop settings on a config without `vicrop`
        'vicrop.budget': 0.5,
        # the escape hatch, at any depth
        '+model.test_cfg.score_thr': 0.3,
        '+my_notes.run': 'a',
    })
    assert cfg.model.backbone.with_cp is True
    assert cfg.test_dataloader.dataset.indices == 4
    assert cfg.test_dataloader.pin_memory is True
    assert cfg.train_pipeline[2]['scale'] == (64, 48)
    assert cfg.experiment_name == 'exp' and cfg.randomness.seed == 3
    assert cfg.vicrop == dict(budget=0.5)
    assert cfg.model.test_cfg == dict(max_per_img=20, score_thr=0.3)
    assert cfg.my_notes.run == 'a' and '+my_notes' not in cfg


def test_cfg_options_open_dicts():
    """Dicts whose keys are open by design take new keys, and may be new
    themselves inside a dict that takes new keys; a typo elsewhere at the
    same depth is still refused."""
    cfg = load_tool_config(TINY_CFG, {
        'default_hooks.early_stop': dict(type='EarlyStoppingHook'),
        'train_dataloader.dataset.filter_cfg.min_size': 32,
        'train_dataloader.dataset.metainfo.classes': ['a'],
        'optim_wrapper.paramwise_cfg.norm_decay_mult': 0.,
        'optim_wrapper.paramwise_cfg.custom_keys.neck.lr_mult': 0.1,
    })
    assert cfg.default_hooks.early_stop.type == 'EarlyStoppingHook'
    assert cfg.train_dataloader.dataset.filter_cfg.min_size == 32
    assert cfg.train_dataloader.dataset.metainfo.classes == ['a']
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.neck.lr_mult == 0.1
    for typo, closest in (('model.backbon.depth', 'backbone'),
                          ('optim_wrapper.optimiser.lr', 'optimizer')):
        with pytest.raises(CfgOptionsError, match=closest):
            load_tool_config(TINY_CFG, {typo: 1})


def test_cfg_options_dict_values_are_checked_key_by_key():
    with pytest.raises(CfgOptionsError, match="did you mean 'max_per_img'"):
        load_tool_config(TINY_CFG, {'model.test_cfg': dict(max_per_imgs=5)})
    cfg = load_tool_config(
        TINY_CFG, {'model.test_cfg': dict(_delete_=True, max_per_imgs=5)})
    assert cfg.model.test_cfg == dict(max_per_imgs=5)


# Every --cfg-options use in the repository (tests, READMEs, config comments).
REPO_USES = [
    (TINY_CFG, {'train_dataloader.batch_size': 1}),  # tools/dist_train.sh
    (TINY_CFG, {'vicrop.budget': 1.0, 'vicrop.min_mass_ratio': 0.0}),
    ('configs/dino/dino-4scale_r50_visdrone.py',
     {'vicrop.budget': 0.5, 'vicrop.merge': 'cross'}),
    ('configs/dino/dino-4scale_r50_visdrone.py',
     {'train_dataloader.batch_size': 1}),
    ('configs/dino/dino-4scale_clap-strip-t_visdrone.py',
     {'model.backbone.init_cfg.checkpoint': 'strip.pth'}),
    ('configs/hmpe/dino-4scale_r50_visdrone_hmpe.py',
     {'model.hmpe.query_selection': 'class'}),
    (DEMO_CFG, {'test_dataloader.dataset.indices': 4}),
]


@pytest.mark.parametrize('config,options', REPO_USES)
def test_cfg_options_of_the_repository_still_load(config, options,
                                                  synthetic_root):
    options = dict(options, **data_root_options(synthetic_root))
    load_tool_config(osp.join(ROOT, config), options)


def test_train_tool_exits_on_a_typo(synthetic_root, tmp_path):
    proc = run_tool([
        PYTHON, 'tools/train.py', TINY_CFG, '--work-dir', str(tmp_path),
        '--cfg-options', 'train_dataloder.batch_size=1',
        *format_cfg_options(data_root_options(synthetic_root))
    ], check=False)
    assert proc.returncode != 0
    assert "did you mean 'train_dataloader'?" in proc.stderr
    assert not glob.glob(osp.join(tmp_path, '*', '*.log'))  # nothing ran


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_help_documents_partial_load_and_new_keys(tool, capsys, tmp_path):
    module = tool_module(tool)
    with pytest.raises(SystemExit):
        module.parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert '--partial-load' in text and 'Resuming is always strict' in text
    assert 'Prefix a key with "+"' in text
    ckpt = tmp_path / 'ckpt.pth'  # the tools may check that files exist
    ckpt.write_bytes(b'')
    argv = [TINY_CFG] + ([str(ckpt)] if tool == 'test' else [])
    args = module.parse_args(argv + ['--partial-load'])
    assert args.cfg_options == dict(partial_load=True)
    assert module.parse_args(argv).cfg_options is None


# ------------------------------------------------------------ strict loading


class Net(nn.Module):
    """A block with a BN layer and a version hook that renames a key."""

    def __init__(self, classes=3):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, classes)
        self.extra = nn.Linear(4, 2)

    def _load_from_state_dict(self, state_dict, prefix, *args):
        old = prefix + 'cls.weight'  # an old name of head.weight
        if old in state_dict:
            state_dict[prefix + 'head.weight'] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args)


def test_mismatch_report():
    src = Net(classes=5).state_dict()
    del src['extra.weight'], src['extra.bias']
    del src['backbone.1.num_batches_tracked']  # never reported missing
    src['cls.weight'] = src.pop('head.weight')  # renamed back by the hook
    src['neck.conv.weight'] = torch.zeros(1)
    model = Net(classes=3)
    report = load_state_dict_checked(model, src)
    assert report.missing_keys == ['extra.weight', 'extra.bias']
    assert report.unexpected_keys == ['neck.conv.weight']
    assert report.shape_mismatches == [('head.weight', (5, 4), (3, 4)),
                                       ('head.bias', (5, ), (3, ))]
    assert not report.errors
    # what matches is loaded
    assert torch.equal(model.backbone[0].weight, src['backbone.0.weight'])
    summary = report.summary()
    assert '2 key(s) missing in the checkpoint' in summary
    assert 'extra (2): extra.weight, extra.bias' in summary
    assert 'head.weight: (5, 4) vs (3, 4)' in summary
    same = Net()
    assert not load_state_dict_checked(Net(), same.state_dict())


def test_summary_groups_keys_by_module():
    report = load_state_dict_checked(
        nn.ModuleDict(dict(a=nn.Linear(1, 1), b=nn.Linear(1, 1),
                           c=nn.Sequential(*[nn.Linear(1, 1)] * 3),
                           d=nn.Linear(1, 1), e=nn.Linear(1, 1))), {})
    summary = report.summary(max_groups=2, max_keys=2)
    assert report.summary().count('\n') < 10
    assert '14 key(s) missing' in summary
    assert 'c (6): c.0.weight, c.0.bias, ...' in summary
    assert '... 6 more in 3 other module(s)' in summary


def test_runner_type_keeps_its_class_and_gains_strict_loading():
    from mmengine.runner import Runner

    class MyRunner(Runner):
        pass

    strict = strict_runner_class(MyRunner)
    assert issubclass(strict, MyRunner) and strict is strict_runner_class(
        MyRunner)
    assert strict_runner_class(Runner) is StrictLoadRunner
    assert strict_runner_class(StrictLoadRunner) is StrictLoadRunner
    with pytest.raises(TypeError, match='not a subclass'):
        strict_runner_class(object)


@pytest.fixture(scope='module')
def dino_ckpt(tmp_path_factory):
    """A plain DINO checkpoint of the demo config (what an HMPE user loads
    by mistake)."""
    path = str(tmp_path_factory.mktemp('dino') / 'dino_r18.pth')
    save_model(DEMO_CFG, path)
    return path


def test_test_tool_refuses_another_models_checkpoint(dino_ckpt,
                                                     synthetic_root,
                                                     tmp_path):
    opts = format_cfg_options(data_root_options(synthetic_root))
    proc = run_tool([
        PYTHON, 'tools/test.py', HMPE_CFG, dino_ckpt, '--work-dir',
        str(tmp_path), '--cfg-options', *opts
    ], check=False)
    assert proc.returncode != 0
    err = proc.stderr
    assert 'CheckpointMismatchError' in err
    assert (f'checkpoint "{dino_ckpt}" does not match the model of config '
            f'"{HMPE_CFG}" (HMPEDINO)') in err
    assert re.search(r'\d+ key\(s\) missing in the checkpoint', err)
    assert 'heatmap_head (' in err
    assert '--partial-load' in err
    assert 'coco/bbox_mAP' not in proc.stdout + err  # nothing was evaluated

    proc = run_tool([
        PYTHON, 'tools/test.py', HMPE_CFG, dino_ckpt, '--partial-load',
        '--work-dir', str(tmp_path), '--cfg-options', *opts])
    log = proc.stdout + proc.stderr
    assert 'Partial load requested' in log and 'heatmap_head (' in log
    assert 'coco/bbox_mAP' in log


@pytest.fixture(scope='module')
def tiny_ckpts(tmp_path_factory):
    """The tiny config's model, and the same with 80 classes (a COCO model
    for a 10-class config) and an extra module."""
    tmp = tmp_path_factory.mktemp('tiny')
    good = str(tmp / 'tiny.pth')
    state = save_model(TINY_CFG, good)
    for key in [k for k in state if '.cls_branches.' in k]:
        state[key] = torch.zeros((80, ) + tuple(state[key].shape[1:]))
    state['old_head.weight'] = torch.zeros(2)
    other = str(tmp / 'coco80.pth')
    torch.save(dict(state_dict=state, meta=dict()), other)
    return good, other


def test_train_tool_load_from_is_strict(tiny_ckpts, synthetic_root,
                                        tmp_path):
    _, other = tiny_ckpts
    proc = run_tool([
        PYTHON, 'tools/train.py', TINY_CFG, '--work-dir', str(tmp_path),
        '--cfg-options', f'load_from={other}',
        *format_cfg_options(data_root_options(synthetic_root))
    ], check=False)
    assert proc.returncode != 0
    assert 'shape mismatch(es)' in proc.stderr
    assert 'bbox_head.cls_branches.0.weight: (80, 256) vs (10, 256)' \
        in proc.stderr
    assert 'old_head (1): old_head.weight' in proc.stderr
    assert not glob.glob(osp.join(tmp_path, 'epoch_*.pth'))


def test_resume_is_strict_even_with_partial_load(tiny_ckpts, synthetic_root,
                                                 tmp_path):
    _, other = tiny_ckpts
    proc = run_tool([
        PYTHON, 'tools/train.py', TINY_CFG, '--work-dir', str(tmp_path),
        '--resume', other, '--partial-load', '--cfg-options',
        *format_cfg_options(data_root_options(synthetic_root))
    ], check=False)
    assert proc.returncode != 0
    assert 'does not match' in proc.stderr
    assert 'Resuming is always strict' in proc.stderr


# ------------------------------------------------- checkpoint allow-list


class Payload:
    """Would write a marker file if it were ever unpickled."""

    def __setstate__(self, state):
        with open(state['marker'], 'w') as f:
            f.write('executed')


class SystemCall:
    """Pickles as ``os.system(command)``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


@pytest.mark.parametrize('kind', ['os.system', 'custom class'])
def test_checkpoint_with_a_foreign_global_is_refused(tmp_path, kind):
    from mmengine.runner.checkpoint import _load_checkpoint
    marker = tmp_path / 'executed'
    if kind == 'os.system':
        payload, global_name = SystemCall(f'touch {marker}'), 'system'
    else:
        payload = Payload()
        payload.__dict__['marker'] = str(marker)
        global_name = f'{__name__}.Payload'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(1)), meta=payload), path)

    with pytest.raises(pickle.UnpicklingError) as err:
        _load_checkpoint(str(path), map_location='cpu')
    msg = str(err.value)
    assert f'checkpoint "{path}"' in msg
    assert re.search(r'pickled global `\S*' + re.escape(global_name) + '`',
                     msg)
    assert 'without being executed' in msg
    assert not marker.exists()


def test_mmengine_checkpoints_still_load(tiny_ckpts):
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint
    good, _ = tiny_ckpts
    ckpt = _load_checkpoint(good, map_location='cpu')
    ckpt['message_hub'] = dict(
        log_scalars=dict(loss=HistoryBuffer([1.0], [1])))
    torch.save(ckpt, good + '.hub')
    assert 'message_hub' in _load_checkpoint(good + '.hub', map_location='cpu')


# ------------------------------------------- printed metrics == --out pickle


def predictions_as_ground_truth(results, classes, val_json, out_json):
    """A ground truth built from the predictions: most top boxes exact, a few
    shifted or relabelled, plus objects no prediction finds. Evaluated
    against it, a correct tools/test.py scores clearly above 0 (the tiny
    untrained model would score 0 on the real ground truth), so the printed
    and recomputed metrics are compared on non-trivial values."""
    with open(val_json) as f:
        coco = json.load(f)
    by_name = {c['name']: c['id'] for c in coco['categories']}
    cat_ids = [by_name[name] for name in classes]
    anns = []
    for res in results:
        pred = res['pred_instances']
        order = torch.argsort(pred['scores'], descending=True)[:8].tolist()
        for rank, i in enumerate(order):
            x1, y1, x2, y2 = pred['bboxes'][i].tolist()
            label = int(pred['labels'][i])
            if rank % 4 == 1:
                x1, x2 = x1 + 0.4 * (x2 - x1), x2 + 0.4 * (x2 - x1)
            if rank % 4 == 2:
                label = (label + 1) % len(cat_ids)
            anns.append(dict(image_id=res['img_id'],
                             category_id=cat_ids[label],
                             bbox=[x1, y1, x2 - x1, y2 - y1],
                             area=(x2 - x1) * (y2 - y1), iscrowd=0))
        anns.append(dict(image_id=res['img_id'], category_id=cat_ids[0],
                         bbox=[1.0, 1.0, 6.0, 5.0], area=30.0, iscrowd=0))
    coco['annotations'] = [dict(a, id=i) for i, a in enumerate(anns, 1)]
    with open(out_json, 'w') as f:
        json.dump(coco, f)


def test_printed_metrics_equal_the_metric_of_the_dumped_predictions(
        tiny_ckpts, synthetic_root, tmp_path):
    from mmdet.registry import DATASETS, METRICS
    from mmengine.registry import init_default_scope
    good, _ = tiny_ckpts
    opts = data_root_options(synthetic_root)

    def test_tool(name, **extra):
        out = str(tmp_path / f'{name}.pkl')
        proc = run_tool([
            PYTHON, 'tools/test.py', TINY_CFG, good, '--work-dir',
            str(tmp_path / name), '--out', out, '--cfg-options',
            *format_cfg_options(dict(opts, **extra))
        ])
        with open(out, 'rb') as f:
            return proc.stdout + proc.stderr, pickle.load(f)

    init_default_scope('mmdet')
    cfg = Config.fromfile(TINY_CFG)
    meta = DATASETS.get(cfg.test_dataloader.dataset.type).METAINFO
    _, first = test_tool('first')
    gt_json = str(tmp_path / 'gt_from_predictions.json')
    predictions_as_ground_truth(first, meta['classes'],
                                opts['test_evaluator.ann_file'], gt_json)
    log, results = test_tool('second', **{'test_evaluator.ann_file': gt_json})

    printed = {
        k: float(v)
        for k, v in re.findall(r'(coco/\S+): (-?\d+\.\d+)',
                               log.split('Epoch(test)')[-1])
    }
    dumped, = glob.glob(str(tmp_path / 'second' / '*' / '*.json'))
    with open(dumped) as f:
        logged = json.load(f)

    metric = METRICS.build(dict(cfg.test_evaluator, ann_file=gt_json))
    metric.dataset_meta = meta
    metric.process({}, results)
    recomputed = metric.evaluate(len(results))

    assert printed.keys() == recomputed.keys()
    assert recomputed['coco/bbox_mAP'] > 0.1
    assert recomputed['coco/bbox_mAP'] < 1.0
    for key, value in recomputed.items():
        assert printed[key] == pytest.approx(value, abs=5e-5), key
        assert logged[key] == pytest.approx(value, abs=1e-6), key


def test_missing_pretrained_weights_say_where_they_go(tmp_path, monkeypatch):
    """Offline, a backbone's download fails with an error naming the cache
    path to fill and how to train without it (issue 19); a missing local
    file says the same."""
    import urllib.error

    import mmengine.runner.checkpoint as ckpt
    from mmengine.runner.checkpoint import CheckpointLoader

    def no_network(*args, **kwargs):
        raise urllib.error.URLError('no route to host')

    monkeypatch.setattr(ckpt, 'load_url', no_network)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        CheckpointLoader.load_checkpoint('torchvision://resnet50')
    msg = str(err.value)
    assert osp.join(str(tmp_path), 'checkpoints', 'resnet50-') in msg
    assert 'model.backbone.init_cfg=None' in msg
    with pytest.raises(FileNotFoundError,
                       match='does not exist .*init_cfg=None'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'strip_mlp.pth'))


def test_limit_queries_caps_the_detections_it_can_return():
    from crossdino.utils.build import limit_queries
    model_level = dict(num_queries=900, test_cfg=dict(max_per_img=1500))
    limit_queries(model_level, 20)
    assert model_level == dict(num_queries=20, test_cfg=dict(max_per_img=20))
    head_level = dict(num_queries=100,
                      bbox_head=dict(test_cfg=dict(max_per_img=10)))
    limit_queries(head_level, 30)  # already below: kept
    assert head_level == dict(num_queries=30,
                              bbox_head=dict(test_cfg=dict(max_per_img=10)))
