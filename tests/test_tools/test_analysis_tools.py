"""Tests of tools/analysis_tools: logs, FLOPs, benchmark, dataset browsing.

The tools are imported from their files and driven through ``main(argv)`` in
this process, on the tiny test config and hand-written logs.
"""
import argparse
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from crossdino.utils import build_detector_offline
from tests.conftest import (ROOT, TINY_CFG, data_root_options,
                            format_cfg_options, load_tool)

TOOLS = osp.join(ROOT, 'tools', 'analysis_tools')


def analysis_tool(name):
    return load_tool(f'tools/analysis_tools/{name}.py')


@pytest.fixture(autouse=True, scope='module')
def one_torch_thread():
    # On 2 busy cores, multi-threaded tiny ops mostly wait for each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def analyze_logs():
    return analysis_tool('analyze_logs')


@pytest.fixture(scope='module')
def get_flops():
    return analysis_tool('get_flops')


@pytest.fixture(scope='module')
def benchmark():
    return analysis_tool('benchmark')


@pytest.fixture(scope='module')
def browse_dataset():
    return analysis_tool('browse_dataset')


# --------------------------------------------------------------------------
# analyze_logs
# --------------------------------------------------------------------------
def train_line(epoch, it, loss, time):
    return dict(base_lr=2e-4, lr=2e-4, data_time=0.01, loss=loss,
                loss_cls=loss / 2, time=time, epoch=epoch, iter=it, step=it)


def val_line(epoch, map_, map50):
    # What LoggerHook.after_val_epoch writes: metrics with the evaluator's
    # prefix, the epoch as step.
    return {'coco/bbox_mAP': map_, 'coco/bbox_mAP_50': map50,
            'data_time': 0.01, 'time': 0.2, 'step': epoch}


def write_run(work_dir, timestamp, lines=None, test_metrics=None):
    run = osp.join(work_dir, timestamp)
    os.makedirs(osp.join(run, 'vis_data'), exist_ok=True)
    # The config copy every run leaves, scalars or not.
    open(osp.join(run, 'vis_data', 'config.py'), 'w').close()
    if lines is not None:
        with open(osp.join(run, 'vis_data', 'scalars.json'), 'w') as f:
            for line in lines:
                f.write(json.dumps(line) + '\n')
    if test_metrics is not None:
        with open(osp.join(run, f'{timestamp}.json'), 'w') as f:
            json.dump(test_metrics, f)


TRAIN_LINES = [
    val_line(0, 0.001, 0.004),  # ValBeforeTrainHook
    train_line(1, 1, 9.0, 5.0),  # first window of an epoch: an outlier
    train_line(1, 2, 8.0, 1.0),
    train_line(1, 3, 7.0, 1.0),
    val_line(1, 0.05, 0.1),
    train_line(2, 4, 6.0, 5.0),
    train_line(2, 5, 5.0, 2.0),
    train_line(2, 6, 4.0, 2.0),
    val_line(2, 0.1, 0.2),
]


@pytest.fixture
def work_dir(tmp_path):
    write_run(tmp_path, '20260101_100000', TRAIN_LINES)
    write_run(tmp_path, '20260101_110000', test_metrics={
        'coco/bbox_mAP': 0.123, 'coco/bbox_mAP_50': 0.25, 'data_time': 0.1,
        'time': 0.3})
    return str(tmp_path)


def test_summary_start_and_final_test(analyze_logs, work_dir, capsys):
    res = analyze_logs.main(
        ['summary', work_dir, '--keys', 'bbox_mAP', 'bbox_mAP_50'])
    assert res['bbox_mAP']['start']['value'] == 0.001
    assert res['bbox_mAP']['start']['epoch'] == 0
    assert res['bbox_mAP']['end']['value'] == 0.123
    assert res['bbox_mAP_50']['end']['value'] == 0.25
    out = capsys.readouterr().out
    assert 'bbox_mAP     start 0.001  end 0.123' in out
    assert 'bbox_mAP_50  start 0.004  end 0.250' in out
    assert 'end:   test in' in out


