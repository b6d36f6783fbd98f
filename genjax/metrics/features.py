"""Offline feature extractors for evaluation: the shipped digits classifier (trained by genjax
itself, ``experiments/train_classifier.py``) and loaders that never download."""

from __future__ import annotations

import json
import os
from typing import Callable, NamedTuple

import jax
import numpy as np

from genjax.nn.classifier import ImageClassifier

__all__ = ["DIGITS_CLASSIFIER_DIR", "FeatureExtractor", "load_classifier", "save_classifier", "digits_features"]

DIGITS_CLASSIFIER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "digits_classifier")
"""The digits classifier shipped inside the package (orbax params + ``meta.json``)."""


class FeatureExtractor(NamedTuple):
    """``apply(images) -> (features [N, F] float32, probs [N, K] float32)`` and where it came from.

    ``images``: float32 ``[N, H, W, C]`` in [-1, 1] (evaluated in batches of 500).
    """

    apply: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    name: str
    test_accuracy: float


def save_classifier(path: str, params, *, num_classes: int, accuracy: float, dataset: str) -> None:
    """Writes params with orbax and ``meta.json`` (classes, test accuracy, dataset) under ``path``."""
    import orbax.checkpoint as ocp

    path = os.path.abspath(path)
    os.makedirs(path, exist_ok=True)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(os.path.join(path, "params"), params, force=True)
    ckpt.wait_until_finished()
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump({"num_classes": num_classes, "test_accuracy": accuracy, "dataset": dataset}, f)


def load_classifier(path: str, image_shape: tuple[int, int, int] = (8, 8, 1)) -> FeatureExtractor:
    """Loads a classifier saved by :func:`save_classifier`.

    Raises:
      FileNotFoundError: naming the missing file and the command that makes it.
    """
    meta_path = os.path.join(path, "meta.json")
    if not os.path.exists(meta_path):
        raise FileNotFoundError(
            f"no classifier at {path} (missing {meta_path}); make it with "
            f"`python -m experiments.train_classifier --out {path}` (add --dataset NAME --data_dir DIR for tfds sets)"
        )
    import orbax.checkpoint as ocp

    with open(meta_path) as f:
        meta = json.load(f)
    net = ImageClassifier(num_classes=meta["num_classes"])
    target = jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), np.zeros((1, *image_shape), np.float32))["params"])
    params = ocp.StandardCheckpointer().restore(os.path.join(path, "params"), target)

    @jax.jit
    def forward(x):
        logits, feats = net.apply({"params": params}, x)
        return feats, jax.nn.softmax(logits, -1)

    def apply(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != tuple(image_shape):
            raise ValueError(f"images must be [N, {', '.join(map(str, image_shape))}], got {images.shape}")
        outs = [forward(images[i:i + 500]) for i in range(0, len(images), 500)]
        return np.concatenate([np.asarray(o[0]) for o in outs]), np.concatenate([np.asarray(o[1]) for o in outs])

    return FeatureExtractor(apply, f"{meta['dataset']}-classifier", float(meta["test_accuracy"]))


def digits_features() -> FeatureExtractor:
    """The shipped digits classifier (8x8x1 inputs in [-1, 1])."""
    return load_classifier(DIGITS_CLASSIFIER_DIR)
