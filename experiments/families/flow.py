"""Normalizing flows (NICE, RealNVP) on [-1, 1] images dequantized inside the model."""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import identity_images, symmetric_batch
from genjax.data import registry
from genjax.models import flows


def spec(config) -> FamilySpec:
    fields = config.model.to_dict()
    fields["hidden"] = tuple(fields.get("hidden", (256, 256)))
    model_config = flows.FlowConfig(data_shape=tuple(config.image_shape), num_levels=registry.num_levels(config.dataset),
                                    **fields)
    return FamilySpec(flows.make_flow(model_config), symmetric_batch(config), identity_images, nfe=1)
