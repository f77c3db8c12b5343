"""End-to-end tests of tools/train.py, tools/test.py, resume and multi-process.

Each test runs the tools as a user would, in a fresh interpreter, on a tiny
synthetic VisDrone set (see conftest.py).
"""
import glob
import json
import os.path as osp
import pickle
import signal
from collections import Counter

import pytest
import torch

from tests.conftest import (PYTHON, ROOT, TINY_CFG, data_root_options,
                            format_cfg_options, make_visdrone_coco, run_tool)

CFG_DIR = osp.join(ROOT, 'tests', 'configs')


def train(cfg, work_dir, data_root, *extra, check=True, launcher=None):
    cmd = [PYTHON, 'tools/train.py', cfg, '--work-dir', str(work_dir)]
    cmd += list(extra)
    cmd += ['--cfg-options', *format_cfg_options(data_root_options(data_root))]
    return run_tool(cmd, check=check)


def load_state_dict(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """An uninterrupted 2-epoch run of the tiny config."""
    work_dir = tmp_path_factory.mktemp('trained')
    train(TINY_CFG, work_dir, synthetic_root)
    return work_dir


def test_train_writes_safe_checkpoints(trained):
    for epoch in (1, 2):
        path = osp.join(trained, f'epoch_{epoch}.pth')
        # weights_only=True: the torch >= 2.6 default that mmengine hits.
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        assert {'state_dict', 'optimizer', 'message_hub', 'meta',
                'rng_states'} <= set(ckpt)
        assert ckpt['meta']['epoch'] == epoch
        assert len(ckpt['rng_states']) == 1
    assert osp.isfile(osp.join(trained, 'last_checkpoint'))


def test_test_tool_evaluates_dumps_and_draws(trained, synthetic_root, tmp_path):
    out = tmp_path / 'results.pkl'
    proc = run_tool([
        PYTHON, 'tools/test.py', TINY_CFG,
        osp.join(trained, 'epoch_2.pth'), '--work-dir', str(tmp_path),
        '--out', str(out), '--show-dir', 'vis', '--cfg-options',
        *format_cfg_options(data_root_options(synthetic_root))
    ])
    log = proc.stdout + proc.stderr
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_AP_vt', 'bbox_AP_t'):
        assert key in log, key
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 2  # the two val images
    for res in results:
        boxes = res['pred_instances']['bboxes']
        assert boxes.shape[1] == 4 and 0 < len(boxes) <= 20
        assert (boxes[:, 2:] >= boxes[:, :2]).all()
    drawn = glob.glob(osp.join(tmp_path, '*', 'vis', '*.jpg'))
    assert len(drawn) == 2


def assert_same_weights(path, reference_path):
    resumed = load_state_dict(path)
    reference = load_state_dict(reference_path)
    assert resumed.keys() == reference.keys()
    different = [k for k in reference if not torch.equal(resumed[k], reference[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


def test_resume_continues_exactly(trained, synthetic_root, tmp_path):
    # Killed in the middle of epoch 2, after epoch_1.pth was written.
    proc = train(osp.join(CFG_DIR, 'dino_tiny_interrupted.py'), tmp_path,
                 synthetic_root, check=False)
    assert proc.returncode != 0
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    assert not osp.exists(tmp_path / 'epoch_2.pth')

    proc = train(TINY_CFG, tmp_path, synthetic_root, '--resume')
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    assert_same_weights(tmp_path / 'epoch_2.pth',
                        osp.join(trained, 'epoch_2.pth'))


def interrupt_and_resume(interrupted_cfg, resumed_cfg, work_dir, data_root,
                         checkpoint):
    """SIGTERM during a run, then ``--resume``; returns the resumed log."""
    proc = train(interrupted_cfg, work_dir, data_root, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 128 + signal.SIGTERM, log[-3000:]
    path = osp.join(work_dir, checkpoint)
    assert f'saved {path}' in log
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == path
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert {'state_dict', 'optimizer', 'param_schedulers', 'message_hub',
            'rng_states'} <= set(ckpt)

    proc = train(resumed_cfg, work_dir, data_root, '--resume')
    log = proc.stdout + proc.stderr
    assert f'Auto resumed from the latest checkpoint {path}' in log
    return log


def test_sigterm_saves_mid_epoch_and_resume_is_exact(trained, synthetic_root,
                                                     tmp_path):
    # SIGTERM during iteration 3, the first of epoch 2 (2 iterations/epoch):
    # the iteration finishes, the loop saves and exits 143.
    log = interrupt_and_resume(
        osp.join(CFG_DIR, 'dino_tiny_sigterm.py'), TINY_CFG, tmp_path,
        synthetic_root, 'interrupted_epoch_2_iter_1.pth')
    assert 'resumed epoch: 1, iter: 3' in log
    assert 'its first 1 of 2 batches are skipped' in log
    # Only the second batch of epoch 2 is trained again, not the first.
    assert 'Epoch(train) [2][1/2]' not in log
    assert 'Epoch(train) [2][2/2]' in log
    assert_same_weights(tmp_path / 'epoch_2.pth',
                        osp.join(trained, 'epoch_2.pth'))


def test_sigterm_with_persistent_workers_resumes_exactly(trained,
                                                         synthetic_root,
                                                         tmp_path):
    """The real configs' loaders: 2 persistent workers, val every epoch.

    Interrupted in the middle of epoch 1 and resumed, this run still ends
    bit-identical to the ``trained`` reference, which loads in the main
    process and validates once: the augmentation depends on (seed, epoch,
    sample index) only, and validation does not touch the training streams.
    """
    workers_cfg = osp.join(CFG_DIR, 'dino_tiny_workers.py')
    log = interrupt_and_resume(
        osp.join(CFG_DIR, 'dino_tiny_workers_sigterm.py'), workers_cfg,
        tmp_path, synthetic_root, 'interrupted_epoch_1_iter_1.pth')
    assert 'resumed epoch: 0, iter: 1' in log
    assert 'Epoch(train) [1][1/2]' not in log
    assert 'Epoch(val) [1][1/1]' in log and 'Epoch(val) [2][1/1]' in log
    assert_same_weights(tmp_path / 'epoch_2.pth',
                        osp.join(trained, 'epoch_2.pth'))


def test_resume_without_checkpoint_is_an_error(synthetic_root, tmp_path):
    work_dir = tmp_path / 'never_trained'
    proc = train(TINY_CFG, work_dir, synthetic_root, '--resume', check=False)
    assert proc.returncode != 0
    assert 'no checkpoint to resume from' in proc.stderr
    assert str(work_dir) in proc.stderr
    assert not osp.exists(work_dir)  # nothing was started


def test_two_processes_match_one(tmp_path):
    """2 processes x 1 image == 1 process x 2 images after one SGD step.

    Both images hold the same number of objects: mmdet's DINO pads the
    denoising queries of a batch to its largest ground-truth count and scores
    the padding slots as background, so with unequal counts a batch of 2 has
    loss terms that two batches of 1 do not.
    """
    synthetic_root = make_visdrone_coco(
        str(tmp_path / 'data'), num_train=2, num_val=1, objects_per_image=(6, 6))
    with open(osp.join(synthetic_root, 'annotations',
                       'visdrone2019-det-train.json')) as f:
        anns = json.load(f)['annotations']
    counts = Counter(a['image_id'] for a in anns if a['category_id'] > 0)
    assert list(counts.values()) == [6, 6]
    cfg = osp.join(CFG_DIR, 'dino_tiny_ddp.py')
    train(cfg, tmp_path / 'single', synthetic_root)
    # No PORT: torchrun's standalone rendezvous binds a free port itself
    # (emptied, in case the calling environment sets one).
    run_tool([
        'bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
        str(tmp_path / 'ddp'), '--cfg-options', 'train_dataloader.batch_size=1',
        *format_cfg_options(data_root_options(synthetic_root))
    ], env={'PYTHON': PYTHON, 'PORT': '', 'NNODES': ''})
    single = torch.load(tmp_path / 'single' / 'epoch_1.pth', weights_only=True)
    ddp = torch.load(tmp_path / 'ddp' / 'epoch_1.pth', weights_only=True)
    for key, value in single['state_dict'].items():
        torch.testing.assert_close(
            ddp['state_dict'][key], value, atol=1e-5, rtol=0,
            msg=lambda m: f'{key}: {m}')
    # After one SGD step the momentum buffers hold the (clipped) gradients:
    # compare them too, and make sure the step was not a no-op.
    bufs_single = [s['momentum_buffer'] for s in single['optimizer']['state'].values()]
    bufs_ddp = [s['momentum_buffer'] for s in ddp['optimizer']['state'].values()]
    assert len(bufs_single) == len(bufs_ddp) > 100
    for a, b in zip(bufs_single, bufs_ddp):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-4)
    assert sum(float(b.abs().sum()) for b in bufs_single) > 0


def test_missing_data_root_is_reported(tmp_path):
    missing = str(tmp_path / 'no_such_dataset')
    proc = train(TINY_CFG, tmp_path / 'work', missing, check=False)
    assert proc.returncode != 0
    assert 'no_such_dataset' in proc.stderr
    assert 'visdrone2coco.py' in proc.stderr


def test_corrupt_checkpoint_is_reported(trained, synthetic_root, tmp_path):
    with open(osp.join(trained, 'epoch_1.pth'), 'rb') as f:
        head = f.read(4096)
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(head)  # truncated, as by an interrupted copy
    proc = run_tool([
        PYTHON, 'tools/test.py', TINY_CFG, str(corrupt), '--work-dir',
        str(tmp_path), '--cfg-options',
        *format_cfg_options(data_root_options(synthetic_root))
    ], check=False)
    assert proc.returncode != 0
    assert 'corrupt.pth' in proc.stderr and 'corrupt or truncated' in proc.stderr
