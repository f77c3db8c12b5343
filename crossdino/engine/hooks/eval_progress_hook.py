"""Progress lines for validation and test loops."""
import math

from mmengine.hooks import Hook, LoggerHook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class EvalProgressHook(Hook):
    """Log a validation or test loop's progress a few times per loop.

    mmengine's ``LoggerHook`` logs a val/test iteration only when the
    iteration's index within the loop is a multiple of its ``interval`` (50
    in ``default_runtime.py``, 10 in the demo). A loop shorter than that,
    e.g. the demo's 8 validation batches, logs nothing until its metrics, so
    ``ValBeforeTrainHook``'s validation and ``tools/test.py`` run for tens of
    seconds on a CPU without a line. This hook logs ``num_logs`` lines per
    loop, at evenly spaced iterations (the last one included), in
    ``LoggerHook``'s format: ``Epoch(val) [1][4/8]  eta: 0:00:21  time: ...``.
    Iterations that ``LoggerHook`` logs itself are not logged twice.

    Args:
        num_logs (int): lines per loop. Defaults to 4.
    """

    priority = 'BELOW_NORMAL'  # after IterTimerHook has timed the iteration

    def __init__(self, num_logs: int = 4) -> None:
        if num_logs < 1:
            raise ValueError(f'num_logs must be >= 1, got {num_logs}')
        self.num_logs = num_logs

    def _due(self, runner, batch_idx: int, total: int) -> bool:
        done = batch_idx + 1
        if not any(done == math.ceil(total * k / self.num_logs)
                   for k in range(1, self.num_logs + 1)):
            return False
        return not any(
            isinstance(hook, LoggerHook)
            and self.every_n_inner_iters(batch_idx, hook.interval)
            for hook in runner.hooks)

    def _log(self, runner, batch_idx: int, mode: str) -> None:
        loader = runner.val_dataloader if mode == 'val' else \
            runner.test_dataloader
        if self._due(runner, batch_idx, len(loader)):
            _, log_str = runner.log_processor.get_log_after_iter(
                runner, batch_idx, mode)
            runner.logger.info(log_str)

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        self._log(runner, batch_idx, 'val')

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        self._log(runner, batch_idx, 'test')
