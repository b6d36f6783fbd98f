"""genjax.data.registry: one ``load`` over digits, IDX files and tfds sets, with named errors."""

import numpy as np
import pytest

from genjax.data import digits, registry

tfds = pytest.importorskip("tensorflow_datasets")


def test_digits_by_name_is_the_digits_loader():
    for split in ("train", "test", "all"):
        out, ref = registry.load("digits", split), digits.load_digits(split)
        np.testing.assert_array_equal(out["image"], ref["image"])
        np.testing.assert_array_equal(out["label"], ref["label"])
    first = registry.load("digits", "test", max_examples=5)
    np.testing.assert_array_equal(first["label"], digits.load_digits("test")["label"][:5])


def test_tfds_name_goes_through_tfds_under_mock_data():
    with tfds.testing.mock_data(num_examples=8, policy=tfds.testing.MockPolicy.USE_CODE):
        out = registry.load("kmnist", "test")
    assert out["image"].shape == (8, 28, 28, 1) and out["image"].dtype == np.uint8
    assert out["label"].dtype == np.int32


def test_num_levels():
    assert registry.num_levels("digits") == 17
    assert registry.num_levels("binarized_mnist") == 2
    assert registry.num_levels("cifar10") == 256


def test_unknown_dataset_or_split_lists_the_choices():
    with pytest.raises(
        ValueError, match=r"unknown dataset 'imagenet64'; valid choices: \['digits', 'mnist'"
    ):
        registry.load("imagenet64", "train")
    with pytest.raises(ValueError, match=r"valid splits: \['train', 'test', 'all'\]"):
        registry.load("digits", "validation")


def test_unprepared_tfds_set_says_how_to_prepare(tmp_path):
    with pytest.raises(ValueError, match="tfds build cifar10"):
        registry.load("cifar10", "train", data_dir=str(tmp_path))
