from .data import (ResumableBatchSampler, SampleSeededDataset,
                   WorkerSignalGuard, guard_worker_signals,
                   sample_random_state)
from .hooks import RandomStateHook, ValBeforeTrainHook
from .loops import ResumableEpochBasedTrainLoop, StopSignals

__all__ = [
    'RandomStateHook', 'ValBeforeTrainHook', 'ResumableEpochBasedTrainLoop',
    'StopSignals', 'ResumableBatchSampler', 'SampleSeededDataset',
    'WorkerSignalGuard', 'guard_worker_signals', 'sample_random_state'
]

from .hooks import EvalProgressHook  # noqa: E402

__all__ += ['EvalProgressHook']
