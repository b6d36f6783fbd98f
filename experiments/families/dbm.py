"""Deep Boltzmann machine on binarized images.

As for the RBM (``experiments.families.rbm``), samples and the likelihood bound use the params averaged
over the last steps (``config.ema_decay``, default 0.99).
"""

from __future__ import annotations

from experiments.families import FamilySpec
from experiments.families.common import averaged_log_prob, binary_batch, binary_images
from genjax.models import dbm


def spec(config) -> FamilySpec:
    fields = config.model.to_dict()
    fields["hidden"] = tuple(fields["hidden"])
    model_config = dbm.DBMConfig(image_shape=tuple(config.image_shape), **fields)
    model = dbm.make_dbm(model_config)
    return FamilySpec(model, binary_batch(config.binarize_threshold), binary_images,
                      nfe=model_config.sample_steps, ema_decay=config.get("ema_decay", 0.99),
                      log_prob=averaged_log_prob(model), likelihood=model.likelihood.value)
