"""tools/benchmarks/compare.py: statistics against hand computations,
schedule scaling, resume of interrupted runs, and a tiny end-to-end run."""
import json
import math
import os
import os.path as osp

import pytest

from tests.conftest import (PYTHON, ROOT, TINY_CFG, data_root_options,
                            format_cfg_options, load_tool, run_tool)

compare = load_tool('tools/benchmarks/compare.py')


def test_paired_interval_by_hand():
    base = {0: 0.10, 1: 0.12, 2: 0.11}
    other = {0: 0.13, 1: 0.14, 2: 0.15, 7: 0.9}  # seed 7 has no pair
    d = compare.paired_interval(base, other)
    # differences 0.03, 0.02, 0.04: mean 0.03, sd 0.01, t(2) = 4.303
    half = 4.303 * 0.01 / math.sqrt(3)
    assert d['n'] == 3
    assert d['diff'] == pytest.approx(0.03)
    assert d['low'] == pytest.approx(0.03 - half)
    assert d['high'] == pytest.approx(0.03 + half)
    one = compare.paired_interval({0: 0.1}, {0: 0.3})
    assert one['n'] == 1 and one['diff'] == pytest.approx(0.2)
    assert math.isnan(one['low']) and math.isnan(one['high'])
    assert compare.paired_interval({0: 0.1}, {1: 0.2})['n'] == 0


def test_mean_std_and_t_quantiles():
    m, s = compare.mean_std([0.2, 0.4, 0.9])
    assert m == pytest.approx(0.5)
    assert s == pytest.approx(math.sqrt((0.09 + 0.01 + 0.16) / 2))
    assert compare.mean_std([0.3]) == (0.3, 0.0)
    assert compare.t95(2) == 4.303 and compare.t95(11) == 2.228
    assert compare.t95(90) == 2.000 and compare.t95(500) == 1.980


def test_milestones_round_half_up_and_stay_inside_the_budget():
    cfg = dict(train_cfg=dict(max_epochs=4),
               param_scheduler=[dict(type='MultiStepLR', milestones=[3])])
    # 3 * 6 / 4 = 4.5 -> 5 (Python's round() would give 4)
    assert compare.schedule_options(cfg, 6)[-1] == \
        'param_scheduler.0.milestones=[5]'
    # 3 * 2 / 4 = 1.5 -> 2 = max_epochs: the decay would never happen
    assert compare.schedule_options(cfg, 2)[-1] == \
        'param_scheduler.0.milestones=[1]'


def test_schedule_is_stretched_to_the_budget():
    cfg = dict(train_cfg=dict(max_epochs=4),
               param_scheduler=[
                   dict(type='MultiStepLR', begin=0, end=4, milestones=[3]),
                   dict(type='LinearLR', by_epoch=False, begin=0, end=50)])
    opts = compare.schedule_options(cfg, 8)
    assert opts == [
        'train_cfg.max_epochs=8', 'train_cfg.val_interval=9',
        'default_hooks.checkpoint.interval=8', 'param_scheduler.0.begin=0',
        'param_scheduler.0.end=8', 'param_scheduler.0.milestones=[6]']
    # an iteration-based warm-up is left as it is


def test_a_run_depends_on_the_files_it_reads(tmp_path):
    cfg = dict(
        load_from='work_dirs/x/epoch_8.pth',
        train_dataloader=dict(dataset=dict(data_root='data/p/',
                                           ann_file='annotations/t.json')),
        test_dataloader=dict(dataset=dict(data_root='data/p/',
                                          ann_file='annotations/v.json')),
        model=dict(backbone=dict(init_cfg=dict(type='Pretrained',
                                               checkpoint='r18.pth'))))
    assert compare.input_files(cfg) == [
        'data/p/annotations/t.json', 'data/p/annotations/v.json',
        'work_dirs/x/epoch_8.pth', 'r18.pth']
    tools = FakeTools()
    runner, variant = runner_for(tmp_path, tools)
    ckpt = tmp_path / 'init.pth'
    ckpt.write_bytes(b'1')
    variant['inputs'] = [str(ckpt)]
    first = runner.plan(variant, 0)[3]
    ckpt.write_bytes(b'22')  # retrained: another size
    assert runner.plan(variant, 0)[3] != first


