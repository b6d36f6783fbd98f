"""Noticing a dead process of a multi-process run in seconds, instead of at the coordination
service's heartbeat timeout (100 s, then a C++ abort).

Every process bumps a counter of its own in the coordination service's key-value store once a
second and watches the others' counters; one that stops moving for ``timeout_s`` is a dead
partner. The watcher then calls ``on_missing(index)`` (the command line prints one line and
exits). A process that has finished keeps its counter moving while it waits in JAX's shutdown
barrier for the others (the watcher is a daemon thread, alive until the interpreter ends), so a
partner that is merely done is never taken for dead. When the coordinator itself (process 0) dies,
JAX's own client ends every other process within a second, with its own message; that case is
JAX's, not this module's.

Why not JAX's own heartbeat: ``jax.distributed.initialize(heartbeat_timeout_seconds=...)`` can be
lowered, but when it fires the client ends the process with a C++ fatal error (abort, stack dump),
and the client's ``missed_heartbeat_callback`` cannot call Python in the jaxlib pinned here (it
terminates with ``std::bad_cast``).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

__all__ = ["PartnerWatch", "KEY_PREFIX"]

KEY_PREFIX = "genjax_alive/"
"""The key-value directory of the counters."""


class PartnerWatch:
    """A daemon thread that beats for this process and watches the others.

    Args:
      client: JAX's distributed runtime client (``jax._src.distributed.global_state.client``):
        ``key_value_set``, ``key_value_dir_get``.
      process_index, process_count: this process and the run's size.
      on_missing: called once with the index of the first partner whose counter stopped for
        ``timeout_s`` (or that never wrote one in that time); the command line's exits the process.
      timeout_s: seconds without a beat that make a partner dead.
      period_s: seconds between beats.
    """

    def __init__(
        self, client: Any, process_index: int, process_count: int, on_missing: Callable[[int], None],
        *, timeout_s: float = 20.0, period_s: float = 1.0,
    ):
        self.client, self.index, self.count = client, process_index, process_count
        self.on_missing, self.timeout_s, self.period_s = on_missing, timeout_s, period_s
        self._changes = {i: 0 for i in range(process_count) if i != process_index}  # moves seen
        self._moved = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._watch, name="genjax-partners", daemon=True)

    def start(self) -> "PartnerWatch":
        self._thread.start()
        return self

    def _watch(self) -> None:
        beat, last_seen, start = 0, {}, time.monotonic()
        while True:
            beat += 1
            try:
                self.client.key_value_set(f"{KEY_PREFIX}{self.index}", str(beat), allow_overwrite=True)
                entries = self.client.key_value_dir_get(KEY_PREFIX)
            except Exception:  # the service is going (end of run) or gone (JAX ends the process itself)
                entries = []
            now = time.monotonic()
            with self._moved:
                for key, value in entries:
                    index = int(key.rsplit("/", 1)[1])
                    if index in self._changes and last_seen.get(index, (None,))[0] != value:
                        self._changes[index] += index in last_seen  # a first sight is no move
                        last_seen[index] = (value, now)
                self._moved.notify_all()
            for index in self._changes:
                if now - last_seen.get(index, (None, start))[1] > self.timeout_s:
                    self.on_missing(index)  # the command line's exits, so confirm() never returns
                    with self._moved:
                        self._done = True
                        self._moved.notify_all()
                    return
            time.sleep(self.period_s)

    def confirm(self) -> None:
        """Returns once every partner's counter has moved twice since this call (they are all
        alive: a partner that died just before it can show one last move, read late), or once the
        watcher has found one dead (``on_missing`` has run, which the command line makes exit):
        what a process that has met an error asks before reporting it, since a collective with a
        dead partner fails too, and the dead partner is the line worth printing."""
        with self._moved:
            seen = dict(self._changes)
            self._moved.wait_for(
                lambda: self._done or all(self._changes[i] >= seen[i] + 2 for i in seen),
                timeout=self.timeout_s + 4 * self.period_s,
            )
