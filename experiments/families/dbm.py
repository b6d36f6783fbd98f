"""Deep Boltzmann machine on binarized images."""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import binary_batch, binary_images
from genjax.models import dbm


def spec(config) -> FamilySpec:
    fields = config.model.to_dict()
    fields["hidden"] = tuple(fields["hidden"])
    model_config = dbm.DBMConfig(image_shape=tuple(config.image_shape), **fields)
    return FamilySpec(dbm.make_dbm(model_config), binary_batch(config.binarize_threshold), binary_images,
                      nfe=model_config.sample_steps)
