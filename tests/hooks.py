"""Hooks used by the tests only."""
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
