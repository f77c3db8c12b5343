"""Hooks used by the tests only."""
import os
import signal

from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class InterruptTrainingHook(Hook):
    """Abort training after ``at_iter`` iterations, like a killed job."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 >= self.at_iter:
            raise SystemExit(f'interrupted after iteration {runner.iter + 1}')


@HOOKS.register_module()
class SendSignalHook(Hook):
    """Send ``signum`` to this process at the end of iteration ``at_iter``.

    A deterministic stand-in for Ctrl-C or SLURM's SIGTERM arriving while the
    iteration runs: the loop must still finish it, then save and exit.
    """

    def __init__(self, at_iter: int, signum: str = 'SIGTERM') -> None:
        self.at_iter = at_iter
        self.signum = getattr(signal, signum)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), self.signum)
