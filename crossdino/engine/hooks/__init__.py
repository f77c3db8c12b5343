from .random_state_hook import RandomStateHook
from .val_before_train_hook import ValBeforeTrainHook

__all__ = ['RandomStateHook', 'ValBeforeTrainHook']
