"""RBM on binarized images: pixels above ``config.binarize_threshold`` are on."""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import binary_batch, binary_images
from genjax.models import rbm


def spec(config) -> FamilySpec:
    model_config = rbm.RBMConfig(image_shape=tuple(config.image_shape), **config.model.to_dict())
    return FamilySpec(rbm.make_rbm(model_config), binary_batch(config.binarize_threshold), binary_images,
                      nfe=model_config.sample_steps)
