"""Stopping a run cleanly when it is told to: the signal a preemptible VM, Slurm's time limit and
``timeout`` send (SIGTERM), and Ctrl-C (SIGINT).

``fit`` asks :meth:`StopRequest.requested` after every compiled call; on a yes it checkpoints that
step and raises :class:`Preempted`, so a rerun of the same command resumes there. One process
watches the signals itself. Several processes must stop at the same step, so they use JAX's
preemption sync point instead: its notifier catches SIGTERM on any process and every process
reaches the sync point at the same step (``jax.experimental.multihost_utils``).
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Optional

import jax

__all__ = ["Preempted", "StopRequest", "PREEMPTED_EXIT_STATUS"]

PREEMPTED_EXIT_STATUS = 75
"""The exit status the command line gives a preempted run: ``EX_TEMPFAIL``, "try again", which
neither a failure (1), bad input (2) nor a kill by signal (128 + n) uses."""


class Preempted(Exception):
    """Training stopped on request after checkpointing ``step`` (of ``num_steps``) in ``checkpoints``."""

    def __init__(self, step: int, num_steps: int, checkpoints: str):
        self.step, self.num_steps, self.checkpoints = step, num_steps, checkpoints
        super().__init__(
            f"stopped on request at step {step} of {num_steps}, checkpointed in {checkpoints}; "
            "rerun the same command to resume from it"
        )


class StopRequest:
    """``with StopRequest(enabled) as stop: ... stop.requested(step)``.

    In one process it installs SIGTERM and SIGINT handlers for the block (the main thread only,
    where Python delivers signals; the previous handlers come back on exit): the first signal asks
    to stop, a second SIGINT interrupts at once. In several processes it installs nothing: JAX's
    preemption notifier catches SIGTERM.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.received: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> "StopRequest":
        if self.enabled and jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def requested(self, step: int) -> bool:
        """Whether to stop after ``step``; in several processes a collective decision that every
        process must ask for at the same steps."""
        if not self.enabled:
            return False
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            return bool(multihost_utils.reached_preemption_sync_point(step))
        return self.received is not None
