"""Several processes train the same model as one (docs/design.md, "Train step"): two local processes
of two CPU devices each (gloo collectives) against one process of four devices, for ``shard`` and
``pmap``, with a crash of one process and a resume in between.

One module-scoped set of runs serves every assertion (each process costs seconds of start-up):
  * ``ref/<mode>``: one process, four devices, 24 steps, global batch 32.
  * ``two/shard``: two processes, 24 steps, into one workdir.
  * ``crash/<mode>``: two processes; process 1 is killed (SIGKILL) at step 12, process 0 is then
    killed too, and both are started again with the same command and finish the 24 steps.
"""

import os
import sys

import jax
import numpy as np
import pytest

from genjax import training

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import _multiprocess_worker as worker  # noqa: E402
import _processes  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "_multiprocess_worker.py")
STEPS, CRASH_AT = 24, 12
# Float32 gradients of 32 examples reduced over 4 devices in another order, through 24 Adam steps:
# measured <= 4e-8 apart (shard and pmap); 1e-6 leaves room and still catches a mean over half the
# devices (2e-2 apart) or a misplaced batch.
ATOL = 1e-6


def _start(group, tmp, name, mode, processes, die_at=-1):
    """Starts one run's processes; returns them and the path of the final state's leaves."""
    out, workdir = str(tmp / f"{name}.npz"), str(tmp / name.split("-")[0])
    port = _processes.free_port()
    procs = [
        group.start([WORKER, out, workdir, mode, str(STEPS), str(port), str(processes), str(i), str(die_at)],
                    devices=4 // processes)
        for i in range(processes)
    ]
    return procs, out


def _leaves(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multiprocess")
    outs, after_crash = {}, {}
    with _processes.started() as group:  # all at once: the runs are independent
        for mode in ("shard", "pmap"):
            outs[f"ref/{mode}"] = _start(group, tmp, f"ref_{mode}", mode, 1)[1]
        outs["two/shard"] = _start(group, tmp, "two_shard", "shard", 2)[1]
        crashing = {mode: _start(group, tmp, f"crash_{mode}-killed", mode, 2, die_at=CRASH_AT)[0]
                    for mode in ("shard", "pmap")}
        for mode, (survivor, victim) in crashing.items():
            [finished] = group.wait(victim)
            assert finished.returncode == -9, finished.output[-3000:]
            # Its partner fails in the next collective or waits in it; a scheduler would kill it.
            group.kill(survivor)
            after_crash[mode] = training.Checkpointer(str(tmp / f"crash_{mode}" / "checkpoints")).latest_step()
        for finished in group.wait():
            assert finished.returncode in (0, -9) or "Gloo" in finished.output, finished.output[-3000:]
    with _processes.started() as group:  # the same commands again: both runs resume
        for mode in ("shard", "pmap"):
            outs[f"crash/{mode}"] = _start(group, tmp, f"crash_{mode}", mode, 2)[1]
        for finished in group.wait():
            assert finished.returncode == 0, finished.output[-3000:]
    return {"tmp": tmp, "leaves": {k: _leaves(v) for k, v in outs.items()}, "after_crash": after_crash}


def _template(mode):
    """A state of the runs' structure (the pmap checkpoint keeps a model state per device: 4)."""
    model = worker.make_model()
    state = training.create_train_state(
        model, worker.OPTIMIZER, jax.random.PRNGKey(0), {"x": worker.X[:8]}, ema_decay=worker.EMA_DECAY
    )
    if mode == "pmap":
        state = state.replace(model_state=jax.tree.map(lambda x: np.stack([x] * 4), state.model_state))
    return state


@pytest.mark.parametrize("mode", ["shard", "pmap"])
def test_two_processes_train_the_same_model_as_one_with_four_devices(runs, mode):
    # pmap: the two-process run crashed and resumed on the way; its per-device model state (a
    # running mean of each device's batches) comes back row by row.
    got = runs["leaves"]["two/shard" if mode == "shard" else "crash/pmap"]
    want = runs["leaves"][f"ref/{mode}"]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=ATOL)
    if mode == "pmap":  # the per-device rows differ, so a misplaced row would show
        assert any(np.ndim(w) == 2 and np.ptp(w, axis=0).max() > 1e-3 for w in want)


def test_kill_and_resume_of_two_processes_equals_the_uninterrupted_run(runs):
    # The crash left the checkpoint of step 8 (the last before step 12), and the resumed run
    # started from it: bit-identical to the run that was never interrupted.
    assert runs["after_crash"] == {"shard": 8, "pmap": 8}
    for a, b in zip(runs["leaves"]["two/shard"], runs["leaves"]["crash/shard"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["shard", "pmap"])
def test_one_checkpoint_per_step_restored_by_a_single_process(runs, mode):
    workdir = runs["tmp"] / ("two_shard" if mode == "shard" else "crash_pmap")
    assert sorted(os.listdir(workdir / "checkpoints")) == ["16", "24", "8"]
    # This test process is one process (four devices): it restores the two-process checkpoint.
    restored, meta = training.Checkpointer(str(workdir / "checkpoints")).restore(_template(mode))
    assert meta["mode"] == mode and meta["num_devices"] == 4
    want = runs["leaves"]["two/shard" if mode == "shard" else "crash/pmap"]
    for a, b in zip(jax.tree.leaves(restored), want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_only_process_zero_logs(runs):
    workdir = runs["tmp"] / "two_shard"
    rows = (workdir / "metrics.jsonl").read_text().splitlines()
    assert [int(r.split(",")[0].split(":")[1]) for r in rows] == [4, 8, 12, 16, 20, 24]
    assert len(os.listdir(workdir / "tensorboard")) == 1
