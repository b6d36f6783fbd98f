"""genjax.data.batching: step-indexed epochs (permutations, determinism, resume, host shards)."""

import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import batching

N, B = 100, 16  # 6 batches per epoch, 4 examples dropped


@pytest.fixture(scope="module")
def arrays():
    return {"x": np.arange(N), "y": np.arange(N) * 2, "img": np.arange(N * 4).reshape(N, 2, 2)}


def test_each_epoch_is_a_fresh_permutation_with_the_remainder_dropped(arrays):
    batch = batching.epoch_batches(arrays, B, seed=3)
    per_epoch = N // B
    epochs = [
        np.concatenate([batch(e * per_epoch + i)["x"] for i in range(per_epoch)]) for e in range(3)
    ]
    for e, seen in enumerate(epochs):
        assert len(seen) == 96 and len(np.unique(seen)) == 96  # each example at most once
        perm = np.random.default_rng((3, e)).permutation(N)  # the documented order
        np.testing.assert_array_equal(seen, perm[:96])
    assert not np.array_equal(epochs[0], epochs[1])
    # Over many epochs every example is drawn (the dropped 4 change from epoch to epoch).
    seen_any = np.unique(np.concatenate([batch(s)["x"] for s in range(per_epoch * 8)]))
    np.testing.assert_array_equal(seen_any, np.arange(N))


def test_arrays_stay_aligned(arrays):
    b = batching.epoch_batches(arrays, B, seed=0)(4)
    np.testing.assert_array_equal(b["y"], 2 * b["x"])
    np.testing.assert_array_equal(b["img"], arrays["img"][b["x"]])
    assert b["img"].shape == (B, 2, 2)


def test_same_step_same_batch_so_resume_is_exact(arrays):
    straight = batching.epoch_batches(arrays, B, seed=7)
    order = [straight(s)["x"] for s in range(20)]
    resumed = batching.epoch_batches(arrays, B, seed=7)  # a fresh process restarting at step 11
    for s in range(11, 20):
        np.testing.assert_array_equal(resumed(s)["x"], order[s])
    np.testing.assert_array_equal(resumed(jnp.asarray(13))["x"], order[13])  # TrainState.step
    np.testing.assert_array_equal(straight(3)["x"], order[3])  # random access back in time
    other = batching.epoch_batches(arrays, B, seed=8)
    assert not np.array_equal(other(0)["x"], order[0])


def test_process_shards_are_disjoint_and_make_up_the_global_batch(arrays):
    full = batching.epoch_batches(arrays, B, seed=3)
    for step in (0, 5, 6, 23):
        hosts = [
            batching.epoch_batches(arrays, B, seed=3, process_index=i, process_count=4)(step)["x"]
            for i in range(4)
        ]
        assert all(len(h) == B // 4 for h in hosts)
        np.testing.assert_array_equal(np.concatenate(hosts), full(step)["x"])


def test_shard_reshapes_in_order_and_keeps_jax_arrays_on_device():
    batch = {"a": np.arange(16).reshape(8, 2), "b": jnp.arange(8)}
    out = batching.shard(batch, 4)
    np.testing.assert_array_equal(out["a"][1], [[4, 5], [6, 7]])  # device 1 gets examples 2, 3
    assert isinstance(out["b"], jnp.ndarray) and out["b"].shape == (4, 2)
    np.testing.assert_array_equal(out["b"].reshape(-1), np.arange(8))


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: batching.epoch_batches({"a": np.zeros(3), "b": np.zeros(4)}, 2, 0),
            "equal lengths",
        ),
        (lambda: batching.epoch_batches({"a": np.zeros(3)}, 4, 0), r"batch_size must be in 1\.\.3"),
        (lambda: batching.epoch_batches({"a": np.zeros(3)}, 0, 0), "batch_size"),
        (lambda: batching.epoch_batches({}, 2, 0), "arrays is empty"),
        (
            lambda: batching.epoch_batches({"a": np.zeros(8)}, 6, 0, process_count=4),
            "does not divide",
        ),
        (
            lambda: batching.epoch_batches(
                {"a": np.zeros(8)}, 4, 0, process_index=2, process_count=2
            ),
            "process_index",
        ),
        (lambda: batching.epoch_batches({"a": np.zeros(8)}, 4, 0)(-1), "step must be >= 0"),
        (lambda: batching.shard({"a": np.zeros((6, 2))}, 4), "does not split over 4 devices"),
        (lambda: batching.shard({"a": np.zeros(())}, 1), "does not split"),
        (lambda: batching.shard({"a": np.zeros(4)}, 0), "num_devices must be >= 1"),
    ],
)
def test_bad_input_names_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()
