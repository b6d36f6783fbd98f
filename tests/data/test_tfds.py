"""genjax.data.tfds, offline: tfds' mock data, a tiny set prepared here in the array_record format
(the real ``data_source`` path, no TensorFlow), and the errors for unprepared or tfrecord-only sets.

``tfds.testing.mock_data`` works without TensorFlow installed: with ``MockPolicy.USE_CODE`` it
patches ``tfds.data_source`` to generate random examples from the set's feature spec.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from genjax.data import tfds as gtfds

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A 6/3-example image set prepared with array_record; image i is filled with i, label i % 3."""
    data_dir = tmp_path_factory.mktemp("tfds")
    with tfds.core.registered.skip_registration():  # keep tfds' global registry clean

        class TinyImages(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")
            code_path = None  # no checksums file to look up beside a test module

            def _info(self):
                features = {
                    # Tensor, not Image: encoding PNGs would need TensorFlow.
                    "image": tfds.features.Tensor(shape=(4, 4), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=3),
                }
                return tfds.core.DatasetInfo(
                    builder=self, features=tfds.features.FeaturesDict(features)
                )

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples(6), "test": self._generate_examples(3)}

            def _generate_examples(self, n):
                for i in range(n):
                    yield i, {"image": np.full((4, 4), i, np.uint8), "label": i % 3}

        TinyImages(data_dir=str(data_dir), file_format="array_record").download_and_prepare()
    return data_dir


@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_mock_data_goes_through_load_tfds(name, shape):
    with tfds.testing.mock_data(num_examples=8, policy=tfds.testing.MockPolicy.USE_CODE):
        out = gtfds.load_tfds(name, "train")
        fewer = gtfds.load_tfds(name, "train", max_examples=3)
    assert out["image"].shape == (8,) + shape and out["image"].dtype == np.uint8
    assert out["label"].shape == (8,) and out["label"].dtype == np.int32
    assert 0 <= out["label"].min() and out["label"].max() <= 9
    assert out["image"].std() > 0  # random pixels, not a zero-filled stand-in
    np.testing.assert_array_equal(fewer["image"], out["image"][:3])  # mock data is deterministic


def test_unlabelled_set_gets_zero_labels():
    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        out = gtfds.load_tfds("binarized_mnist", "train")
    assert out["image"].shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(out["label"], np.zeros(4, np.int32))


def test_prepared_array_record_set_reads_without_tensorflow(tiny_dir):
    out = gtfds.load_tfds("tiny_images", "train", data_dir=str(tiny_dir))
    assert out["image"].shape == (6, 4, 4, 1) and out["image"].dtype == np.uint8  # channel added
    order = out["image"][:, 0, 0, 0].astype(np.int32)
    assert sorted(order.tolist()) == list(range(6))
    np.testing.assert_array_equal(out["label"], order % 3)  # each image with its own label
    np.testing.assert_array_equal(
        out["image"], np.broadcast_to(order[:, None, None, None], (6, 4, 4, 1))
    )
    assert len(gtfds.load_tfds("tiny_images", "test", data_dir=str(tiny_dir))["label"]) == 3
    assert len(gtfds.load_tfds("tiny_images", "train[:50%]", data_dir=str(tiny_dir))["label"]) == 3
    assert (
        len(
            gtfds.load_tfds("tiny_images", "train", data_dir=str(tiny_dir), max_examples=2)["label"]
        )
        == 2
    )


def test_unknown_split_lists_the_sets_splits(tiny_dir):
    with pytest.raises(ValueError, match=r"unknown split 'validation'.*\['train', 'test'\]"):
        gtfds.load_tfds("tiny_images", "validation", data_dir=str(tiny_dir))


def test_unprepared_set_says_which_and_how_to_prepare(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"'mnist' \(split 'train'\) is not prepared in .*"
        r"tfds build mnist --data_dir DIR --file_format=array_record",
    ):
        gtfds.load_tfds("mnist", "train", data_dir=str(tmp_path))


def test_tfrecord_only_set_without_tensorflow_says_how_to_rebuild(tiny_dir, tmp_path):
    # The same files declared as tfrecord: data_source refuses them and tfds.load needs TensorFlow.
    copy = tmp_path / "tiny_images"
    shutil.copytree(tiny_dir / "tiny_images", copy)
    info_path = copy / "1.0.0" / "dataset_info.json"
    info = json.loads(info_path.read_text())
    info["fileFormat"] = "tfrecord"
    info_path.write_text(json.dumps(info))
    with pytest.raises(ValueError, match="tensorflow is not installed.*--file_format=array_record"):
        gtfds.load_tfds("tiny_images", "train", data_dir=str(tmp_path))


def test_bad_max_examples():
    with pytest.raises(ValueError, match="max_examples must be >= 1"):
        gtfds.load_tfds("mnist", "train", max_examples=0)


def test_import_is_lazy():
    code = (
        "import sys, genjax.data.tfds, genjax.data.registry; "
        "print('tensorflow_datasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
