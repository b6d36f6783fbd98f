"""Noticing a dead process of a multi-process run in seconds, instead of at the coordination
service's heartbeat timeout (100 s, then a C++ abort).

Every process bumps a counter of its own in the coordination service's key-value store once a
second and watches the others' counters; one that stops moving for ``timeout_s`` is a dead
partner. The watcher then calls ``on_missing(index)`` (the command line prints one line and
exits). When the coordinator itself (process 0) dies, JAX's own client ends every other process
within a second, with its own message; that case is JAX's, not this module's.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

__all__ = ["watch_partners", "KEY_PREFIX"]

KEY_PREFIX = "genjax_alive/"
"""The key-value directory of the counters."""


def watch_partners(
    client: Any, process_index: int, process_count: int, on_missing: Callable[[int], None],
    *, timeout_s: float = 10.0, period_s: float = 1.0,
) -> threading.Thread:
    """Starts the watcher (a daemon thread) and returns it.

    Args:
      client: JAX's distributed runtime client (``jax._src.distributed.global_state.client``):
        ``key_value_set``, ``key_value_dir_get``.
      process_index, process_count: this process and the run's size.
      on_missing: called once with the index of the first partner whose counter stopped for
        ``timeout_s`` (or that never wrote one in that time).
      timeout_s: seconds without a beat that make a partner dead.
      period_s: seconds between beats.
    """

    def watch() -> None:
        beat, last_seen = 0, {}
        start = time.monotonic()
        while True:
            beat += 1
            client.key_value_set(f"{KEY_PREFIX}{process_index}", str(beat), allow_overwrite=True)
            now = time.monotonic()
            for key, value in client.key_value_dir_get(KEY_PREFIX):
                index = int(key.rsplit("/", 1)[1])
                if last_seen.get(index, (None,))[0] != value:
                    last_seen[index] = (value, now)
            for index in range(process_count):
                if index != process_index and now - last_seen.get(index, (None, start))[1] > timeout_s:
                    on_missing(index)
                    return
            time.sleep(period_s)

    thread = threading.Thread(target=watch, name="genjax-partners", daemon=True)
    thread.start()
    return thread
