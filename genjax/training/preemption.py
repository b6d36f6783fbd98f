"""Stopping a run cleanly when it is told to: the signal a preemptible VM, Slurm's time limit and
``timeout`` send (SIGTERM), and Ctrl-C (SIGINT).

``fit`` asks :meth:`StopRequest.requested` after every compiled call; on a yes it checkpoints that
step and raises :class:`Preempted`, so a rerun of the same command resumes there. One process
watches the signals itself. Several processes must stop at the same step, so they use JAX's
preemption sync point instead: its notifier catches SIGTERM on any process and every process
reaches the sync point after the same call (``jax.experimental.multihost_utils``).
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from typing import Any, Optional

import jax

__all__ = ["Preempted", "StopRequest", "PREEMPTED_EXIT_STATUS"]

PREEMPTED_EXIT_STATUS = 75
"""The exit status the command line gives a preempted run: ``EX_TEMPFAIL``, "try again", which
neither a failure (1), bad input (2) nor a kill by signal (128 + n) uses."""


class Preempted(Exception):
    """Training stopped on request after checkpointing ``step`` (of ``num_steps``) in
    ``checkpoints``."""

    def __init__(self, step: int, num_steps: int, checkpoints: str):
        self.step, self.num_steps, self.checkpoints = step, num_steps, checkpoints
        super().__init__(
            f"stopped on request at step {step} of {num_steps}, checkpointed in {checkpoints}; "
            "rerun the same command to resume from it"
        )


class StopRequest:
    """``with StopRequest(enabled) as stop: ... stop.requested()`` after every compiled call.

    One process: SIGTERM and SIGINT handlers for the block (installed from the main thread only,
    where Python delivers signals; the previous handlers come back on exit). The first signal asks
    to stop; a second SIGINT interrupts at once (``KeyboardInterrupt``).

    Several processes: JAX's preemption notifier (started by ``jax.distributed.initialize``) catches
    SIGTERM in C++ on whichever process gets it, and the processes agree through the coordination
    service on one call to stop after: the one after the furthest any of them had reached
    (``multihost_utils.reached_preemption_sync_point``). Its counter is the number of calls this
    block has asked about, 1, 2, 3, ..., the same on every process whatever the step, the resumed
    start or the steps per call. SIGINT is forwarded to that notifier as a SIGTERM to this process.
    Without JAX's preemption service (``jax_enable_preemption_service`` off) nothing is installed
    and a warning says so.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.received: Optional[int] = None
        self.calls = 0
        self._synced = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def _forward(self, signum: int, frame) -> None:
        if self.received == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        os.kill(os.getpid(), signal.SIGTERM)  # JAX's notifier (a C++ handler) takes it from here

    def __enter__(self) -> "StopRequest":
        self.calls = 0
        if not self.enabled:
            return self
        if jax.process_count() == 1:
            handlers = {signum: self._handle for signum in self.SIGNALS}
        else:
            from jax.experimental import multihost_utils

            try:
                multihost_utils.reached_preemption_sync_point(0)  # the counter's start; no stop yet
            except RuntimeError as err:  # the preemption service is off
                message = f"fit cannot stop cleanly on SIGTERM in this multi-process run: {err}"
                warnings.warn(message, stacklevel=2)
                return self
            self._synced = True
            handlers = {signal.SIGINT: self._forward}
        if threading.current_thread() is threading.main_thread():
            for signum, handler in handlers.items():
                self._previous[signum] = signal.signal(signum, handler)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def requested(self) -> bool:
        """Whether to stop after the call just made. In several processes a collective decision:
        every process must ask once after each call."""
        self.calls += 1
        if self._synced:
            from jax.experimental import multihost_utils

            return bool(multihost_utils.reached_preemption_sync_point(self.calls))
        return self.received is not None
