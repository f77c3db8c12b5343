from .hooks import RandomStateHook, ValBeforeTrainHook

__all__ = ['RandomStateHook', 'ValBeforeTrainHook']