def test_variant_parsing_errors():
    assert compare.parse_variant(['a', 'x.py', 'k=1']) == ('a', 'x.py',
                                                           ['k=1'])
    with pytest.raises(ValueError, match='expected NAME CONFIG'):
        compare.parse_variant(['a'])
    with pytest.raises(ValueError, match="'k' is not key=value"):
        compare.parse_variant(['a', 'x.py', 'k'])
    assert compare.split_budget(['epochs=8', 'a.b=1'], 4) == (8, ['a.b=1'])
    with pytest.raises(ValueError, match='epochs=0: expected an integer'):
        compare.split_budget(['epochs=0'], 4)


def make_results(values, train_s=100.0):
    """{variant: {seed: result}} with only mAP and AP_vt filled in."""
    return {
        name: {s: dict(metrics=dict(bbox_mAP=v, bbox_AP_vt=v / 2),
                       train_s=train_s, test_s=10.0)
               for s, v in per_seed.items()}
        for name, per_seed in values.items()
    }


def test_table_marks_differences_larger_than_the_noise():
    variants = [dict(name='A', config='a.py', options=[]),
                dict(name='B', config='b.py', options=[]),
                dict(name='C', config='c.py', options=[])]
    results = make_results({
        'A': {0: 0.10, 1: 0.12, 2: 0.11},
        'B': {0: 0.13, 1: 0.14, 2: 0.15},  # +0.03 [0.005, 0.055]
        'C': {0: 0.12, 1: 0.10, 2: 0.12},  # +0.003, interval holds 0
    })
    rows = compare.aggregate(variants, results, {'A': (1.5, 2.25)})
    assert rows[0]['metrics']['mAP']['mean'] == pytest.approx(0.11)
    assert rows[0]['metrics']['mAP']['std'] == pytest.approx(0.01)
    assert rows[0]['wall_s']['mean'] == pytest.approx(110.0)
    assert rows[1]['diff']['mAP']['low'] == pytest.approx(0.005157, abs=1e-6)
    assert rows[0]['params_m'] == 1.5 and rows[1]['gflops'] is None
    text = compare.markdown('t', rows, 'python compare.py')
    lines = text.splitlines()
    b = next(x for x in lines if x.startswith('| B |') and '[' in x)
    c = next(x for x in lines if x.startswith('| C |') and '[' in x)
    assert '**+0.0300 [0.0052, 0.0548]**' in b
    assert '+0.0033 [' in c and '**' not in c
    assert '| A | 3 | 0.1100 ± 0.0100 |' in text
    assert 'Command: `python compare.py`' in text


class FakeTools:
    """Stands in for tools/train.py and tools/test.py: records commands,
    writes a checkpoint pointer and the metrics JSON test.py would dump."""

    def __init__(self, fail_train=False, write_ckpt=True):
        self.calls = []
        self.fail_train = fail_train
        self.write_ckpt = write_ckpt

    def __call__(self, cmd, log_path):
        self.calls.append(cmd)
        work = cmd[cmd.index('--work-dir') + 1]
        os.makedirs(work, exist_ok=True)
        if cmd[1] == 'tools/train.py':
            if self.fail_train:
                # interrupted: the loop saved a checkpoint and pointed
                # last_checkpoint at it
                ckpt = osp.join(work, 'interrupted_epoch_2_iter_7.pth')
                if self.write_ckpt:
                    open(ckpt, 'wb').close()
                with open(osp.join(work, 'last_checkpoint'), 'w') as f:
                    f.write(ckpt)
                raise RuntimeError('tools/train.py exited 130')
            with open(osp.join(work, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work, 'epoch_4.pth'))
        else:
            stamp = osp.join(work, '20260101_000000')
            os.makedirs(stamp, exist_ok=True)
            with open(osp.join(stamp, '20260101_000000.json'), 'w') as f:
                json.dump({'coco/bbox_mAP': 0.25, 'coco/bbox_AP_vt': 0.05}, f)


def runner_for(tmp_path, tools):
    args = compare.parse_args(['--variant', 'v', 'x.py', '--work-dir',
                               str(tmp_path), '--python', 'py'])
    variant = dict(name='DINO + x', config='x.py', options=['a=1'])
    runner = compare.Runner(args)
    runner.call = tools
    return runner, variant