def test_summary_without_test_run_uses_last_validation(analyze_logs,
                                                       tmp_path, capsys):
    write_run(tmp_path, '20260101_100000', TRAIN_LINES[:5])
    # A resumed training continues in a newer folder, without epoch 0.
    write_run(tmp_path, '20260101_103000', TRAIN_LINES[5:])
    res = analyze_logs.main(['summary', str(tmp_path), '--keys', 'bbox_mAP'])
    assert res['bbox_mAP']['start']['value'] == 0.001
    assert res['bbox_mAP']['end']['value'] == 0.1
    assert res['bbox_mAP']['end']['epoch'] == 2
    assert 'bbox_mAP  start 0.001  end 0.100' in capsys.readouterr().out


def test_summary_errors_name_the_problem(analyze_logs, tmp_path):
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        analyze_logs.main(['summary', str(tmp_path)])
    write_run(tmp_path, '20260101_100000', [])
    with open(tmp_path / '20260101_100000' / 'vis_data' / 'scalars.json',
              'w') as f:
        f.write('{"step": 0}\nnot json\n')
    with pytest.raises(ValueError, match=r'scalars.json:2'):
        analyze_logs.main(['summary', str(tmp_path)])


def test_plot_curve_writes_png(analyze_logs, work_dir, tmp_path):
    out = str(tmp_path / 'curves.png')
    analyze_logs.main(['plot_curve', work_dir, '--keys', 'loss', 'bbox_mAP',
                       '--out', out])
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # Losses are plotted by iteration, metrics by epoch.
    records = analyze_logs.read_scalars(analyze_logs.resolve_log(work_dir))
    assert analyze_logs.key_series(records, 'loss')[::2] == (
        [1, 2, 3, 4, 5, 6], 'iter')
    assert analyze_logs.key_series(records, 'bbox_mAP') == (
        [0, 1, 2], [0.001, 0.05, 0.1], 'epoch')
    with pytest.raises(KeyError, match='no "nope"'):
        analyze_logs.main(['plot_curve', work_dir, '--keys', 'nope',
                           '--out', out])


def test_plot_curve_defaults_to_loss_and_map(analyze_logs, work_dir,
                                             tmp_path, capsys):
    out = str(tmp_path / 'curves.png')
    analyze_logs.main(['plot_curve', work_dir, '--out', out])
    assert 'saved 2 curve(s) of loss, bbox_mAP' in capsys.readouterr().out
    assert osp.getsize(out) > 0

    # A run without validation: the mAP panel is left out, not an error.
    train_only = tmp_path / 'train_only'
    write_run(train_only, '20260101_100000',
              [r for r in TRAIN_LINES if 'iter' in r])
    analyze_logs.main(['plot_curve', str(train_only), '--out', out])
    captured = capsys.readouterr()
    assert 'saved 1 curve(s) of loss' in captured.out
    assert 'no "bbox_mAP" in the logs' in captured.err
    # Asked for explicitly, a missing key still fails.
    with pytest.raises(KeyError, match='no "bbox_mAP"'):
        analyze_logs.main(['plot_curve', str(train_only), '--keys',
                           'bbox_mAP', '--out', out])


def test_cal_train_time(analyze_logs, work_dir, capsys):
    res = analyze_logs.main(['cal_train_time', work_dir])
    (stats, ) = res.values()
    # The first window of each epoch is dropped: epoch 1 -> 1 s, 2 -> 2 s.
    assert stats['per_epoch'] == {1: 1.0, 2: 2.0}
    assert stats['slowest'] == 2 and stats['fastest'] == 1
    assert stats['average'] == pytest.approx(1.5)
    assert 'average iter time: 1.5000 s/iter' in capsys.readouterr().out


