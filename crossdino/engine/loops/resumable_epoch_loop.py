"""An epoch-based training loop that stops on signals and resumes mid-epoch.

mmengine's ``EpochBasedTrainLoop`` saves at epoch ends only, dies on Ctrl-C
or SLURM's SIGTERM without saving, and on resume restarts the epoch from its
first batch, so an interruption costs up to a whole epoch and the resumed run
trains batches twice. :class:`ResumableEpochBasedTrainLoop` is a drop-in
replacement (same arguments; ``configs/_base_/schedules/adamw_12e.py`` selects
it) that:

1. turns SIGINT / SIGTERM into a stop after the current iteration
   (:class:`StopSignals`; with several processes the ranks agree on the
   iteration with a max-all-reduce of the received signal), saves a
   resumable checkpoint (weights, optimizer, schedulers, message hub, every
   rank's RNG states through :class:`RandomStateHook`, and the position
   inside the epoch), points ``last_checkpoint`` at it, logs where it is and
   exits with ``128 + signal`` (130 / 143);
2. on ``--resume`` skips the batches of the interrupted epoch that were
   already trained, without loading them (:class:`ResumableBatchSampler`);
3. makes the data pipeline's randomness a function of (seed, epoch, sample
   index) (:class:`SampleSeededDataset`), so that skipping batches, the
   number of workers and their persistence change nothing;
4. shelters the model's random streams from the data loader: creating an
   iterator draws a base seed from the global torch generator, which a
   resumed run does at a different point of the stream than the original.

Together with :class:`RandomStateHook` a run interrupted anywhere and resumed
ends with weights bit-identical to an uninterrupted one (tested with
``num_workers=0`` and with 2 persistent workers and validation every epoch;
checked by hand for 2 processes under torchrun, SIGINT sent to the whole
process group as Ctrl-C does, and for ``mp_start_method='spawn'``).

The position inside the epoch is kept in the message hub (``iter_in_epoch``,
saved in every checkpoint): the number of batches of epoch ``meta['epoch']``
that the checkpoint's weights have seen. It is 0 for epoch-end checkpoints and
the iteration count for iteration-based ones (``CheckpointHook(by_epoch=
False)``), which therefore resume mid-epoch too.
"""
import copy
import os.path as osp
import signal
from contextlib import contextmanager, nullcontext
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.fileio import join_path
from mmengine.hooks import CheckpointHook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from mmdet.registry import LOOPS
from ..data.resumable_batch_sampler import ResumableBatchSampler
from ..data.sample_seeded_dataset import SampleSeededDataset
from ..data.worker_signals import guard_worker_signals
from ..hooks.random_state_hook import (RandomStateHook, get_rng_state,
                                       set_rng_state)
from .stop_signals import StopSignals

#: Message-hub keys (runtime info, saved with every checkpoint).
ITER_IN_EPOCH = 'iter_in_epoch'
ITERS_PER_EPOCH = 'iters_per_epoch'


@contextmanager
def _rng_untouched() -> Iterator[None]:
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def _is_type(cfg, cls: type) -> bool:
    return isinstance(cfg, dict) and cfg.get('type') in (cls.__name__, cls)


