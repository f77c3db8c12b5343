"""Keep data-loader workers alive while the main process saves and stops.

Ctrl-C sends SIGINT to the whole foreground process group, and SLURM sends
SIGTERM to every process of a job step, data-loader workers included. A worker
that dies of it makes torch's SIGCHLD handler raise "DataLoader worker exited
unexpectedly" in the main process at whatever line it is executing, and the
graceful stop of :class:`~crossdino.engine.loops.ResumableEpochBasedTrainLoop`
(finish the iteration, save, exit) would fail half-way. The workers are the
main process's to stop, so in them:

* SIGINT is ignored;
* SIGTERM is ignored until the main process starts to exit. torch's own
  worker handler tells a SIGTERM of the parent (a clean shutdown) from
  others by the sender's pid, which a Python handler cannot see; instead the
  main process raises a shared flag from an ``atexit`` handler that runs
  before :mod:`multiprocessing` terminates its daemonic children, and only
  then does SIGTERM end the worker. Workers of a dead parent still exit
  through torch's watchdog.
"""
import atexit
import multiprocessing.util  # noqa: F401  (its atexit handler must be registered first)
import os
import signal
from multiprocessing.sharedctypes import RawValue
from typing import Callable, Optional

_EXITING = None  # the flag of this (main) process, created on first use


def _mark_exiting() -> None:
    if _EXITING is not None:
        _EXITING.value = 1


def _exiting_flag():
    """The process-wide flag, raised when this process starts to exit."""
    global _EXITING
    if _EXITING is None:
        _EXITING = RawValue('b', 0)
        # atexit runs handlers last-registered first: this one runs before
        # multiprocessing's, which terminates (SIGTERM) and joins the workers.
        atexit.register(_mark_exiting)
    return _EXITING


class WorkerSignalGuard:
    """``worker_init_fn`` that applies the worker signal policy, then ``fn``.

    Args:
        worker_init_fn: The loader's previous ``worker_init_fn`` (mmengine's
            seeding), called after the handlers are installed.
    """

    def __init__(self, worker_init_fn: Optional[Callable] = None) -> None:
        self.worker_init_fn = worker_init_fn
        self.parent_exiting = _exiting_flag()

    def __call__(self, worker_id: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)

    def _on_sigterm(self, signum, frame) -> None:
        if self.parent_exiting.value:
            os._exit(0)  # what torch's handler does for its parent's SIGTERM


def guard_worker_signals(dataloader) -> None:
    """Install :class:`WorkerSignalGuard` on a DataLoader (idempotent).

    Must run before the loader's workers start (its first ``iter()``).
    """
    if dataloader is None or getattr(dataloader, 'num_workers', 0) == 0:
        return
    if not isinstance(dataloader.worker_init_fn, WorkerSignalGuard):
        dataloader.worker_init_fn = WorkerSignalGuard(dataloader.worker_init_fn)
