"""GANs on [-1, 1] images; samples come from the EMA generator."""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import identity_images, symmetric_batch
from genjax.models import gan


def spec(config) -> FamilySpec:
    fields = config.model.to_dict()
    if "hidden" in fields:
        fields["hidden"] = tuple(fields["hidden"])
    mc = gan.GANConfig(data_shape=tuple(config.image_shape), **fields)
    return FamilySpec(gan.make_gan(mc), symmetric_batch(config), identity_images, nfe=1,
                      ema_decay=config.get("ema_decay", 0.999))
