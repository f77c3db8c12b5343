"""Tools reject bad file arguments before importing torch and mmdet.

Each tool runs in a fresh interpreter through a driver that reports, when the
tool exits, which heavy packages it had imported. Importing torch + mmdet
takes 5-30 s depending on the machine's load; a rejected argument must cost
a fraction of that, so the bound below is loose on purpose.
"""
import argparse
import os
import os.path as osp
import subprocess
import time

import pytest

from tests.conftest import PYTHON, ROOT, TINY_CFG

HEAVY = ('torch', 'mmengine', 'mmcv', 'mmdet', 'crossdino')
MAX_SECONDS = 5.0

# Runs a tool as __main__ and prints the heavy packages loaded when it exits.
DRIVER = f'''
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
finally:
    print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules),
          file=sys.stderr)
'''


def run_driver(tool, *args):
    start = time.perf_counter()
    proc = subprocess.run([PYTHON, '-c', DRIVER, tool, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return proc, time.perf_counter() - start


CASES = [
    # (tool, arguments, the value the error must name)
    ('tools/train.py', ['missing_cfg.py', '--cfg-options', 'a=1'],
     'missing_cfg.py'),
    ('tools/test.py', [TINY_CFG, 'missing.pth'], 'missing.pth'),
    ('tools/test.py', ['missing_cfg.py', 'missing.pth'], 'missing_cfg.py'),
    ('tools/analysis_tools/get_flops.py', ['missing_cfg.py'],
     'missing_cfg.py'),
    ('tools/analysis_tools/benchmark.py', ['missing_cfg.py'],
     'missing_cfg.py'),
    ('tools/analysis_tools/benchmark.py', [TINY_CFG, 'missing.pth'],
     'missing.pth'),
    ('tools/analysis_tools/browse_dataset.py',
     ['missing_cfg.py', '--cfg-options', 'a=1'], 'missing_cfg.py'),
    ('tools/analysis_tools/vis_enact.py', ['missing_cfg.py', 'img.png'],
     'missing_cfg.py'),
    ('tools/analysis_tools/vis_heatmap.py', [TINY_CFG, 'missing.png'],
     'missing.png'),
    ('tools/analysis_tools/vis_vicrop.py',
     [TINY_CFG, 'missing.png', '--checkpoint', 'x.pth'], 'missing.png'),
    ('tools/model_converters/strip_mlp2crossdino.py',
     ['missing.pth', 'out.pth'], 'missing.pth'),
    ('tools/model_converters/detr_decoder_depth.py',
     ['missing.pth', 'out.pth', '--num-layers', '2'], 'missing.pth'),
    ('tools/benchmarks/benchmark_cctm.py', ['--cross', 'missing_cfg.py'],
     'missing_cfg.py'),
    ('tools/benchmarks/benchmark_enact.py', ['--base', 'missing_cfg.py'],
     'missing_cfg.py'),
    ('tools/benchmarks/benchmark_hmpe.py', ['--hmpe', 'missing_cfg.py'],
     'missing_cfg.py'),
    ('tools/benchmarks/benchmark_vicrop.py', ['--config', 'missing_cfg.py'],
     'missing_cfg.py'),
    ('tools/infer.py', ['missing_cfg.py', 'x.pth', 'img.jpg'],
     'missing_cfg.py'),
    ('tools/benchmarks/benchmark_train_memory.py',
     ['--config', 'missing_cfg.py', '--variant', 'a'], 'missing_cfg.py'),
    ('tools/benchmarks/compare_vicrop.py', [TINY_CFG, 'a.pth', 'missing.pth'],
     'a.pth'),
    ('tools/analysis_tools/acs_free_heads.py', [TINY_CFG, 'missing.pth'],
     'missing.pth'),
    ('tools/benchmarks/compare_sahi.py', [TINY_CFG, 'missing.pth'],
     'missing.pth'),
]


@pytest.mark.parametrize('tool,args,named', CASES,
                         ids=[f'{osp.basename(c[0])}:{c[2]}' for c in CASES])
def test_missing_file_fails_before_heavy_imports(tool, args, named):
    proc, seconds = run_driver(tool, *args)
    assert proc.returncode == 2, proc.stderr
    assert f'"{named}" does not exist' in proc.stderr
    assert 'HEAVY []' in proc.stderr, proc.stderr
    assert seconds < MAX_SECONDS


@pytest.mark.parametrize('tool', [
    'tools/benchmarks/benchmark_lsconv.py',
    'tools/benchmarks/benchmark_clap_strip_mlp.py'
])
def test_tools_without_file_arguments_parse_first(tool):
    proc, _ = run_driver(tool, '--no-such-flag')
    assert proc.returncode == 2
    assert 'unrecognized arguments: --no-such-flag' in proc.stderr
    assert 'HEAVY []' in proc.stderr, proc.stderr


def test_help_is_immediate():
    proc, seconds = run_driver('tools/analysis_tools/get_flops.py', '--help')
    assert proc.returncode == 0 and '--cfg-options' in proc.stdout
    assert 'HEAVY []' in proc.stderr and seconds < MAX_SECONDS


# --------------------------------------------------------------------------
# crossdino/utils/cli.py
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def cli():
    from crossdino.utils import cli
    return cli


def test_cli_module_imports_the_standard_library_only():
    proc = subprocess.run(
        [PYTHON, '-c', 'import runpy, sys; '
         'runpy.run_path("crossdino/utils/cli.py"); '
         f'print(sorted(m for m in {HEAVY!r} if m in sys.modules))'],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == '[]', proc.stderr


def test_existing_file(cli, tmp_path):
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument('config', type=cli.existing_file('config file'))
    parser.add_argument('--resume', type=cli.existing_file(
        'checkpoint', keywords=('auto', )))
    parser.add_argument('--base', type=cli.existing_file(
        'config file', root=ROOT), default='configs/_base_/default_runtime.py')

    args = parser.parse_args([TINY_CFG, '--resume', 'auto'])
    assert args.config == TINY_CFG and args.resume == 'auto'
    # Repository-relative defaults resolve against the root, from any cwd.
    assert args.base == osp.join(ROOT, 'configs/_base_/default_runtime.py')

    with pytest.raises(argparse.ArgumentError,
                       match='checkpoint "x.pth" does not exist'):
        parser.parse_args([TINY_CFG, '--resume', 'x.pth'])
    with pytest.raises(argparse.ArgumentError, match='is a directory'):
        parser.parse_args([str(tmp_path)])


def test_lazy_dict_action_parses_like_mmengine(cli):
    from mmengine.config import DictAction
    argv = ['--cfg-options', 'a.b=1', 'c=[1,(2,3)]', 'd=x', 'e=False']
    ours = argparse.ArgumentParser()
    cli.add_cfg_options_arg(ours)
    theirs = argparse.ArgumentParser()
    theirs.add_argument('--cfg-options', nargs='+', action=DictAction)
    assert (ours.parse_args(argv).cfg_options ==
            theirs.parse_args(argv).cfg_options ==
            {'a.b': 1, 'c': [1, (2, 3)], 'd': 'x', 'e': False})
    assert ours.parse_args([]).cfg_options is None


def test_runner_args(cli, monkeypatch):
    """The arguments tools/train.py and tools/test.py share: --partial-load
    becomes the config key, a '+' key passes through, LOCAL_RANK is set."""
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    parser = argparse.ArgumentParser()
    cli.add_runner_args(parser)
    args = cli.parse_runner_args(parser, [
        '--work-dir', 'w', '--launcher', 'pytorch', '--local-rank', '3',
        '--partial-load', '--cfg-options', 'x=2', '+y.z=(1,2)'])
    assert (args.work_dir, args.launcher) == ('w', 'pytorch')
    assert args.cfg_options == {'x': 2, '+y.z': (1, 2), 'partial_load': True}
    assert os.environ['LOCAL_RANK'] == '3'
    assert cli.parse_runner_args(parser, []).cfg_options is None
