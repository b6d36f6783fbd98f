"""A run told to stop (SIGTERM, SIGINT) checkpoints the step it reached and resumes from it
bit-exactly; a workdir is trained by one run at a time; an unusable workdir is one clear error."""

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import jax
import numpy as np
import pytest

from genjax import training

sys.path.insert(0, os.path.dirname(__file__))
import _gaussian  # noqa: E402

KEY = jax.random.PRNGKey(0)
STEPS = 400

# The data function sleeps, so the run is still going when the signal comes; each step's batch is a
# function of the step, so a resumed run sees what an uninterrupted one sees.
_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {here!r})
    import jax, numpy as np, _gaussian
    from genjax import training
    x = _gaussian.dataset()
    batches = _gaussian.minibatches(x, 32)
    def data(step):
        time.sleep({sleep})
        return batches(step)
    try:
        state = training.fit(_gaussian.make_gaussian(), _gaussian.OPTIMIZER, data, key=jax.random.PRNGKey(0),
                             num_steps={steps}, workdir={workdir!r}, log_every=5, checkpoint_every=1000,
                             progress=False, ema_decay=0.9)
    except training.Preempted as stop:
        print(stop, flush=True)
        sys.exit(training.PREEMPTED_EXIT_STATUS)
    np.savez({out!r}, *jax.tree.leaves(state))
    """
)


def _start(workdir, out, sleep=0.02):
    script = _SCRIPT.format(here=os.path.dirname(__file__), steps=STEPS, workdir=str(workdir), out=str(out),
                            sleep=sleep)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _logged_steps(workdir) -> list[int]:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.strip()]


def _wait_for_steps(proc, workdir, minimum: int, limit_s: float = 240.0) -> None:
    deadline = time.monotonic() + limit_s
    while not _logged_steps(workdir) or _logged_steps(workdir)[-1] < minimum:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run logged no steps in time"
        time.sleep(0.2)


def _leaves(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]


@pytest.mark.slow  # three training processes each: about a minute
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stopped_run_checkpoints_its_step_and_resumes_bit_exactly(tmp_path, signum):
    workdir = tmp_path / "run"
    proc = _start(workdir, tmp_path / "unused.npz")
    _wait_for_steps(proc, workdir, 20)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == training.PREEMPTED_EXIT_STATUS, err
    line = out.strip().splitlines()[-1]
    stopped = int(line.split("at step ")[1].split(" ")[0])
    assert 20 <= stopped < STEPS and line.endswith("rerun the same command to resume from it")
    # The checkpoint is of the step it stopped at (checkpoint_every=1000 would have written none), and
    # the log was flushed up to it.
    assert training.Checkpointer(str(workdir / "checkpoints")).latest_step() == stopped
    assert _logged_steps(workdir)[-1] == stopped

    resumed = _start(workdir, tmp_path / "resumed.npz", sleep=0.0)
    assert resumed.wait(timeout=240) == 0, resumed.communicate()
    straight = _start(tmp_path / "straight", tmp_path / "straight.npz", sleep=0.0)
    assert straight.wait(timeout=240) == 0, straight.communicate()
    for a, b in zip(_leaves(tmp_path / "straight.npz"), _leaves(tmp_path / "resumed.npz"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_second_run_into_a_live_workdir_is_refused_and_a_dead_one_does_not_block(tmp_path):
    workdir = tmp_path / "run"
    first = _start(workdir, tmp_path / "a.npz", sleep=0.05)
    _wait_for_steps(first, workdir, 5)
    x = _gaussian.dataset()
    with pytest.raises(training.WorkdirLockedError, match=rf"being trained by pid {first.pid} on "):
        training.fit(_gaussian.make_gaussian(), _gaussian.OPTIMIZER, _gaussian.minibatches(x, 32), key=KEY,
                     num_steps=STEPS, workdir=str(workdir), log_every=5, checkpoint_every=1000, progress=False,
                     ema_decay=0.9)
    # Reading it while it trains stays allowed.
    assert training.Checkpointer(str(workdir / "checkpoints")).latest_step() is None
    # Killed outright: the lock dies with the process, and the rerun trains.
    first.kill()
    first.wait()
    assert os.path.getsize(workdir / training.workdir.LOCK_FILE) > 0  # the holder's line stays behind
    state = training.fit(_gaussian.make_gaussian(), _gaussian.OPTIMIZER, _gaussian.minibatches(x, 32), key=KEY,
                         num_steps=10, workdir=str(workdir), log_every=5, checkpoint_every=1000, progress=False)
    assert int(state.step) == 10


def test_unusable_workdirs_are_one_clear_error(tmp_path, monkeypatch):
    x = _gaussian.dataset()

    def fit(workdir):
        training.fit(_gaussian.make_gaussian(), _gaussian.OPTIMIZER, _gaussian.minibatches(x, 32), key=KEY,
                     num_steps=2, workdir=str(workdir), progress=False)

    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(training.WorkdirError, match=r"is a file, not a directory"):
        fit(a_file)
    with pytest.raises(training.WorkdirError, match=r"cannot be created: .*file is a file"):
        fit(a_file / "run")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    if os.geteuid() == 0:
        # Root writes through permissions; what root meets is a read-only filesystem.
        def read_only_filesystem(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only_filesystem)
    with pytest.raises(training.WorkdirError, match=r"ro is not writable: (Read-only file system|Permission denied)"):
        fit(read_only)


def test_a_workdir_of_another_family_is_refused_naming_both(tmp_path):
    x = _gaussian.dataset()
    kwargs = dict(key=KEY, num_steps=2, workdir=str(tmp_path), progress=False)
    training.fit(_gaussian.make_gaussian(), _gaussian.OPTIMIZER, _gaussian.minibatches(x, 32),
                 config={"family": "vae"}, **kwargs)
    with pytest.raises(training.ConfigMismatchError, match="checkpoints are of a 'vae' run and this config is 'gan'"):
        training.fit(_gaussian.make_gaussian(), _gaussian.OPTIMIZER, _gaussian.minibatches(x, 32),
                     config={"family": "gan"}, **kwargs)


class _SyncPoint:
    """JAX's preemption sync point as its C++ protocol behaves: each process's counter is the last
    value it passed; a notice sets the stop at one past the furthest counter."""

    def __init__(self):
        self.counter, self.stop_at, self.asked = 0, None, []

    def __call__(self, counter):
        self.asked.append(counter)
        self.counter = counter
        return counter == self.stop_at

    def notice(self):
        self.stop_at = self.counter + 1


def test_several_processes_count_calls_for_the_sync_point(monkeypatch):
    # The counter is the number of calls asked about, 1, 2, 3, ... whatever the step, the resumed
    # start or the steps per call: one past the furthest counter is always a call every process
    # makes (a step counter would skip it with two steps per call, and a notice before the first
    # call would set it to 1, a step a resumed run never reaches).
    from jax.experimental import multihost_utils

    sync = _SyncPoint()
    monkeypatch.setattr(multihost_utils, "reached_preemption_sync_point", sync)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    previous = signal.getsignal(signal.SIGINT)
    with training.StopRequest() as stop:
        assert signal.getsignal(signal.SIGINT) == stop._forward  # Ctrl-C goes to JAX's notifier
        sync.notice()  # before the first call
        assert stop.requested()
        sync.notice()
        assert [stop.requested() for _ in range(3)] == [True, False, False]
    assert sync.asked == [0, 1, 2, 3, 4] and signal.getsignal(signal.SIGINT) is previous


def test_without_flock_a_lock_line_of_a_dead_process_is_taken_over(tmp_path, monkeypatch):
    # Some network and FUSE filesystems have no flock: the holder's line decides.
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(training.workdir.fcntl, "flock", no_flock)
    lock_file = tmp_path / training.workdir.LOCK_FILE
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = __import__("socket").gethostname()
    lock_file.write_text(f"pid {int(gone.stdout)} on {host} (started 2026-01-01T00:00:00)\n")
    with training.WorkdirLock(str(tmp_path)):
        assert lock_file.read_text().startswith(f"pid {os.getpid()} on {host}")
    for holder in (f"pid {os.getppid()} on {host}", f"pid {os.getpid()} on some-other-host"):
        lock_file.write_text(holder + " (started 2026-01-01T00:00:00)\n")
        with pytest.raises(training.WorkdirLockedError, match=rf"being trained by {holder} .*delete "):
            training.WorkdirLock(str(tmp_path)).__enter__()
