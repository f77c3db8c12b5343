from .resumable_batch_sampler import ResumableBatchSampler
from .sample_seeded_dataset import SampleSeededDataset, sample_random_state
from .worker_signals import WorkerSignalGuard, guard_worker_signals

__all__ = [
    'ResumableBatchSampler', 'SampleSeededDataset', 'sample_random_state',
    'WorkerSignalGuard', 'guard_worker_signals'
]
