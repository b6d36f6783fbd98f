"""Data and compilation conventions shared by the family specs."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from genjax.data import registry, transforms


def symmetric_batch(config):
    """Raw levels -> float32 images in [-1, 1] (continuous models)."""
    levels = registry.num_levels(config.dataset)

    def to_batch(raw: dict) -> dict:
        return {"image": np.asarray(transforms.to_symmetric(raw["image"], levels)), "label": raw["label"]}

    return to_batch


def binary_batch(threshold: int):
    """Raw levels -> float32 {0, 1} images (pixels above ``threshold``)."""

    def to_batch(raw: dict) -> dict:
        return {"image": (raw["image"] > threshold).astype(np.float32), "label": raw["label"]}

    return to_batch


def identity_images(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x, np.float32), -1.0, 1.0)


def binary_images(x: np.ndarray) -> np.ndarray:
    return 2.0 * np.asarray(x, np.float32) - 1.0


def averaged_log_prob(model):
    """``(train_state, batch, key) -> model.log_prob`` on the EMA params when kept (the params the samples
    come from), else the params."""

    def log_prob(state, batch, key):
        params = state.eval_params
        return model.log_prob(params, state.model_state, batch, key)

    return log_prob


def compiler_options(section) -> Optional[dict[str, Any]]:
    """The XLA ``compiler_options`` of a config section, ``None`` when unset: ``config.train``'s
    compile the train step, ``config.sample``'s the functions that run a trained network (sampling,
    the sigma search, test likelihoods). They are set apart because the fastest convolution kernels of
    a forward pass and of a train step differ."""
    return dict(section.get("compiler_options") or {}) or None
