from .resumable_epoch_loop import ResumableEpochBasedTrainLoop
from .stop_signals import StopSignals

__all__ = ['ResumableEpochBasedTrainLoop', 'StopSignals']
