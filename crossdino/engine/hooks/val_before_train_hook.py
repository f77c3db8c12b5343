"""Evaluate the model once before the first training epoch."""
from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class ValBeforeTrainHook(Hook):
    """Run the validation loop before training starts (not after a resume).

    Gives the starting point of the learning curve, e.g. the untrained demo
    model's mAP, in the same log and ``scalars.json`` as the later epochs.
    The loop is announced first, since its first progress line
    (``EvalProgressHook``) comes only after a share of the batches.
    """

    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        if runner.iter == 0 and runner.val_loop is not None:
            runner.logger.info(
                'Validating the model before training: '
                f'{len(runner.val_dataloader)} iterations')
            runner.val_loop.run()