# --------------------------------------------------------------------------
# get_flops
# --------------------------------------------------------------------------
def test_flops_of_single_layers_match_hand_formulas(get_flops):
    conv = nn.Conv2d(3, 8, 3, padding=1)
    total, _, _, _ = get_flops.count_flops(conv, torch.zeros(1, 3, 10, 12))
    assert total == 2 * (8 * 10 * 12) * (3 * 3 * 3)  # 2 x MACs

    linear = nn.Linear(16, 32)
    total, _, per_op, _ = get_flops.count_flops(linear, torch.zeros(5, 16))
    assert total == 2 * 5 * 16 * 32

    # grid_sample (custom formula): 4 MACs per output element and channel.
    value = torch.zeros(2, 6, 9, 11)
    grid = torch.zeros(2, 7, 5, 2)
    total, _, per_op, _ = get_flops.count_flops(
        F.grid_sample, value, grid, mode='bilinear', align_corners=False)
    assert total == 2 * 4 * (2 * 6 * 7 * 5)
    assert list(per_op) == ['aten.grid_sampler_2d']


def test_get_flops_on_tiny_detector(get_flops, capsys):
    res = get_flops.main([TINY_CFG, '--shape', '96', '128'])
    params, trainable = res['params']
    assert params > 1e6 and 0 < trainable <= params
    assert res['total_flops'] > 1e8
    assert res['input_shape'] == (1, 3, 96, 128)
    rows = res['rows']
    assert {'backbone', 'neck', 'encoder', 'decoder', 'bbox_head'} <= set(rows)
    # Rows partition the total: nothing counted twice or lost.
    assert sum(r['flops'] for r in rows.values()) == res['total_flops']
    assert sum(r['params'][0] for r in rows.values()) == params
    assert rows['bbox_head']['flops'] > 0  # called as bbox_head.forward(...)
    assert res['per_op']['aten.grid_sampler_2d'] > 0
    captured = capsys.readouterr()
    assert 'GFLOPs: ' in captured.out and 'fvcore convention' in captured.out
    # Progress goes to stderr, one line per slow step.
    progress = [line for line in captured.err.splitlines()
                if line.startswith('get_flops:')]
    assert len(progress) == 2 and progress[0].startswith('get_flops: building')
    assert 'counting one forward pass of a 1x3x96x128 input' in progress[1]


# --------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------
def test_benchmark_random_init_and_checkpoint(benchmark, get_flops, tmp_path,
                                              capsys):
    args = [TINY_CFG, '--shape', '96', '128', '--num-warmup', '1',
            '--num-iters', '2', '--device', 'cpu', '--threads', '1']
    res = benchmark.main(args)
    assert res['images'] == 2 and len(res['times']) == 2
    assert res['fps'] > 0 and res['memory']['kind'] == 'cpu RSS'
    assert res['memory']['peak'] > 0
    out = capsys.readouterr().out
    assert 'throughput' in out and 'random init' in out
    assert 'cpu, 1 threads' in out

    from crossdino.utils import load_tool_config
    model = build_detector_offline(load_tool_config(TINY_CFG))
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    res = benchmark.main([args[0], ckpt] + args[1:] + ['--batch-size', '2'])
    assert res['images'] == 4
    assert ckpt in capsys.readouterr().out

    # A checkpoint of another model is refused, not half-loaded.
    state = model.state_dict()
    state.pop(next(k for k in state if k.startswith('bbox_head.')))
    torch.save({'state_dict': state}, ckpt)
    with pytest.raises(RuntimeError, match='missing keys'):
        benchmark.main([args[0], ckpt] + args[1:])

    # Rejected while parsing (tests/test_tools/test_tool_startup.py checks
    # that this happens before torch is imported).
    with pytest.raises(SystemExit):
        benchmark.main([TINY_CFG, str(tmp_path / 'missing.pth')])
    assert 'missing.pth" does not exist' in capsys.readouterr().err


