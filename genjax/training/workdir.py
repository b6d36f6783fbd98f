"""What a training run needs of its workdir: that it can be written, and that no other run writes it.

The lock is an advisory ``flock`` on ``workdir/.lock``: the kernel drops it when its process dies
however it dies (kill -9 included), so a killed run never blocks its own rerun, and the file keeps
the holder's host, pid and start time for the refusal's message. Readers (sampling, evaluation)
never take it.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import socket
import tempfile
from typing import Optional

__all__ = ["WorkdirError", "WorkdirLockedError", "check_writable", "WorkdirLock", "LOCK_FILE"]

LOCK_FILE = ".lock"
"""The lock's file name inside the workdir."""


class WorkdirError(ValueError):
    """The workdir cannot hold a run: it is a file, or cannot be created or written."""


class WorkdirLockedError(RuntimeError):
    """Another live process is training into the workdir; the message names it."""


def check_writable(workdir: str) -> None:
    """Creates ``workdir`` if needed and checks that a file can be written in it.

    Raises:
      WorkdirError: when ``workdir`` (or a parent) is a file, or the directory cannot be created or
        written (read-only filesystem, permissions).
    """
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise WorkdirError(f"workdir {workdir} is a file, not a directory: name a directory")
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-check-"):
            pass
    except NotADirectoryError as err:
        parent = os.path.dirname(os.path.abspath(workdir))
        while parent != os.path.dirname(parent) and not os.path.isfile(parent):
            parent = os.path.dirname(parent)
        raise WorkdirError(f"workdir {workdir} cannot be created: {parent} is a file") from err
    except OSError as err:
        raise WorkdirError(f"workdir {workdir} is not writable: {err.strerror}") from err


class WorkdirLock:
    """``with WorkdirLock(workdir):`` holds the workdir's training lock for the block.

    Raises (on entry):
      WorkdirLockedError: when a live process holds it; the message names its host, pid and start.
    """

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        self._file: Optional[int] = None

    def __enter__(self) -> "WorkdirLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WorkdirLockedError(
                f"{os.path.dirname(self.path)} is being trained by {holder}: wait for it, stop it, or "
                "use another workdir (sampling and evaluating it meanwhile is fine)"
            ) from None
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} (started {started})\n".encode(), 0)
        self._file = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            os.ftruncate(self._file, 0)
            os.close(self._file)  # closing releases the flock
            self._file = None
