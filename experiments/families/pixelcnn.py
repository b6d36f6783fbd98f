"""PixelCNN / gated PixelCNN on the [-1, 1] grid of the dataset's levels (exact likelihood)."""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import identity_images, symmetric_batch
from genjax.data import registry
from genjax.models import pixelcnn


def spec(config) -> FamilySpec:
    mc = pixelcnn.PixelCNNConfig(data_shape=tuple(config.image_shape), levels=registry.num_levels(config.dataset),
                                 **config.model.to_dict())
    h, w, c = mc.data_shape
    return FamilySpec(pixelcnn.make_pixelcnn(mc), symmetric_batch(config), identity_images, nfe=h * w * c)