# --------------------------------------------------------------------------
# browse_dataset
# --------------------------------------------------------------------------
def test_browse_dataset_writes_images(browse_dataset, synthetic_root,
                                      tmp_path):
    import mmcv
    out_dir = str(tmp_path / 'browse')
    written = browse_dataset.main([
        TINY_CFG, '--output-dir', out_dir, '--not-show', '--max-images', '3',
        '--phase', 'train', '--cfg-options',
        *format_cfg_options(data_root_options(synthetic_root))
    ])
    assert len(written) == 3
    assert sorted(os.listdir(out_dir)) == sorted(
        osp.basename(p) for p in written)
    for path in written:
        img = mmcv.imread(path)
        assert img.shape == (96, 128, 3)  # the pipeline output (Resize)

    written = browse_dataset.main([
        TINY_CFG, '--output-dir', out_dir, '--not-show', '--phase', 'val',
        '--cfg-options', *format_cfg_options(data_root_options(synthetic_root))
    ])
    assert len(written) == 2  # the whole val set


def test_ignored_regions_are_shaded(browse_dataset):
    from mmdet.visualization import DetLocalVisualizer
    vis = DetLocalVisualizer(name='test_ignored_regions_are_shaded')
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    drawn = browse_dataset.shade_ignored(
        vis, image, torch.tensor([[10., 10., 30., 30.]]))
    inside = drawn[20, 20].astype(int)
    assert np.all(np.abs(inside - 64) <= 3)  # half-transparent grey on black
    assert np.all(drawn[5, 50] == 0)  # outside untouched
    assert drawn[10:31, 10].max() > 150  # the light dashed outline

    with pytest.raises(ValueError, match='--output-dir'):
        browse_dataset.main([TINY_CFG, '--not-show'])


def test_benchmark_on_the_test_dataloader(benchmark, synthetic_root):
    # 2 val images in batches of 1, cycled over 3 timed iterations.
    res = benchmark.main([
        TINY_CFG, '--dataset', '--batch-size', '1', '--num-warmup', '0',
        '--num-iters', '3', '--device', 'cpu', '--cfg-options',
        *format_cfg_options(data_root_options(synthetic_root))
    ])
    assert res['images'] == 3 and res['fps'] > 0


# --------------------------------------------------------------------------
# vis_* tools
# --------------------------------------------------------------------------
@pytest.mark.parametrize('name', [
    'vis_enact', 'vis_heatmap', 'vis_vicrop', 'get_flops', 'benchmark',
    'browse_dataset'
])
def test_every_argument_has_a_help_text(name, monkeypatch):
    tool = analysis_tool(name)
    parsers = []

    def capture(parser, args=None, namespace=None):
        parsers.append(parser)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', capture)
    with pytest.raises(SystemExit):
        tool.parse_args([])
    (parser, ) = parsers
    assert [a.dest for a in parser._actions if not a.help] == []
    assert '--cfg-options' in parser._option_string_actions


def test_vis_enact_applies_cfg_options(tmp_path, capsys, monkeypatch):
    import mmcv
    from crossdino.models.layers import ENACTAttention
    vis_enact = analysis_tool('vis_enact')
    image = str(tmp_path / 'img.png')
    mmcv.imwrite(np.random.default_rng(0).integers(
        0, 255, (96, 128, 3), dtype=np.uint8), image)
    seen = {}
    capture = vis_enact.capture_enact

    def counting_capture(model, *args):
        seen['attns'] = sum(isinstance(m, ENACTAttention)
                            for m in model.modules())
        return capture(model, *args)

    monkeypatch.setattr(vis_enact, 'capture_enact', counting_capture)
    out = str(tmp_path / 'enact.png')
    vis_enact.main([
        osp.join(ROOT, 'configs', 'enact', 'detr_r50_visdrone_enact.py'),
        image, '--out', out, '--cfg-options', 'model.encoder.num_layers=1',
        'test_dataloader.dataset.pipeline.1.scale=(160,128)'
    ])
    assert seen['attns'] == 1  # 6 encoder layers without the option
    # 128x96 resized to 160x120 (not 1333x800): a 4x5 grid at stride 32.
    assert 'clusters over 20 tokens' in capsys.readouterr().out
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
