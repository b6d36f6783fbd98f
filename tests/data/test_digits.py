"""genjax.data.digits: the fixed split against scikit-learn's own copy of the set."""

import hashlib

import numpy as np
import pytest
from sklearn.datasets import load_digits as sklearn_digits

from genjax.data import digits


def _rows(d):
    """Each example as bytes (image and label), for multiset comparisons."""
    flat = d["image"].reshape(len(d["label"]), -1).astype(np.int64)
    return sorted(map(bytes, np.concatenate([flat, d["label"][:, None]], 1)))


def test_all_is_sklearn_digits_with_documented_shapes_dtypes_and_levels():
    full, raw = digits.load_digits("all"), sklearn_digits()
    assert full["image"].shape == (1797, 8, 8, 1) and full["image"].dtype == np.uint8
    assert full["label"].shape == (1797,) and full["label"].dtype == np.int32
    np.testing.assert_array_equal(full["image"][..., 0], raw.images)  # exact: levels are integers
    np.testing.assert_array_equal(full["label"], raw.target)
    assert full["image"].min() == 0 and full["image"].max() == digits.NUM_LEVELS - 1 == 16


def test_split_sizes_disjoint_complete_and_fixed():
    train, test, full = (digits.load_digits(s) for s in ("train", "test", "all"))
    assert len(train["label"]) == digits.NUM_TRAIN == 1437 and len(test["label"]) == 360
    for part in (train, test):
        assert part["image"].shape[1:] == digits.IMAGE_SHAPE and part["image"].dtype == np.uint8
    joined = {k: np.concatenate([train[k], test[k]]) for k in ("image", "label")}
    assert _rows(joined) == _rows(full)  # together exactly the full set, as multisets
    # Disjoint by position: the documented permutation gives distinct sklearn indices to each.
    perm = np.random.default_rng(0).permutation(1797)
    assert not set(perm[:1437]) & set(perm[1437:])
    np.testing.assert_array_equal(train["image"], full["image"][np.sort(perm[:1437])])
    np.testing.assert_array_equal(test["image"], full["image"][np.sort(perm[1437:])])
    # Pinned: a change of the split would silently make old test-set figures incomparable.
    digest = hashlib.sha256(test["image"].tobytes() + test["label"].tobytes()).hexdigest()
    assert digest[:16] == "214c05ebec91e8f0"
    np.testing.assert_array_equal(digits.load_digits("test")["image"], test["image"])


def test_labels_are_balanced_in_both_splits():
    for split, n in (("train", 1437), ("test", 360)):
        counts = np.bincount(digits.load_digits(split)["label"], minlength=10)
        assert counts.sum() == n and len(counts) == 10
        # Each class is ~10% of sklearn's set (174..183 each); a random split keeps every share
        # within 3.5 binomial sd of that.
        sd = np.sqrt(n * 0.1 * 0.9)
        assert np.all(np.abs(counts - n / 10) < 3.5 * sd), counts


def test_unknown_split_lists_valid_splits():
    with pytest.raises(ValueError, match=r"valid splits: \['train', 'test', 'all'\]"):
        digits.load_digits("validation")
