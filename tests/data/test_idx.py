"""genjax.data.idx: the IDX reader on files the test writes, and on the real Fashion-MNIST files."""

import gzip
import os

import numpy as np
import pytest

from genjax.data import idx, registry

FASHION_DIR = registry.IDX_SETS["fashion_mnist"][0]
needs_fashion = pytest.mark.skipif(
    registry.idx_directory("fashion_mnist") is None,
    reason=f"Fashion-MNIST IDX files not in {FASHION_DIR}: `apt-get install dataset-fashion-mnist`",
)


def _write_set(directory, n_train=5, n_test=3, shape=(4, 3), compress=True, seed=0):
    rng = np.random.default_rng(seed)
    ext = ".gz" if compress else ""
    out = {}
    for split, stem, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        idx.write_idx(os.path.join(directory, f"{stem}-images-idx3-ubyte{ext}"), images)
        idx.write_idx(os.path.join(directory, f"{stem}-labels-idx1-ubyte{ext}"), labels)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_of_written_files(tmp_path, compress):
    written = _write_set(str(tmp_path), compress=compress)
    for split, (images, labels) in written.items():
        out = idx.load_idx_split(str(tmp_path), split)
        np.testing.assert_array_equal(out["image"], images[..., None])
        np.testing.assert_array_equal(out["label"], labels.astype(np.int32))
        assert out["image"].dtype == np.uint8 and out["label"].dtype == np.int32


def test_header_is_big_endian_and_bytes_are_c_order(tmp_path):
    # Bytes written by hand (not by write_idx): magic 0x00000803, dims 2, 2, 3 as big-endian uint32.
    body = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    body += bytes(range(12))
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(body)
    np.testing.assert_array_equal(idx.read_idx(str(path)), np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    wide = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + (258).to_bytes(4, "big")
    (tmp_path / "w").write_bytes(wide)
    np.testing.assert_array_equal(idx.read_idx(str(tmp_path / "w")), [1, 258])


def test_transpose_and_max_examples(tmp_path):
    written = _write_set(str(tmp_path))
    out = idx.load_idx_split(str(tmp_path), "train", transpose=True, max_examples=2)
    np.testing.assert_array_equal(out["image"][..., 0], written["train"][0][:2].transpose(0, 2, 1))


def test_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(20))
    with pytest.raises(idx.IdxError, match=r"bad-idx3-ubyte: not an IDX file \(magic number 12340803"):
        idx.read_idx(str(path))
    path.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(idx.IdxError, match="unknown IDX dtype code 0x07"):
        idx.read_idx(str(path))


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_or_padded_file_names_the_file(tmp_path, compress):
    _write_set(str(tmp_path), compress=compress)
    ext = ".gz" if compress else ""
    path = tmp_path / f"train-images-idx3-ubyte{ext}"
    raw = gzip.decompress(path.read_bytes()) if compress else path.read_bytes()
    for damaged, what in ((raw[:-7], "truncated"), (raw + b"\0", "has trailing bytes")):
        path.write_bytes(gzip.compress(damaged) if compress else damaged)
        with pytest.raises(idx.IdxError, match=f"train-images-idx3-ubyte{ext}: {what}"):
            idx.load_idx_split(str(tmp_path), "train")
    if compress:  # a download cut off mid-stream
        path.write_bytes(gzip.compress(raw)[:-30])
        with pytest.raises(idx.IdxError, match="damaged gzip stream"):
            idx.read_idx(str(path))


def test_counts_that_differ_name_both_files(tmp_path):
    _write_set(str(tmp_path))
    idx.write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), np.zeros(4, np.uint8))
    with pytest.raises(idx.IdxError, match=r"holds 5 images but .*train-labels-idx1-ubyte.gz holds 4 labels"):
        idx.load_idx_split(str(tmp_path), "train")


def test_missing_files_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        idx.load_idx_split(str(tmp_path), "test")
    with pytest.raises(ValueError, match=r"valid splits: \['train', 'test'\]"):
        idx.idx_paths(str(tmp_path), "validation")


def test_registry_reads_idx_from_data_dir(tmp_path):
    written = _write_set(str(tmp_path), shape=(28, 28))
    for name in ("fashion_mnist", "mnist"):
        out = registry.load(name, "test", data_dir=str(tmp_path))
        np.testing.assert_array_equal(out["image"][..., 0], written["test"][0])
    assert len(registry.load("mnist", "train", data_dir=str(tmp_path), max_examples=2)["label"]) == 2


def test_registry_names_both_ways_to_get_a_missing_set(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(ValueError) as err:
        registry.load("mnist", "train", data_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and "tfds build mnist" in message and "IDX files" in message
    assert registry._missing_message("fashion_mnist", None).count("apt-get install dataset-fashion-mnist") == 1


def test_registry_falls_back_to_tfds(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=8, policy=tfds.testing.MockPolicy.USE_CODE):
        out = registry.load("mnist", "test", data_dir=str(tmp_path))
    assert out["image"].shape == (8, 28, 28, 1) and out["image"].dtype == np.uint8


@needs_fashion
def test_real_fashion_mnist_files():
    train = registry.load("fashion_mnist", "train")
    test = registry.load("fashion_mnist", "test")
    assert train["image"].shape == (60000, 28, 28, 1) and test["image"].shape == (10000, 28, 28, 1)
    # Xiao et al. (2017): ten balanced classes, 6,000 train and 1,000 test images each.
    np.testing.assert_array_equal(np.bincount(train["label"]), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(test["label"]), np.full(10, 1000))
    assert train["image"].min() == 0 and train["image"].max() == 255
    # The mean pixel of the training set is 72.94 (0.2860 of 255), as widely used for normalisation.
    assert abs(train["image"].mean() / 255.0 - 0.2860) < 5e-4
