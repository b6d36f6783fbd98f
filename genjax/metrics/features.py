"""Offline feature extractors for evaluation: the shipped digits classifier (trained by genjax
itself, ``experiments/tools/train_classifier.py``) and the FID Inception-v3 from a weights file the
user converted (``experiments/tools/convert_inception.py``). Nothing here downloads."""

from __future__ import annotations

import json
import os
from typing import Callable, NamedTuple

import jax
import numpy as np

from genjax.nn import inception
from genjax.nn.classifier import ImageClassifier

__all__ = [
    "DIGITS_CLASSIFIER_DIR",
    "FASHION_MNIST_CLASSIFIER_DIR",
    "SHIPPED_CLASSIFIERS",
    "FeatureExtractor",
    "load_classifier",
    "save_classifier",
    "digits_features",
    "fashion_mnist_features",
    "dataset_features",
    "inception_features",
]

DIGITS_CLASSIFIER_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "weights", "digits_classifier"
)
"""The digits classifier shipped inside the package (orbax params + ``meta.json``)."""
FASHION_MNIST_CLASSIFIER_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "weights", "fashion_mnist_classifier"
)
"""The Fashion-MNIST classifier shipped inside the package."""
SHIPPED_CLASSIFIERS = {"digits": DIGITS_CLASSIFIER_DIR, "fashion_mnist": FASHION_MNIST_CLASSIFIER_DIR}
"""Dataset name -> directory of its shipped classifier."""


class FeatureExtractor(NamedTuple):
    """``apply(images) -> (features [N, F] float32, probs [N, K] float32)`` and where it came from.

    ``images``: float32 ``[N, H, W, C]`` in [-1, 1], evaluated in fixed-size batches by one jitted
    forward. ``test_accuracy`` is NaN where unknown (Inception).
    """

    apply: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    name: str
    test_accuracy: float


def save_classifier(
    path: str,
    params,
    *,
    num_classes: int,
    accuracy: float,
    dataset: str,
    image_shape: tuple[int, int, int],
    architecture: dict | None = None,
) -> None:
    """Writes :class:`~genjax.nn.classifier.ImageClassifier` params with orbax and ``meta.json``
    (classes, test accuracy, dataset, input shape, and the network's other fields in
    ``architecture``) under ``path``."""
    import orbax.checkpoint as ocp

    path = os.path.abspath(path)
    os.makedirs(path, exist_ok=True)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(os.path.join(path, "params"), params, force=True)
    ckpt.wait_until_finished()
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump(
            {
                "num_classes": num_classes,
                "test_accuracy": accuracy,
                "dataset": dataset,
                "image_shape": list(image_shape),
                "architecture": dict(architecture or {}),
            },
            f,
        )


def load_classifier(path: str) -> FeatureExtractor:
    """Loads a classifier saved by :func:`save_classifier`; its params are restored once and closed
    over by the returned ``apply`` (no module-level cache).

    Raises:
      FileNotFoundError: naming the missing file and the command that makes it.
    """
    path = os.path.abspath(path)  # orbax restores from absolute paths only
    meta_path = os.path.join(path, "meta.json")
    if not os.path.exists(meta_path):
        raise FileNotFoundError(
            f"no classifier at {path} (missing {meta_path}); make it with "
            f"`python -m experiments.tools.train_classifier --out {path}` "
            "(add --dataset NAME --data_dir DIR for tfds sets)"
        )
    import orbax.checkpoint as ocp

    with open(meta_path) as f:
        meta = json.load(f)
    image_shape = tuple(meta["image_shape"])
    net = ImageClassifier(num_classes=meta["num_classes"], **meta.get("architecture", {}))
    # The saved arrays record the device they were written from; restoring onto this process's
    # default device lets weights written on a CPU load on a GPU and vice versa.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
        jax.eval_shape(
            lambda: net.init(jax.random.PRNGKey(0), np.zeros((1, *image_shape), np.float32))["params"]
        ),
    )
    params = ocp.StandardCheckpointer().restore(os.path.join(path, "params"), target)

    apply = _batched(net.apply, {"params": params}, image_shape, 500)
    return FeatureExtractor(apply, f"{meta['dataset']}-classifier", float(meta["test_accuracy"]))


def _batched(
    net_apply, variables, image_shape, batch_size: int
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Wraps ``net_apply(variables, x) -> (logits, features)`` as a batched numpy ``apply``; the
    last batch is padded so that one compiled shape serves every call. Variables are passed as
    arguments, not closed over, so XLA does not fold millions of constants."""

    @jax.jit
    def forward(variables, x):
        logits, feats = net_apply(variables, x)
        return feats, jax.nn.softmax(logits, -1)

    def apply(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or (image_shape is not None and images.shape[1:] != image_shape):
            raise ValueError(
                f"images must be [N, {', '.join(map(str, image_shape or 'HWC'))}], "
                f"got {images.shape}"
            )
        feats, probs = [], []
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size]
            pad = batch_size - len(x)
            f, p = forward(
                variables,
                np.concatenate([x, np.zeros((pad, *x.shape[1:]), np.float32)]) if pad else x,
            )
            feats.append(np.asarray(f)[: len(x)])
            probs.append(np.asarray(p)[: len(x)])
        return np.concatenate(feats), np.concatenate(probs)

    return apply


def digits_features() -> FeatureExtractor:
    """The shipped digits classifier (8x8x1 inputs in [-1, 1])."""
    return load_classifier(DIGITS_CLASSIFIER_DIR)


def fashion_mnist_features() -> FeatureExtractor:
    """The shipped Fashion-MNIST classifier (28x28x1 inputs in [-1, 1])."""
    return load_classifier(FASHION_MNIST_CLASSIFIER_DIR)


def dataset_features(dataset: str) -> FeatureExtractor:
    """The shipped classifier of ``dataset``.

    Raises:
      ValueError: when no classifier is shipped for it (naming those that are, and how to train one).
    """
    if dataset not in SHIPPED_CLASSIFIERS:
        raise ValueError(
            f"no classifier is shipped for dataset {dataset!r} (shipped: {sorted(SHIPPED_CLASSIFIERS)}); "
            f"train one with `python -m experiments.tools.train_classifier --dataset {dataset} --out DIR` and "
            "pass load_classifier(DIR), or use inception_features"
        )
    return load_classifier(SHIPPED_CLASSIFIERS[dataset])


def inception_features(weights_path: str, batch_size: int = 50) -> FeatureExtractor:
    """The FID Inception-v3 (pool3 features [N, 2048], softmax over 1008 classes) from converted
    pytorch-fid weights; images of any size are resized to 299x299, grey ones repeated to RGB.

    Raises:
      FileNotFoundError: when ``weights_path`` is missing, saying how to make it.
    """
    variables = inception.load_inception_variables(weights_path)
    apply = _batched(inception.InceptionV3().apply, variables, None, batch_size)
    return FeatureExtractor(apply, "inception-v3-pool3", float("nan"))
