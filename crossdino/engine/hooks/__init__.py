from .random_state_hook import RandomStateHook
from .val_before_train_hook import ValBeforeTrainHook

__all__ = ['RandomStateHook', 'ValBeforeTrainHook']

from .eval_progress_hook import EvalProgressHook  # noqa: E402

__all__ += ['EvalProgressHook']
