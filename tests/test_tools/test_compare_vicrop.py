"""tools/analysis_tools/acs_free_heads.py and
tools/benchmarks/compare_vicrop.py end to end on the tiny DINO, and the
tables' arithmetic by hand."""
import json
import math

import pytest
import torch

from tests.conftest import TINY_CFG, data_root_options, format_cfg_options


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    import copy

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    cfg.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def test_heads_then_compare(tiny_ckpt, synthetic_root, tmp_path, capsys):
    from tools.analysis_tools.acs_free_heads import main as heads_main
    from tools.benchmarks.compare_vicrop import main as compare_main
    opts = format_cfg_options(data_root_options(synthetic_root))
    heads = str(tmp_path / 'heads.json')
    heads_main([TINY_CFG, tiny_ckpt, '--split', 'train', '--num-images', '2',
                '--num-heads', '2', '--out', heads, '--cfg-options', *opts])
    chosen = json.load(open(heads))
    assert len(chosen['heads']) == 2 and chosen['split'] == 'train'
    n_layers, n_heads = 2, 8  # the tiny DINO's decoder
    assert len(chosen['rho']) == n_layers * n_heads
    rho = torch.tensor(chosen['rho'])
    flat = [l * n_heads + h for l, h in chosen['heads']]
    assert rho[flat].tolist() == rho.sort()[0][:2].tolist()  # most negative
    out = str(tmp_path / 'table.md')
    compare_main([TINY_CFG, tiny_ckpt, tiny_ckpt, '--rows', 'uniform',
                  'oracle', 'vicrop-acs', '--budgets', '1', '--num-images',
                  '2', '--acs-heads', heads, '--set', 'min_mass_ratio=0',
                  '--out', out, '--cfg-options', *opts])
    table = open(out).read()
    for row in ('| plain | - |', '| nms | - |', '| uniform | 1.0 |',
                '| oracle | 1.0 |', '| vicrop-acs | 1.0 | uniform |',
                'ACS-Free box choice'):
        assert row in table
    results = json.load(open(tmp_path / 'table.json'))
    assert len(results) == 2 * 5  # 2 checkpoints x (plain, nms, 3 rows)
    for r in results:
        if r['budget'] is not None:
            assert 0 < r['px'] <= 1.0 + 1e-9  # the budget holds
            assert r['missed'] > 0 and 0 <= r['coverage'] <= 1
    oracle = [r for r in results if r['row'] == 'oracle'][0]
    uniform = [r for r in results if r['row'] == 'uniform'][0]
    assert oracle['coverage'] >= uniform['coverage']


def test_tables_by_hand():
    from tools.benchmarks.compare_vicrop import paired_table, summary_table

    def res(row, ckpt, ap_vt, cover):
        return dict(row=row, budget=1.0, ckpt=ckpt, px=1.0, ratio=2.0,
                    coverage=cover, acs=None,
                    metrics=dict(bbox_AP_vt=ap_vt, bbox_AP_t=0.0,
                                 bbox_mAP=0.1, bbox_mAP_50=0.2))

    results = [res('uniform', 'a', 0.01, 0.1), res('uniform', 'b', 0.03, 0.2),
               res('vicrop-sae', 'a', 0.02, 0.3),
               res('vicrop-sae', 'b', 0.05, 0.2)]
    summary = summary_table(results, 2)
    row = '| uniform | 1.0 | 1.00 | 0.150 ± 0.071 | 2.00 | 0.0200 ± 0.0141'
    assert row in summary
    paired = paired_table(results, bases=('uniform', ))
    # differences 0.01, 0.02: mean 0.015, std 0.00707, t(1) = 12.706
    half = 12.706 * (0.5**0.5 * 0.01) / math.sqrt(2)
    assert f'+0.0150 [{0.015 - half:+.4f}, {0.015 + half:+.4f}]' in paired
    assert '| vicrop-sae | 1.0 | uniform |' in paired
