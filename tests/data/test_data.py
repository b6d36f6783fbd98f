"""Data: the digits split, toy distributions, transforms and their inverses, batching, tfds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import batching, digits, registry, toy, transforms


def test_digits_split_shapes_dtypes_ranges_and_disjointness():
    train, test, full = digits.load_digits("train"), digits.load_digits("test"), digits.load_digits("all")
    assert train["image"].shape == (1437, 8, 8, 1) and test["image"].shape == (360, 8, 8, 1)
    assert train["image"].dtype == np.uint8 and train["label"].dtype == np.int32
    assert train["image"].max() == 16 and train["image"].min() == 0
    # Disjoint and complete: every image of the full set is in exactly one split (as multisets).
    key = lambda d: sorted(map(bytes, np.concatenate([d["image"].reshape(len(d["label"]), -1), d["label"][:, None]], 1)))
    joined = {"image": np.concatenate([train["image"], test["image"]]), "label": np.concatenate([train["label"], test["label"]])}
    assert key(joined) == key(full)
    # Fixed split: identical on a second load; every class is present in the test split.
    np.testing.assert_array_equal(digits.load_digits("test")["image"], test["image"])
    assert np.bincount(test["label"], minlength=10).min() >= 20


def test_unknown_names_raise_with_choices():
    with pytest.raises(ValueError, match="valid splits"):
        digits.load_digits("validation")
    with pytest.raises(ValueError, match="valid choices"):
        registry.load("imagenet64", "train")
    with pytest.raises(ValueError, match="valid choices"):
        toy.sample_toy("spirals", jax.random.PRNGKey(0), 10)


def test_eight_gaussians_modes_are_balanced_and_tight():
    x = np.asarray(toy.sample_toy("eight_gaussians", jax.random.PRNGKey(0), 8000))
    d = np.linalg.norm(x[:, None] - toy.EIGHT_GAUSSIANS_CENTERS[None], axis=-1)
    nearest, dist = d.argmin(1), d.min(1)
    counts = np.bincount(nearest, minlength=8)
    assert counts.min() > 850 and counts.max() < 1150  # 1000 each, binomial sd ~30
    assert np.mean(dist < 3 * toy.EIGHT_GAUSSIANS_STD) > 0.98  # 2-D Gaussian: P(r < 3 sd) = 0.989


def test_two_moons_and_checkerboard_geometry():
    moons = np.asarray(toy.sample_toy("two_moons", jax.random.PRNGKey(1), 4000))
    upper = moons[:, 1] > 0.25
    r_upper = np.linalg.norm(moons[upper & (moons[:, 1] > 0.6)], axis=1)
    assert abs(np.median(r_upper) - 1.0) < 0.05  # the upper moon is the unit half circle
    board = np.asarray(toy.sample_toy("checkerboard", jax.random.PRNGKey(2), 4000))
    cells = np.floor(board + 2.0).astype(int)
    assert np.all((cells[:, 0] + cells[:, 1]) % 2 == 0) and np.abs(board).max() <= 2.0


def test_transforms_round_trip_with_their_inverses():
    x = digits.load_digits("test")["image"]
    np.testing.assert_array_equal(transforms.from_symmetric(transforms.to_symmetric(x, 17), 17), x)
    np.testing.assert_array_equal(transforms.from_unit(transforms.to_unit(x, 17), 17), x)
    y = transforms.dequantize(jax.random.PRNGKey(0), x, 17)
    assert float(y.min()) >= 0.0 and float(y.max()) < 1.0
    np.testing.assert_array_equal(transforms.quantize(y, 17), x)
    labels = np.arange(10, dtype=np.int32)
    np.testing.assert_array_equal(transforms.from_one_hot(transforms.one_hot(labels, 10)), labels)
    sym = transforms.to_symmetric(x, 17)
    assert float(sym.min()) == -1.0 and float(sym.max()) == 1.0


def test_stochastic_binarization_is_unbiased():
    p = jnp.linspace(0.0, 1.0, 11)
    draws = jax.vmap(lambda k: transforms.stochastic_binarize(k, p))(jax.random.split(jax.random.PRNGKey(0), 4000))
    np.testing.assert_allclose(draws.mean(0), p, atol=0.03)  # binomial sd <= 0.008
    np.testing.assert_array_equal(transforms.binarize(jnp.array([0.0, 8.0, 9.0]), 8.0), [0.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: transforms.to_symmetric(np.array([0.5, 1.0]), 17), "integer levels"),
        (lambda: transforms.to_symmetric(np.array([0, 17]), 17), r"0\.\.16"),
        (lambda: transforms.one_hot(np.array([3, 10]), 10), r"0\.\.9"),
        (lambda: transforms.stochastic_binarize(jax.random.PRNGKey(0), np.array([1.5])), r"\[0, 1\]"),
        (lambda: transforms.validate_images(np.zeros((8, 8, 1)), low=-1, high=1), "rank 4"),
        (lambda: transforms.validate_images(np.full((1, 8, 8, 1), 2.0), low=-1, high=1), r"\[-1, 1\]"),
    ],
)
def test_bad_input_names_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_transforms_work_under_jit():
    f = jax.jit(lambda x: transforms.to_symmetric(x, 17))
    np.testing.assert_allclose(f(jnp.array([0, 16], jnp.int32)), [-1.0, 1.0])


def test_epoch_batches_are_deterministic_permutations_and_resume_by_step():
    arrays = {"x": np.arange(100), "y": np.arange(100) * 2}
    batch = batching.epoch_batches(arrays, 16, seed=3)
    epoch0 = np.concatenate([batch(s)["x"] for s in range(6)])  # 6 batches of 16, remainder 4 dropped
    assert len(np.unique(epoch0)) == 96
    np.testing.assert_array_equal(batch(2)["y"], 2 * batch(2)["x"])
    again = batching.epoch_batches(arrays, 16, seed=3)
    np.testing.assert_array_equal(again(7)["x"], batch(7)["x"])  # resume at step 7: same batch
    assert not np.array_equal(batch(0)["x"], batch(6)["x"])  # a new epoch is a new permutation
    hosts = [batching.epoch_batches(arrays, 16, seed=3, process_index=i, process_count=2)(5)["x"] for i in range(2)]
    np.testing.assert_array_equal(np.concatenate(hosts), batch(5)["x"])


def test_batching_errors():
    with pytest.raises(ValueError, match="equal lengths"):
        batching.epoch_batches({"a": np.zeros(3), "b": np.zeros(4)}, 2, 0)
    with pytest.raises(ValueError, match="batch_size"):
        batching.epoch_batches({"a": np.zeros(3)}, 4, 0)
    with pytest.raises(ValueError, match="does not split over 4 devices"):
        batching.shard({"a": np.zeros((6, 2))}, 4)
    assert batching.shard({"a": np.zeros((8, 2))}, 4)["a"].shape == (4, 2, 2)


def test_tfds_path_under_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=8, policy=tfds.testing.MockPolicy.USE_CODE):
        out = registry.load("mnist", "train")
    assert out["image"].shape == (8, 28, 28, 1) and out["image"].dtype == np.uint8
    assert out["label"].shape == (8,) and out["label"].dtype == np.int32
    assert out["label"].min() >= 0 and out["label"].max() <= 9


def test_unprepared_tfds_set_says_how_to_prepare(tmp_path):
    with pytest.raises(ValueError, match="tfds build mnist"):
        registry.load("mnist", "train", data_dir=str(tmp_path))
