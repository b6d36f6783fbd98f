"""Groups of local processes for the multi-process tests: free ports, CPU devices per process,
bounded waits, and every process reaped whatever happens.

Each process gets ``XLA_FLAGS`` for its own CPU devices, gloo CPU collectives and this checkout on
``PYTHONPATH``; its output goes to a file (a pipe could fill and stall it) and comes back as text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Iterator, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 300  # a bound against hangs on a loaded 2-core machine, not a timing assertion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Finished:
    returncode: int
    output: str  # stdout and stderr together


class Group:
    """Started processes; :meth:`wait` collects them, and leaving the ``started`` block kills any
    still running."""

    def __init__(self) -> None:
        self._procs: list[tuple[subprocess.Popen, object]] = []
        self._deadline = time.monotonic() + TIMEOUT_S

    def start(self, args: Sequence[str], devices: int) -> subprocess.Popen:
        env = {
            **os.environ,
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
            "JAX_PLATFORMS": "cpu",
            "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
            "PYTHONPATH": ROOT,
        }
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._procs.append((proc, log))
        return proc

    def wait(self, proc: subprocess.Popen | None = None) -> list[Finished]:
        """Waits for ``proc`` (default: every process) until the group's deadline."""
        for p, _ in self._procs:
            if proc is None or p is proc:
                try:
                    p.wait(timeout=max(self._deadline - time.monotonic(), 1))
                except subprocess.TimeoutExpired:
                    self.kill()
                    raise AssertionError(f"still running after {TIMEOUT_S} s:\n" + self._outputs()) from None
        return [self._finished(p, log) for p, log in self._procs if proc is None or p is proc]

    def kill(self, proc: subprocess.Popen | None = None) -> None:
        """Kills ``proc`` (default: every process) if it still runs, and reaps it."""
        for p, _ in self._procs:
            if (proc is None or p is proc) and p.poll() is None:
                p.kill()
                p.wait()

    def _finished(self, proc, log) -> Finished:
        log.seek(0)
        return Finished(proc.returncode, log.read().decode(errors="replace"))

    def _outputs(self) -> str:
        return "\n".join(self._finished(p, log).output[-3000:] for p, log in self._procs)


@contextlib.contextmanager
def started() -> Iterator[Group]:
    group = Group()
    try:
        yield group
    finally:
        group.kill()