def _find_dataset(dataset, cls: type):
    """``dataset`` or the ``cls`` inside mmengine's ``_SlicedDataset``."""
    while dataset is not None and not isinstance(dataset, cls):
        dataset = getattr(dataset, '__dict__', {}).get('_dataset')
    return dataset


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` with graceful stops and exact mid-epoch resume.

    Arguments are those of ``EpochBasedTrainLoop``. A data loader given as a
    config (the normal case) gets its dataset wrapped in
    :class:`SampleSeededDataset` and its batch sampler (or torch's default
    one) in :class:`ResumableBatchSampler`; an already built ``DataLoader``
    is used as it is, and then cannot resume mid-epoch.
    """

    def __init__(
            self,
            runner,
            dataloader: Union[DataLoader, Dict],
            max_epochs: int,
            val_begin: int = 1,
            val_interval: int = 1,
            dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        if isinstance(dataloader, dict):
            dataloader = self.resumable_loader_cfg(dataloader)
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        self._seeded = _find_dataset(self.dataloader.dataset,
                                     SampleSeededDataset)
        batch_sampler = self.dataloader.batch_sampler
        self._batch_sampler = (batch_sampler if isinstance(
            batch_sampler, ResumableBatchSampler) else None)
        guard_worker_signals(self.dataloader)
        self._signals = StopSignals(announce=is_main_process())
        self._resume_at = 0

    @staticmethod
    def resumable_loader_cfg(cfg: dict) -> dict:
        """A copy of a data-loader config with the two resumable wrappers."""
        cfg = copy.deepcopy(cfg)
        if (isinstance(cfg.get('dataset'), dict)
                and not _is_type(cfg['dataset'], SampleSeededDataset)):
            cfg['dataset'] = dict(
                type=SampleSeededDataset.__name__, dataset=cfg['dataset'])
        batch_sampler = cfg.get('batch_sampler')
        if not _is_type(batch_sampler, ResumableBatchSampler) and (
                batch_sampler is None or isinstance(batch_sampler, dict)):
            wrapper = dict(
                type=ResumableBatchSampler.__name__,
                batch_sampler=batch_sampler)
            if batch_sampler is None:
                # DataLoader refuses drop_last next to a batch sampler.
                wrapper['drop_last'] = cfg.pop('drop_last', False)
            cfg['batch_sampler'] = wrapper
        return cfg

    def run(self) -> torch.nn.Module:
        """Train to ``max_epochs``, or save and exit on SIGINT / SIGTERM."""
        runner = self.runner
        if self._seeded is not None:
            # After `Runner.resume`, which adopts the checkpoint's seed.
            self._seeded.set_seed(runner.seed)
        else:
            runner.logger.warning(
                'The training set is not a SampleSeededDataset (the loop got a '
                'built DataLoader): a resumed run will not repeat the data '
                'augmentation of the original.')
        if not any(isinstance(h, RandomStateHook) for h in runner.hooks):
            runner.logger.warning(
                'No RandomStateHook in custom_hooks: checkpoints hold no RNG '
                'states and a resumed run will not repeat the original.')
        if runner.val_loop is not None:
            guard_worker_signals(runner.val_loop.dataloader)
        self._resume_at = self._resume_position()

        with self._signals:
            runner.call_hook('before_train')
            self._stop_if_requested()
            while self._epoch < self._max_epochs and not self.stop_training:
                self.run_epoch()
                self._decide_current_val_interval()
                if (runner.val_loop is not None
                        and self._epoch >= self.val_begin
                        and (self._epoch % self.val_interval == 0
                             or self._epoch == self._max_epochs)):
                    runner.val_loop.run()
                self._stop_if_requested()
            runner.call_hook('after_train')
        return runner.model

    def run_epoch(self) -> None:
        """One epoch, or its rest when resuming inside it."""
        runner = self.runner
        runner.call_hook('before_train_epoch')
        runner.model.train()
        start, self._resume_at = self._resume_at, 0
        if self._seeded is not None:
            # Before the iterator exists: persistent workers read it from
            # shared memory for every sample of this epoch.
            self._seeded.set_epoch(self._epoch)
        runner.message_hub.update_info(ITER_IN_EPOCH, start)
        if start < len(self.dataloader):
            # The iterator draws its base seed from the global torch
            # generator; the resumed run creates it at another point of the
            # model's stream than the original did.
            with _rng_untouched(), self._skipping(start):
                batches = iter(self.dataloader)
            for idx, data_batch in enumerate(batches, start):
                # Set first, so that checkpoints saved by after_train_iter
                # hooks record this batch as trained.
                runner.message_hub.update_info(ITER_IN_EPOCH, idx + 1)
                self.run_iter(idx, data_batch)
                self._stop_if_requested()
        runner.message_hub.update_info(ITER_IN_EPOCH, 0)
        runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _skipping(self, num_batches: int):
        if self._batch_sampler is None:  # only reached with num_batches 0
            return nullcontext()
        return self._batch_sampler.skipping(num_batches)

    def _resume_position(self) -> int:
        """Batches of the current epoch trained before a resume (0 if none)."""
        hub = self.runner.message_hub
        position = hub.get_info(ITER_IN_EPOCH) or 0
        recorded = hub.get_info(ITERS_PER_EPOCH)
        per_epoch = len(self.dataloader)
        hub.update_info(ITERS_PER_EPOCH, per_epoch)
        if not position:
            return 0
        where = (f'The checkpoint was saved after iteration {position} of '
                 f'epoch {self._epoch + 1}')
        if self._batch_sampler is None:
            raise RuntimeError(
                f'{where}, but this loop cannot skip batches: its data loader '
                'was passed built, without a ResumableBatchSampler.')
        if recorded is not None and recorded != per_epoch:
            raise RuntimeError(
                f'{where} of {recorded} iterations; this run has {per_epoch} '
                'per epoch (batch size, number of processes or dataset '
                'changed), so the rest of that epoch is not defined. Resume '
                'with the original settings, or from an epoch checkpoint.')
        self.runner.logger.info(
            f'{where}: its first {position} of {per_epoch} batches are '
            'skipped without loading them.')
        return position

    def _stop_if_requested(self) -> None:
        """Save and exit if any rank received a stop signal."""
        signum = self._signals.received or 0
        if get_world_size() > 1:
            # Signals reach the ranks at different times; all must stop
            # after the same iteration.
            flag = torch.tensor([signum], dtype=torch.int64)
            all_reduce(flag, op='max')
            signum = int(flag.item())
        if signum:
            self._save_and_exit(signum)

    def _checkpoint_location(self) -> Tuple[str, Optional[dict]]:
        """Where CheckpointHook saves (its out_dir and backend), else work_dir."""
        for hook in self.runner.hooks:
            if isinstance(hook, CheckpointHook) and hook.out_dir is not None:
                return hook.out_dir, hook.backend_args
        return self.runner.work_dir, None

    def _save_and_exit(self, signum: int) -> None:
        runner = self.runner
        position = runner.message_hub.get_info(ITER_IN_EPOCH) or 0
        for hook in runner.hooks:
            if isinstance(hook, RandomStateHook):
                hook.capture()  # collective: every rank's streams
        out_dir, backend_args = self._checkpoint_location()
        filename = f'interrupted_epoch_{self._epoch + 1}_iter_{position}.pth'
        runner.save_checkpoint(  # rank 0 writes
            out_dir,
            filename,
            meta=dict(epoch=self._epoch, iter=self._iter),
            save_optimizer=True,
            save_param_scheduler=True,
            backend_args=backend_args)
        path = join_path(out_dir, filename, backend_args=backend_args)
        if is_main_process():
            # What `--resume` (mmengine's find_latest_checkpoint) reads.
            with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(path)
        barrier()  # nobody exits before the file is complete
        runner.logger.warning(
            f'{signal.Signals(signum).name}: stopped after iteration {position} of epoch '
            f'{self._epoch + 1} ({self._iter} in all); saved {path}. Run the '
            'same command with --resume (same work dir) to continue from it.')
        raise SystemExit(128 + signum)
