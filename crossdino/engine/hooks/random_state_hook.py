"""Checkpoint the random number generators so that resume is exact.

mmengine's ``resume`` restores weights, optimiser, schedulers and the message
hub, but not the generators: a resumed run re-seeds them at start-up, so
random augmentations, DINO's denoising noise, dropout and drop-path draw other
numbers than the uninterrupted run would have, and the two runs end with
different weights.
"""
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmdet.registry import HOOKS


def get_rng_state() -> dict:
    """States of the Python, numpy, torch (and CUDA) generators."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save every rank's RNG states in checkpoints and restore them on resume.

    The states are captured when the checkpoint is written (end of a training
    epoch, or of an iteration for iteration-based checkpoints, or when
    :class:`~crossdino.engine.loops.ResumableEpochBasedTrainLoop` saves on
    SIGINT/SIGTERM) and stored under ``checkpoint['rng_states']``, one entry
    per rank. Validation runs between a save and the next training step, so
    the hook also shelters the training streams from it: the generators are
    put back after each validation, and training draws the same numbers
    whether or how often it validates.

    On resume the states are applied in ``before_train``, not when the
    checkpoint is loaded: ``Runner.resume`` re-seeds the generators after
    loading when the config's seed differs from the checkpoint's (always so
    with ``randomness.seed=None``), which would overwrite them.

    These are the main process's streams: the model's (DINO's denoising
    noise, dropout, drop-path). The data pipeline's randomness is made
    resumable by :class:`~crossdino.engine.data.SampleSeededDataset`, which
    the resumable loop puts around the training set; with mmengine's
    ``EpochBasedTrainLoop`` exactness holds only for resumes at epoch ends with
    ``num_workers=0`` or non-persistent workers.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves

    def __init__(self) -> None:
        self._states: Optional[List[dict]] = None
        self._resumed: Optional[dict] = None
        self._before_val: Optional[dict] = None

    def capture(self) -> None:
        """Gather every rank's current states for the next checkpoint.

        A collective call: every rank must make it (only rank 0 writes
        checkpoints, and it needs all ranks' states).
        """
        state = get_rng_state()
        self._states = (all_gather_object(state)
                        if get_world_size() > 1 else [state])

    def _checkpoint_due(self, runner, batch_idx: Optional[int]) -> bool:
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        if not hooks:
            return False
        hook = hooks[0]
        if batch_idx is None:  # end of an epoch
            return hook.by_epoch and (
                self.every_n_epochs(runner, hook.interval)
                or self.is_last_train_epoch(runner))
        return not hook.by_epoch and (
            self.every_n_train_iters(runner, hook.interval)
            or self.is_last_train_iter(runner))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._checkpoint_due(runner, batch_idx):
            self.capture()

    def after_train_epoch(self, runner) -> None:
        if self._checkpoint_due(runner, None):
            self.capture()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # Saves that the hook did not foresee (e.g. save_last) still get the
        # current state; only rank 0 writes, so that is rank 0's alone.
        checkpoint['rng_states'] = self._states or [get_rng_state()]
        self._states = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('rng_states')
        # `load_from` (fine-tuning, testing) starts fresh streams.
        if not states or not runner._resume:
            return
        if len(states) != get_world_size():
            runner.logger.warning(
                f'The checkpoint holds RNG states of {len(states)} process(es) '
                f'but {get_world_size()} are running; random streams are not '
                'restored and the resumed run will not repeat the original.')
            return
        self._resumed = states[get_rank()]

    def before_train(self, runner) -> None:
        if self._resumed is not None:
            set_rng_state(self._resumed)
            self._resumed = None

    def before_val(self, runner) -> None:
        self._before_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_state(self._before_val)
            self._before_val = None
