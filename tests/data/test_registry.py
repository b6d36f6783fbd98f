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


def _write_set(directory, files):
    from genjax.data import idx

    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    for name in files:
        values = images if "images" in name else np.array([3, 7], np.uint8)
        idx.write_idx(str(directory / name), values)


def test_a_data_dir_with_some_of_the_files_is_named_not_passed_over(tmp_path, monkeypatch):
    # A complete copy elsewhere (the system directory) must not be used in place of the user's.
    system = tmp_path / "system"
    system.mkdir()
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    _write_set(system, names)
    monkeypatch.setitem(registry.IDX_SETS, "fashion_mnist", (str(system),))
    mine = tmp_path / "mine"
    mine.mkdir()
    _write_set(mine, names[:2])
    with pytest.raises(ValueError, match=r"only some of fashion_mnist's IDX files: missing "
                                         r"t10k-images-idx3-ubyte\[\.gz\], t10k-labels-idx1-ubyte\[\.gz\]"):
        registry.load("fashion_mnist", "train", data_dir=str(mine))
    # Complete: the user's files are read, and without a data_dir the system copy is.
    _write_set(mine, names[2:])
    assert registry.idx_directory("fashion_mnist", str(mine)) == str(mine)
    assert registry.idx_directory("fashion_mnist") == str(system)
    np.testing.assert_array_equal(registry.load("fashion_mnist", "test", data_dir=str(mine))["label"], [3, 7])
