"""Process-group set-up on machines without a GPU, and teardown everywhere.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` before
``init_process_group`` and wraps the model in DDP with
``device_ids=[LOCAL_RANK]``; both fail on a CPU-only host. On such hosts we
initialise the process group with the ``gloo`` backend ourselves (mmengine then
skips its own ``init_dist``) and ask for DDP without device ids. With a GPU,
nothing changes.

Neither mmengine nor the tools used to destroy the process group, and
``destroy_process_group`` alone does not stop gloo: it drops the group from
torch's registry, but the DDP model's reducer still holds it, and its threads
(``pt_gloo_runloop``, ``gloo_tcp_loop``) run until the model is freed, which
happened during interpreter finalization. Tearing the group down there, with
work objects that hold tensors, let a C++ thread reach for the GIL of a dying
interpreter: "terminate called without an active exception", SIGABRT, exit
status 1 from torchrun, in about one successful 2-process CPU run in eight to
twenty. :func:`process_group_teardown` therefore meets the other ranks at a
barrier, destroys the group and then frees the Runner (its persistent data
workers first, then a garbage collection: runner, loops and hooks form
reference cycles), so that the group's threads are joined while the
interpreter is still whole.
"""
import gc
import os
import traceback
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare ``cfg`` for multi-process CPU training/testing when needed.

    Args:
        cfg: The config that the Runner will be built from; edited in place.
        launcher: ``'none'``, ``'pytorch'`` or ``'slurm'`` (``tools/train.py
            --launcher``).

    Returns:
        True if a gloo process group was set up for a CPU run.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher == 'slurm':
        # SLURM's environment names the tasks; torchrun's does the rest.
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            raise RuntimeError(
                'CPU runs under SLURM need MASTER_ADDR, the host name of the '
                'first node of the allocation (e.g. export MASTER_ADDR=$(scontrol '
                'show hostnames $SLURM_JOB_NODELIST | head -n1)).')
    elif launcher != 'pytorch':
        raise ValueError(f'launcher "{launcher}" is not supported on a host '
                         'without CUDA; use --launcher pytorch (torchrun)')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper['device_ids'] = None  # a CPU module must not name devices
    cfg.model_wrapper_cfg = wrapper
    return True


def destroy_process_group(barrier: bool = True) -> None:
    """Destroy the default process group, if any.

    Args:
        barrier: Wait for every rank first, so that no rank tears its end of
            the connections down while another still uses them. Only for a
            clean finish: after an error the other ranks may never arrive.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if barrier:
        dist.barrier()
    dist.destroy_process_group()


def _stop_persistent_workers(dataloader) -> None:
    """Stop a DataLoader's persistent workers while its queues are alive.

    A persistent DataLoader keeps its worker pool in ``_iterator``. Freed by
    the garbage collector together with the Runner's reference cycles, the
    pool's queues are finalised before the iterator's ``__del__`` sends the
    workers their stop message, and each worker then costs a 5 s join timeout.
    torch has no public call for this; ``_shutdown_workers`` is what
    ``__del__`` runs.
    """
    iterator = getattr(dataloader, '_iterator', None)
    if iterator is not None:
        dataloader._iterator = None
        if hasattr(iterator, '_shutdown_workers'):
            iterator._shutdown_workers()


class RunnerTeardown:
    """What :func:`process_group_teardown` yields: it holds the Runner."""

    def __init__(self) -> None:
        self.runner = None

    def track(self, runner):
        """Hold ``runner`` (returned) so that the teardown can free it."""
        self.runner = runner
        return runner

    def release(self) -> None:
        """Stop the loops' data workers and drop the Runner."""
        from mmengine.runner import BaseLoop
        runner, self.runner = self.runner, None
        for name in ('_train_loop', '_val_loop', '_test_loop'):
            loop = getattr(runner, name, None)  # built loops only
            if isinstance(loop, BaseLoop):
                _stop_persistent_workers(getattr(loop, 'dataloader', None))
        del runner
        gc.collect()  # runner, loops and hooks reference each other


@contextmanager
def process_group_teardown() -> Iterator[RunnerTeardown]:
    """Destroy the process group and free the Runner when the block ends.

    Usage (``tools/train.py``, ``tools/test.py``)::

        with process_group_teardown() as teardown:
            teardown.track(build_runner(cfg, launcher)).train()

    On success the ranks meet at a barrier, then the group is destroyed; on an
    exception (including the ``SystemExit`` of a training run stopped by
    SIGINT / SIGTERM, whose ranks already agreed to stop) it is destroyed at
    once and the exception propagates. Either way the Runner, and with it the
    DDP model that holds the group, is freed before the block is left, so the
    group's threads end while the interpreter is whole (module docstring).
    """
    teardown = RunnerTeardown()
    try:
        yield teardown
    except BaseException as exc:
        # The traceback's finished frames still reference the Runner.
        traceback.clear_frames(exc.__traceback__)
        destroy_process_group(barrier=False)
        teardown.release()
        raise
    destroy_process_group(barrier=True)
    teardown.release()
