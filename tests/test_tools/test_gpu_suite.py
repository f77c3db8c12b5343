"""The GPU suite's own test: every section runs on the CPU with shrunk
shapes (``--smoke``) and reports numbers (issue 18). The DDP section is
covered by test_train_test.py's dist_train.sh tests and skipped here."""
import json
import math

import pytest

from tests.conftest import load_tool

suite = load_tool('tools/benchmarks/gpu_suite.py')


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_suite')
    assert suite.main(['--smoke', '--out', str(out), '--skip', 'ddp',
                       '--device', 'cpu']) == 0
    with open(out / 'gpu_suite.json') as f:
        return json.load(f), (out / 'gpu_suite.md').read_text()


def errors(value, path=''):
    """Every measurement recorded as an error, anywhere in the report."""
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in errors(v, f'{path}/{k}')]
    if isinstance(value, str) and value.startswith('error:'):
        return [f'{path}: {value}']
    return []


def test_every_section_reports(report):
    res, md = report
    assert res['smoke'] and res['device'] == 'cpu'
    sections = res['sections']
    assert list(sections) == [s for s in suite.SECTIONS if s != 'ddp']
    for name, sec in sections.items():
        assert 'error' not in sec, sec.get('error')
        assert f'## {name} (' in md
    # a failed measurement is recorded, not raised: none may be there
    assert errors(sections) == []


def test_models_train_in_fp32_and_bf16(report):
    rows = report[0]['sections']['models']['result']
    assert list(rows) == list(suite.MODELS)
    for name, row in rows.items():
        for key in ('loss_fp32', 'loss_bf16', 'train_fp32_s',
                    'train_bf16_s', 'infer_b1_s', 'infer_b1_bf16_s'):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key)
        # same weights and denoising noise: bf16 within a few percent
        assert row['loss_rel_diff_bf16'] < 0.1, name


def test_dense_section_counts_denoising_queries(report):
    res = report[0]['sections']['dense']['result']
    # DINO's dynamic groups: max(1, 100 // gts) groups of 2 x gts queries,
    # plus the 20 matching queries of the smoke run
    assert res['dn unbounded']['decoder_queries'] == 2 * 200 * 1 + 20
    assert res['dn max_gts_per_image=50']['decoder_queries'] == \
        2 * 50 * 2 + 20
    assert res['encoder num_cp=6']['decoder_queries'] == \
        res['encoder plain']['decoder_queries']


def test_vicrop_and_syncs_sections(report):
    sec = report[0]['sections']
    vicrop = sec['vicrop']['result']
    assert vicrop['vicrop budget=1.0']['crops'] >= 1
    assert vicrop['vicrop budget=1.0']['latency_s'] > 0
    enact = sec['enact']['result']
    assert len(enact) == 3  # fair base, ENACT, ENACT with max_clusters=1.0
    for row in enact.values():
        assert row['step_s'] > 0 and row['decoder_queries'] == 20
        assert 0 < row['saved_attn_mib'] < row['saved_total_mib']
    syncs = sec['syncs']['result']
    assert set(suite.MODELS) | {
        'ENACT-DETR-R50', 'ENACT-DETR-R50 max_clusters=1.0', 'method'
    } == set(syncs)
    # the static-shape mode drops ENACT's one read of the cluster count
    # per encoder layer (6 layers) from the predict pass
    enact = syncs['ENACT-DETR-R50']['predict']['sites']
    static = syncs['ENACT-DETR-R50 max_clusters=1.0']['predict']['sites']
    assert sum(v for k, v in enact.items() if 'enact_attention' in k) == 6
    assert not any('enact_attention' in k for k in static)
    for name in suite.MODELS:
        for mode in ('predict', 'loss'):
            row = syncs[name][mode]
            assert 0 <= row['crossdino'] <= row['total']


def test_bad_section_is_rejected(capsys):
    with pytest.raises(SystemExit):
        suite.parse_args(['--out', 'x', '--sections', 'nope'])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
