"""Deep Boltzmann machine on binarized images.

As for the RBM (``experiments.families.rbm``), samples and the likelihood bound use the params averaged
over the last steps (``config.ema_decay``, default 0.99). With ``config.init_from_rbm`` the DBM starts
from a trained RBM run (``config.teacher_config`` trained in ``config.teacher_workdir``, which
``experiments.compare`` points at that row's directory) stacked by ``genjax.models.dbm.from_rbm``.
"""

from __future__ import annotations

import importlib

import jax

from experiments.families import FamilySpec
from experiments.families.common import averaged_log_prob, binary_batch, binary_images
from genjax.models import dbm


def _rbm_params(config):
    from experiments import run  # the RBM is restored like any run

    rbm_config = importlib.import_module(f"experiments.configs.{config.teacher_config}").get_config()
    rbm_config.dataset = config.dataset
    _, state = run.restore(rbm_config, config.teacher_workdir)
    return jax.device_get(state.eval_params)


def spec(config) -> FamilySpec:
    fields = config.model.to_dict()
    fields["hidden"] = tuple(fields["hidden"])
    model_config = dbm.DBMConfig(image_shape=tuple(config.image_shape), **fields)
    initial = None
    if config.get("init_from_rbm", False):
        initial = dbm.from_rbm(jax.random.PRNGKey(config.train.seed), model_config, _rbm_params(config))
    model = dbm.make_dbm(model_config, initial)
    return FamilySpec(model, binary_batch(config.binarize_threshold), binary_images,
                      nfe=model_config.sample_steps, ema_decay=config.get("ema_decay", 0.99),
                      log_prob=averaged_log_prob(model), likelihood=model.likelihood.value)
