"""SIGINT / SIGTERM as a request to stop training at the next safe point.

Python's defaults end training wherever it is: SIGINT raises
KeyboardInterrupt in the middle of a forward pass or a checkpoint write, and
SIGTERM (SLURM preemption, ``scancel``, a Kubernetes eviction) kills the
process outright. Both lose everything since the last epoch checkpoint.
:class:`StopSignals` only records the signal; the training loop polls it after
each iteration and each validation, saves a resumable checkpoint and exits
with ``128 + signal`` (130 for SIGINT, 143 for SIGTERM, the shell's
convention).

A second signal while the first is being handled is ignored: torchrun
forwards to its workers the SIGINT that the terminal already sent them, so
duplicates are normal. SIGKILL (or SIGQUIT) still stops a process at once.
The time allowed for the save is the sender's: SLURM's ``KillWait`` / the
partition's ``GraceTime``, torchrun's ``--shutdown-timeout`` (30 s, or
``TORCH_ELASTIC_SHUTDOWN_TIMEOUT``) after it forwards a signal.
"""
import os
import signal
import threading
from typing import Dict, Optional, Sequence

DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager that turns ``signals`` into a stop request.

    Handlers are installed on entry (main thread only; elsewhere Python does
    not deliver signals and nothing is installed) and the previous ones are
    restored on exit.

    Args:
        signals: The signals to catch.
        announce: Print one line to stderr when the first signal arrives
            (the main process of a run; other ranks stay quiet).
    """

    def __init__(self,
                 signals: Sequence[int] = DEFAULT_SIGNALS,
                 announce: bool = True) -> None:
        self.signals = tuple(signals)
        self.announce = announce
        self.received: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None:
            return
        self.received = signum
        if self.announce:
            # os.write, not logging: a handler may interrupt a log call.
            os.write(2, (f'\n{signal.Signals(signum).name} received: training '
                         'stops after the current iteration (or validation) '
                         'and saves a checkpoint to resume from.\n').encode())

    def __enter__(self) -> 'StopSignals':
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
