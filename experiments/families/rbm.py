"""RBM on binarized images: pixels above ``config.binarize_threshold`` are on.

The params are averaged over the last steps (``config.ema_decay``, default 0.99) and both the samples and
the AIS likelihood use the average. PCD at a constant learning rate leaves weights whose own Gibbs
equilibrium is far from the data although the persistent chains look good (they mix through the weight
updates, Tieleman & Hinton 2009): on digits the 750-step model's samples score FID 586 against the
binarized test images, its averaged weights' 114.
"""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import averaged_log_prob, binary_batch, binary_images
from genjax.models import rbm


def spec(config) -> FamilySpec:
    model_config = rbm.RBMConfig(image_shape=tuple(config.image_shape), **config.model.to_dict())
    model = rbm.make_rbm(model_config)
    return FamilySpec(model, binary_batch(config.binarize_threshold), binary_images,
                      nfe=model_config.sample_steps, ema_decay=config.get("ema_decay", 0.99),
                      log_prob=averaged_log_prob(model), likelihood=model.likelihood.value)
