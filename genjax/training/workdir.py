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
import re
import socket
import tempfile
from typing import Optional

__all__ = ["WorkdirError", "WorkdirLockedError", "check_writable", "WorkdirLock", "refusal", "LOCK_FILE"]

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

    The lock file keeps one line, ``pid P on HOST (started T)``, while it is held. On a filesystem
    without ``flock`` (some network and FUSE mounts) that line is all there is: a holder on this
    host whose pid is gone is stale and taken over, one on another host is refused (it cannot be
    checked from here; the message says to delete the file if that run is gone).

    Raises (on entry):
      WorkdirLockedError: when a live process holds it; the message names its host, pid and start.
      WorkdirError: when the lock file cannot be written (a read-only workdir).
    """

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        self._file: Optional[int] = None

    def __enter__(self) -> "WorkdirLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise WorkdirError(f"workdir {os.path.dirname(self.path)} is not writable: {err.strerror}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise WorkdirLockedError(refusal(os.path.dirname(self.path), holder)) from None
        except OSError:  # no flock on this filesystem: the holder's line decides
            holder = _holder(fd)
            if holder and _may_be_alive(holder):
                os.close(fd)
                raise WorkdirLockedError(
                    refusal(os.path.dirname(self.path), holder) + f" (if that run is gone, delete {self.path})"
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


def refusal(workdir: str, holder: Optional[str] = None) -> str:
    """The one line that refuses a second run into ``workdir``, naming the holder (read from the
    lock file when not given)."""
    if holder is None:
        try:
            with open(os.path.join(workdir, LOCK_FILE), encoding="utf-8", errors="replace") as f:
                holder = f.read(512).strip()
        except OSError:
            holder = ""
    return (
        f"{workdir} is being trained by {holder or 'another process'}: wait for it, stop it, or use another "
        "workdir (sampling and evaluating it meanwhile is fine)"
    )


def _holder(fd: int) -> str:
    return os.pread(fd, 512, 0).decode(errors="replace").strip()


def _may_be_alive(holder: str) -> bool:
    """Whether the process a lock line names may still run: False only for a pid of this host that
    no longer exists."""
    found = re.match(r"pid (\d+) on (\S+)", holder)
    if found is None or found.group(2) != socket.gethostname():
        return True
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