def test_finished_runs_are_reused_and_interrupted_ones_resume(tmp_path):
    tools = FakeTools(fail_train=True)
    runner, variant = runner_for(tmp_path, tools)
    with pytest.raises(RuntimeError, match='exited 130'):
        runner.run(variant, 0, 1, 1)
    assert tools.calls[0][-3:] == ['randomness.seed=0', '--work-dir',
                                   runner.run_dir(variant, 0)]
    assert runner.run_dir(variant, 0) == osp.join(str(tmp_path), 'dino-x',
                                                  'seed0')
    # the rerun continues from the checkpoint, then tests it
    tools.fail_train, tools.calls = False, []
    result = runner.run(variant, 0, 1, 1)
    assert tools.calls[0][-1] == '--resume'
    assert tools.calls[1][:4] == ['py', 'tools/test.py', 'x.py',
                                  osp.join(runner.run_dir(variant, 0),
                                           'epoch_4.pth')]
    assert result['metrics']['bbox_mAP'] == 0.25 and result['resumed']
    # finished: reused without running anything
    tools.calls = []
    again = runner.run(variant, 0, 1, 1)
    assert tools.calls == [] and again['fingerprint'] == result['fingerprint']
    # only the exact run is read back for a table
    assert runner.load_result(variant, 0)['fingerprint'] == \
        result['fingerprint']
    assert runner.load_result(variant, 1) is None
    # another command for the same folder starts again from scratch; the
    # earlier run is kept aside
    variant['options'] = ['a=2']
    assert runner.load_result(variant, 0) is None
    runner.run(variant, 0, 1, 1)
    assert len(tools.calls) == 2 and '--resume' not in tools.calls[0]
    stale = runner.run_dir(variant, 0) + '.stale'
    assert json.load(open(osp.join(stale, 'result.json')))['metrics']


def test_a_checkpoint_pointer_to_a_missing_file_starts_afresh(tmp_path):
    tools = FakeTools(fail_train=True, write_ckpt=False)
    runner, variant = runner_for(tmp_path, tools)
    with pytest.raises(RuntimeError):
        runner.run(variant, 0, 1, 1)
    # the checkpoint named by last_checkpoint does not exist
    tools.fail_train, tools.calls = False, []
    runner.run(variant, 0, 1, 1)
    assert '--resume' not in tools.calls[0]


def test_a_run_held_by_another_process_is_skipped(tmp_path):
    tools = FakeTools()
    runner, variant = runner_for(tmp_path, tools)
    lock = runner.run_dir(variant, 0) + '.lock'
    os.makedirs(osp.dirname(lock))
    with open(lock, 'w') as f:
        f.write(str(os.getppid()))  # alive: pytest's parent
    with pytest.raises(RuntimeError, match='being run by process'):
        runner.run(variant, 0, 1, 1)
    assert tools.calls == []
    # a lock left by a dead process is taken over, then released
    with open(lock, 'w') as f:
        f.write('999999999')
    assert runner.run(variant, 0, 1, 1)['metrics']
    assert not osp.exists(lock)


def test_metrics_without_objects_and_single_seeds():
    variants = [dict(name='A', config='a.py', options=[]),
                dict(name='B', config='b.py', options=[])]
    results = make_results({'A': {0: 0.2, 1: 0.3}, 'B': {0: 0.25}})
    results['A'][1]['metrics']['bbox_AP_vt'] = -1.0  # no such objects
    rows = compare.aggregate(variants, results, {})
    assert rows[0]['metrics']['AP_vt']['per_seed'] == {0: 0.1}
    assert rows[0]['metrics']['AP_vt']['mean'] == pytest.approx(0.1)
    text = compare.markdown('t', rows, 'cmd')
    assert '| B | 1 | 0.2500 | - |' in text  # no '± 0.000' for one seed
    assert '+0.0500 [-, -] (n=1)' in text
    clean = compare.no_nan(rows)
    assert clean[1]['diff']['mAP']['low'] is None
    json.dumps(clean, allow_nan=False)


def test_bad_arguments_are_reported(capsys):
    with pytest.raises(SystemExit):
        compare.parse_args(['--seeds', '0', '0', '--suite', 'sanity'])
    assert 'expected distinct seeds' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.parse_args([])
    args = compare.parse_args(['--variant', 'a', 'configs/nope.py'])
    with pytest.raises(FileNotFoundError, match='variant a: no config '
                       'configs/nope.py'):
        compare.build_variants(args)


