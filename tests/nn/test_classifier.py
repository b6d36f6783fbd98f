"""The digits classifier: shipped weights accurate on the held-out split; features are the
penultimate layer."""

import chex
import jax
import numpy as np
import pytest

from genjax.data import digits, registry, transforms
from genjax.metrics import features
from genjax.nn.classifier import ImageClassifier

MIN_TEST_ACCURACY = 0.97


def test_shipped_weights_classify_the_digits_test_split():
    test = digits.load_digits("test")
    images = np.asarray(transforms.to_symmetric(test["image"], digits.NUM_LEVELS))
    extractor = features.digits_features()
    feats, probs = extractor.apply(images)
    chex.assert_shape([feats, probs], [(360, 128), (360, 10)])
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    accuracy = np.mean(probs.argmax(1) == test["label"])
    assert accuracy >= MIN_TEST_ACCURACY
    assert extractor.test_accuracy == pytest.approx(
        accuracy, abs=1e-6
    )  # meta.json says what we measure


@pytest.mark.skipif(
    registry.idx_directory("fashion_mnist") is None,
    reason="Fashion-MNIST IDX files missing: `apt-get install dataset-fashion-mnist`",
)
def test_shipped_fashion_mnist_weights_score_what_meta_json_says():
    test = registry.load("fashion_mnist", "test")
    extractor = features.dataset_features("fashion_mnist")
    _, probs = extractor.apply(np.asarray(transforms.to_symmetric(test["image"], 256)))
    accuracy = np.mean(probs.argmax(1) == test["label"])
    # Mirror-averaged features: 0.9309 on the 10,000 test images (one pass of the same weights 0.9282).
    assert accuracy >= 0.93
    assert extractor.test_accuracy == pytest.approx(accuracy, abs=1e-4)


def test_dataset_features_names_the_shipped_ones():
    with pytest.raises(ValueError, match=r"no classifier is shipped for dataset 'cifar10' \(shipped: \['digits', 'fashion_mnist'\]\)"):
        features.dataset_features("cifar10")


def test_logits_are_a_linear_head_on_the_returned_features():
    net = ImageClassifier(num_classes=7, channels=(4, 8), feature_dim=16)
    x = jax.random.uniform(jax.random.PRNGKey(0), (3, 8, 8, 1), minval=-1, maxval=1)
    params = jax.jit(net.init)(jax.random.PRNGKey(1), x)["params"]
    logits, feats = jax.jit(net.apply)({"params": params}, x)
    chex.assert_shape([logits, feats], [(3, 7), (3, 16)])
    head = params["head"]
    np.testing.assert_allclose(
        logits,
        np.asarray(feats) @ np.asarray(head["kernel"]) + np.asarray(head["bias"]),
        rtol=1e-5,
        atol=1e-6,
    )
    assert np.all(np.asarray(feats) >= 0)  # ReLU features


def test_missing_classifier_names_the_file_and_the_command_that_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.json.*experiments.tools.train_classifier"):
        features.load_classifier(str(tmp_path / "nothing"))


def test_two_convs_per_block_and_max_pooling_match_a_hand_written_forward_pass():
    net = ImageClassifier(num_classes=3, channels=(2, 4), feature_dim=5, pool_from=0, convs_per_block=2, pool="max")
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 8, 1), minval=-1, maxval=1)
    params = net.init(jax.random.PRNGKey(1), x)["params"]
    assert set(params) == {"conv_0", "conv_0_1", "conv_1", "conv_1_1", "features", "head"}

    def conv(h, p):
        out = jax.lax.conv_general_dilated(h, p["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return np.maximum(out + p["bias"], 0.0)

    def max_pool(h):  # 2x2 blocks, stride 2, by reshaping
        b, hh, ww, c = h.shape
        return np.asarray(h).reshape(b, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))

    h = np.asarray(x)
    for block in ("conv_0", "conv_1"):
        h = max_pool(conv(conv(h, params[block]), params[f"{block}_1"]))
    feats = np.maximum(h.reshape(2, -1) @ params["features"]["kernel"] + params["features"]["bias"], 0.0)
    logits = feats @ params["head"]["kernel"] + params["head"]["bias"]
    got_logits, got_feats = net.apply({"params": params}, x)
    np.testing.assert_allclose(got_feats, feats, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_logits, logits, rtol=1e-5, atol=1e-5)


def test_mirror_averaged_features_are_the_mean_over_the_image_and_its_mirror():
    plain = ImageClassifier(num_classes=3, channels=(2, 4), feature_dim=5, pool_from=0, pool="max")
    mirrored = plain.clone(mirror_average=True)
    x = jax.random.uniform(jax.random.PRNGKey(0), (3, 8, 8, 1), minval=-1, maxval=1)
    params = plain.init(jax.random.PRNGKey(1), x)["params"]
    chex.assert_trees_all_equal_shapes(params, mirrored.init(jax.random.PRNGKey(1), x)["params"])
    _, f = plain.apply({"params": params}, x)
    _, f_mirror = plain.apply({"params": params}, x[:, :, ::-1])
    logits, feats = mirrored.apply({"params": params}, x)
    np.testing.assert_allclose(feats, 0.5 * (f + f_mirror), rtol=1e-5, atol=1e-6)
    head = params["head"]
    np.testing.assert_allclose(logits, feats @ head["kernel"] + head["bias"], rtol=1e-5, atol=1e-6)
    _, feats_of_mirror = mirrored.apply({"params": params}, x[:, :, ::-1])
    np.testing.assert_allclose(feats_of_mirror, feats, rtol=1e-5, atol=1e-6)


def test_a_relative_classifier_path_loads(tmp_path, monkeypatch):
    net = ImageClassifier(num_classes=3, channels=(2,), feature_dim=4)
    x = np.zeros((1, 8, 8, 1), np.float32)
    params = net.init(jax.random.PRNGKey(0), x)["params"]
    features.save_classifier(str(tmp_path / "clf"), params, num_classes=3, accuracy=0.5, dataset="toy",
                             image_shape=(8, 8, 1), architecture={"channels": (2,), "feature_dim": 4})
    monkeypatch.chdir(tmp_path)
    extractor = features.load_classifier("clf")
    np.testing.assert_allclose(extractor.apply(x)[0], net.apply({"params": params}, x)[1], atol=1e-6)


def test_unknown_pooling_is_named():
    net = ImageClassifier(pool="median")
    with pytest.raises(ValueError, match="pool must be 'avg' or 'max', got 'median'"):
        net.init(jax.random.PRNGKey(0), np.zeros((1, 8, 8, 1), np.float32))
