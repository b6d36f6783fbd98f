"""The fields every config has; family configs fill ``model`` and override the rest."""

from __future__ import annotations

import ml_collections

IMAGE_SHAPES = {
    "digits": (8, 8, 1),
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "binarized_mnist": (28, 28, 1),
    "emnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}


def base_config(family: str, dataset: str = "digits") -> ml_collections.ConfigDict:
    """``family``, ``dataset``, ``data_dir``, ``model`` (the family's typed config fields),
    ``optimizer`` (see ``experiments.optimizers``), ``train``, ``sample`` and ``eval``."""
    if dataset not in IMAGE_SHAPES:
        raise ValueError(f"unknown dataset {dataset!r}; valid choices: {sorted(IMAGE_SHAPES)}")
    c = ml_collections.ConfigDict()
    c.family = family
    c.dataset = dataset
    c.data_dir = ""
    c.image_shape = IMAGE_SHAPES[dataset]
    c.model = ml_collections.ConfigDict()
    c.optimizer = ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-3})
    c.train = ml_collections.ConfigDict(
        {"num_steps": 2000, "batch_size": 64, "seed": 0, "mode": "auto", "log_every": 50, "checkpoint_every": 500}
    )
    c.sample = ml_collections.ConfigDict({"num_images": 100, "seed": 1})
    c.eval = ml_collections.ConfigDict({"num_samples": 1000, "seed": 2})
    return c


def accelerator_run(c: ml_collections.ConfigDict, num_steps: int, batch_size: int) -> ml_collections.ConfigDict:
    """Sizes ``c`` for an accelerator run on a tfds set: ``train.mode`` stays ``'auto'`` (data-parallel
    over every local device), checkpoints every 5,000 steps, FID on 10,000 samples."""
    c.train.num_steps = num_steps
    c.train.batch_size = batch_size
    c.train.log_every = 100
    c.train.checkpoint_every = 5000
    c.sample.num_images = 64
    c.eval.num_samples = 10000
    return c