def test_suite_variants_change_only_the_model():
    from mmengine.config import Config
    base = None
    for suite in compare.SUITES.values():
        for _, config, _ in suite:
            cfg = Config.fromfile(osp.join(ROOT, config)).to_dict()
            # the model, and the deltas' helper variables it was built from
            model = cfg.pop('model')
            rest = {k: v for k, v in cfg.items()
                    if k not in ('hmpe', 'hmpe_dino', 'global_enact_dino')}
            # the decoder-depth variants start from the shared DINO cut to
            # their depth (a SETUP file made from it)
            if model['decoder']['num_layers'] != 3:
                cut = f'_{model["decoder"]["num_layers"]}dec.pth'
                assert rest['load_from'] == \
                    'work_dirs/proxy_pretrain/epoch_8' + cut, config
                made = [cmd for _, out, cmd in compare.SETUP
                        if out == rest['load_from']]
                assert made and 'work_dirs/proxy_pretrain/epoch_8.pth ' in \
                    made[0] and made[0].endswith(
                        f'--num-layers {model["decoder"]["num_layers"]}'), \
                    config
                rest['load_from'] = 'work_dirs/proxy_pretrain/epoch_8.pth'
            base = base or rest
            assert rest == base, f'{config} changes more than the model'
            # the model can return as many boxes as the metric counts
            limit = max(rest['test_evaluator']['max_dets'])
            assert model['test_cfg']['max_per_img'] == limit == 1500, config
            assert model['num_queries'] * 10 >= limit


def test_two_variants_end_to_end(synthetic_root, tmp_path):
    data = format_cfg_options(data_root_options(synthetic_root))
    work = tmp_path / 'cmp'
    cmd = [PYTHON, 'tools/benchmarks/compare.py', '--name', 'tiny',
           '--work-dir', str(work), '--seeds', '0', '--epochs', '1',
           '--no-setup', '--no-flops',
           '--variant', 'tiny', TINY_CFG, *data,
           '--variant', 'tiny-10q', TINY_CFG, *data, 'model.num_queries=10',
           'model.test_cfg.max_per_img=10']
    proc = run_tool(cmd, timeout=900)
    assert '[2/2] tiny-10q seed 0: training' in proc.stdout
    table = json.loads((work / 'tiny.json').read_text())
    assert [r['name'] for r in table['rows']] == ['tiny', 'tiny-10q']
    for row in table['rows']:
        assert row['seeds'] == [0]
        assert 0 <= row['metrics']['mAP']['mean'] <= 1
        assert row['wall_s']['mean'] > 0
    res = json.loads((work / 'tiny' / 'seed0' / 'result.json').read_text())
    assert 'train_cfg.max_epochs=1' in res['train_cmd']
    assert (work / 'tiny.md').read_text().count('| tiny-10q |') == 2
    assert (work / 'tiny.png').stat().st_size > 1000
    # everything finished: a second call only rebuilds the table
    again = run_tool(cmd, timeout=300)
    assert again.stdout.count('done earlier, reused') == 2


def test_setup_trains_once_and_remakes_a_derived_file_when_stale(
        tmp_path, monkeypatch):
    """The shared DINO is trained once per data; a file derived from it (the
    2-decoder-layer cut) is made when missing or older than its source."""
    monkeypatch.setattr(compare, 'ROOT', str(tmp_path))
    monkeypatch.setattr(compare, 'PROXY_DATA_META', 'meta.json')
    (tmp_path / 'meta.json').write_text('{}')
    monkeypatch.setattr(compare, 'SETUP', [
        ('data', None, '{python} data'),
        ('trained', 'w/epoch.pth', '{python} train --work-dir w'),
        ('derived', 'w/cut.pth', '{python} cut w/epoch.pth w/cut.pth')])
    calls = []

    def tools(cmd, log_path):
        calls.append(cmd[1])
        if cmd[1] in ('train', 'cut'):
            name = 'epoch.pth' if cmd[1] == 'train' else 'cut.pth'
            (tmp_path / 'w' / name).write_text(cmd[1])

    runner, _ = runner_for(tmp_path / 'out', tools)
    runner.setup()
    assert calls == ['data', 'train', 'cut']
    calls.clear()
    runner.setup()
    assert calls == ['data']
    os.utime(tmp_path / 'w' / 'cut.pth', (1, 1))  # older than its source
    runner.setup()
    assert calls == ['data', 'data', 'cut']
