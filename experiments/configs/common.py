"""The fields every config has; family configs fill ``model`` and override the rest."""

from __future__ import annotations

import ml_collections


def base_config(family: str, dataset: str = "digits") -> ml_collections.ConfigDict:
    """``family``, ``dataset``, ``data_dir``, ``model`` (the family's typed config fields),
    ``optimizer`` (see ``experiments.optimizers``), ``train``, ``sample`` and ``eval``."""
    c = ml_collections.ConfigDict()
    c.family = family
    c.dataset = dataset
    c.data_dir = ""
    c.image_shape = (8, 8, 1) if dataset == "digits" else (28, 28, 1)
    c.model = ml_collections.ConfigDict()
    c.optimizer = ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-3})
    c.train = ml_collections.ConfigDict(
        {"num_steps": 2000, "batch_size": 64, "seed": 0, "mode": "auto", "log_every": 50, "checkpoint_every": 500}
    )
    c.sample = ml_collections.ConfigDict({"num_images": 100, "seed": 1})
    c.eval = ml_collections.ConfigDict({"num_samples": 1000, "seed": 2})
    return c
