"""EvalProgressHook and ValBeforeTrainHook in a real mmengine Runner.

A toy model (two linear layers) keeps the runner to a fraction of a second;
what is checked is the log a user reads.
"""
import glob
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

import crossdino  # noqa: F401  (registers the hooks)
from crossdino.engine.hooks import EvalProgressHook


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=(out - torch.stack(data_samples)).abs().mean())
        return out


class ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)),
                    data_samples=torch.ones(1))


class ToyMetric(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        return dict(acc=len(results))


def loader():
    return DataLoader(ToyDataset(), batch_size=1, collate_fn=lambda b: dict(
        inputs=[x['inputs'] for x in b],
        data_samples=[x['data_samples'] for x in b]))


def run(tmp_path, logger_interval):
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        # Loggers are process-wide instances, one per experiment name.
        experiment_name=f'progress_{tmp_path.name}',
        default_scope='mmdet',
        train_dataloader=loader(),
        val_dataloader=loader(),
        test_dataloader=loader(),
        train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1),
        val_cfg=dict(),
        test_cfg=dict(),
        val_evaluator=[ToyMetric()],
        test_evaluator=[ToyMetric()],
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=logger_interval),
            checkpoint=None,
            progress=dict(type='EvalProgressHook', num_logs=4)),
        custom_hooks=[dict(type='ValBeforeTrainHook')])
    runner.train()
    runner.test()
    for handler in runner.logger.handlers:
        handler.close()
    (log, ) = glob.glob(osp.join(str(tmp_path), '*', '*.log'))
    with open(log) as f:
        return f.read()


def progress_lines(log, mode):
    return re.findall(rf'Epoch\({mode}\)\s*(?:\[(\d+)\])?\[\s*(\d+)/8\]\s+'
                      r'eta: \S+\s+time:', log)


def test_val_and_test_loops_log_a_few_progress_lines(tmp_path):
    log = run(tmp_path, logger_interval=50)  # never reached by 8 batches
    assert 'Validating the model before training: 8 iterations' in log
    # 4 lines per loop: before training (epoch 0), after epoch 1, the test.
    assert progress_lines(log, 'val') == [
        (epoch, i) for epoch in '01' for i in ('2', '4', '6', '8')]
    assert progress_lines(log, 'test') == [('', i) for i in '2468']


def test_iterations_logged_by_logger_hook_are_not_repeated(tmp_path):
    log = run(tmp_path, logger_interval=4)
    # LoggerHook logs 4 and 8; the progress hook adds 2 and 6.
    assert progress_lines(log, 'test') == [('', i) for i in '2468']


def test_num_logs_must_be_positive():
    with pytest.raises(ValueError, match='num_logs'):
        EvalProgressHook(num_logs=0)
