"""The dead-partner watcher of multi-process runs, against an in-memory key-value store."""

import threading
import time

from experiments import partners


class _Store:
    """The two calls of JAX's distributed client the watcher uses."""

    def __init__(self):
        self.values, self.lock = {}, threading.Lock()

    def key_value_set(self, key, value, allow_overwrite=False):
        with self.lock:
            self.values[key] = value

    def key_value_dir_get(self, prefix):
        with self.lock:
            return [(k, v) for k, v in self.values.items() if k.startswith(prefix)]


def test_a_partner_whose_counter_stops_is_reported_and_a_live_one_is_confirmed():
    store, missing = _Store(), []
    found = threading.Event()

    def on_missing(index):
        missing.append(index)
        found.set()

    watch = partners.PartnerWatch(store, 0, 3, on_missing, timeout_s=1.0, period_s=0.05).start()
    live = partners.PartnerWatch(store, 1, 3, lambda i: None, timeout_s=60.0, period_s=0.05).start()
    store.key_value_set(f"{partners.KEY_PREFIX}2", "1")  # process 2 beats once, then dies
    t0 = time.monotonic()
    watch.confirm()  # process 2 is alive for one more second: this returns on the watcher's verdict
    assert missing == [2] and 0.9 < time.monotonic() - t0 < 10
    assert found.wait(1)
    assert live._changes[0] > 0  # process 0's counter moved while it watched


def test_confirm_returns_as_soon_as_every_partner_has_beaten():
    store = _Store()
    watches = [partners.PartnerWatch(store, i, 2, lambda i: None, timeout_s=30.0, period_s=0.05).start()
               for i in range(2)]
    t0 = time.monotonic()
    watches[0].confirm()
    assert time.monotonic() - t0 < 5


def test_a_failing_store_stops_nothing_and_raises_nothing():
    class Gone(_Store):
        def key_value_set(self, *args, **kwargs):
            raise RuntimeError("UNAVAILABLE: the coordination service is gone")

    errors = []
    threading.excepthook, previous = (lambda args: errors.append(args)), threading.excepthook
    try:
        watch = partners.PartnerWatch(Gone(), 0, 2, lambda i: errors.append(i), timeout_s=0.3, period_s=0.05)
        watch.start()
        time.sleep(0.6)
    finally:
        threading.excepthook = previous
    assert errors == [1]  # no exception escaped the thread; the silent partner counts as missing
