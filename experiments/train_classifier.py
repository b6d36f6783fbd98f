"""Trains the evaluation classifier through genjax's own train step and saves it with orbax.

``python -m experiments.train_classifier`` writes the digits classifier shipped in
``genjax/metrics/weights/digits_classifier`` and prints its test accuracy. ``--dataset mnist
--data_dir DIR --out DIR`` trains one for a tfds set (for users with the data).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax import Model, training
from genjax.data import batching, registry, transforms
from genjax.metrics import features
from genjax.nn.classifier import ImageClassifier


def classifier_model(net: ImageClassifier, noise_std: float = 0.1) -> Model:
    """The classifier as a genjax Model: cross-entropy loss, with Gaussian input noise so that its
    features stay meaningful on imperfect generated images."""

    def init(key, batch):
        return {"params": net.init(key, batch["image"][:1])["params"], "state": {}}

    def loss(params, state, batch, key):
        x = batch["image"] + noise_std * jax.random.normal(key, batch["image"].shape)
        logits, _ = net.apply({"params": params}, x)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return ce, ({"accuracy": acc}, state)

    def sample(params, state, key, n):
        raise TypeError("a classifier does not generate samples")

    return Model(init, loss, sample)


def train(dataset: str, data_dir: str | None, out: str, steps: int, seed: int = 0) -> float:
    levels = registry.num_levels(dataset)
    prep = lambda raw: {
        "image": np.asarray(transforms.to_symmetric(raw["image"], levels)),
        "label": raw["label"],
    }
    train_set = prep(registry.load(dataset, "train", data_dir))
    test_set = prep(registry.load(dataset, "test", data_dir))
    num_classes = int(train_set["label"].max()) + 1
    net = ImageClassifier(num_classes=num_classes)
    state = training.fit(
        classifier_model(net),
        optax.adam(1e-3),
        batching.epoch_batches(train_set, 128, seed),
        key=jax.random.PRNGKey(seed),
        num_steps=steps,
        progress=False,
    )
    logits, _ = net.apply({"params": state.params}, test_set["image"])
    accuracy = float(np.mean(np.argmax(logits, -1) == test_set["label"]))
    features.save_classifier(
        out,
        state.params,
        num_classes=num_classes,
        accuracy=accuracy,
        dataset=dataset,
        image_shape=tuple(train_set["image"].shape[1:]),
    )
    return accuracy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out", default=features.DIGITS_CLASSIFIER_DIR)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args(argv)
    accuracy = train(args.dataset, args.data_dir, os.path.abspath(args.out), args.steps)
    print(f"test accuracy {accuracy:.4f}; saved to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
