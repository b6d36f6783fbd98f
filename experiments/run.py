"""Config -> library calls: ``train``, ``sample`` and ``evaluate`` one family on one dataset.

``main.py`` only parses flags and calls these; they read nothing global, so notebooks and the
comparison call them directly with a ConfigDict and a workdir.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Optional

import jax
import numpy as np

from experiments import grids
from experiments.families import FamilySpec, get_spec
from experiments.optimizers import make_optimizer
from genjax import training
from genjax.data import batching, registry, transforms
from genjax.metrics import likelihood
from genjax.samplers import ode

__all__ = ["train", "sample", "evaluate", "restore", "RunError", "load_split"]

MODES = ("train", "sample", "evaluate")


class RunError(RuntimeError):
    """A user-facing problem of a run (missing checkpoint, unprepared data); printed as one line."""


def load_split(config, split: str) -> dict[str, np.ndarray]:
    """Raw arrays of ``config.dataset`` (``{'image': uint8 levels, 'label': int32}``)."""
    kwargs = {"data_dir": config.get("data_dir") or None}
    try:
        return registry.load(config.dataset, split, **kwargs)
    except ValueError as err:
        raise RunError(str(err)) from err


def _mode(config) -> str:
    mode = config.train.get("mode", "auto")
    if mode == "auto":
        return "shard" if jax.local_device_count() > 1 else "jit"
    return mode


def train(config, workdir: str, *, progress: bool = True) -> training.TrainState:
    """Trains (or resumes) ``config.family`` on ``config.dataset`` into ``workdir``."""
    spec = get_spec(config)
    arrays = spec.to_batch(load_split(config, "train"))
    data = batching.epoch_batches(
        arrays, config.train.batch_size, config.train.seed,
        process_index=jax.process_index(), process_count=jax.process_count(),
    )
    return training.fit(
        spec.model,
        make_optimizer(config.optimizer.to_dict()),
        data,
        key=jax.random.PRNGKey(config.train.seed),
        num_steps=config.train.num_steps,
        workdir=workdir,
        ema_decay=spec.ema_decay,
        mode=_mode(config),
        log_every=config.train.log_every,
        checkpoint_every=config.train.checkpoint_every,
        config=config.to_dict(),
        progress=progress,
    )


def restore(config, workdir: str) -> tuple[FamilySpec, training.TrainState]:
    """The family spec and the latest train state of ``workdir``.

    Raises:
      RunError: when ``workdir`` has no checkpoint.
    """
    spec = get_spec(config)
    ckpt = training.Checkpointer(os.path.join(workdir, "checkpoints"))
    if ckpt.latest_step() is None:
        raise RunError(f"no checkpoint in {workdir}/checkpoints: run --mode train with this workdir first")
    init_batch = {k: v[: config.train.batch_size] for k, v in spec.to_batch(load_split(config, "train")).items()}
    template = training.create_train_state(
        spec.model, make_optimizer(config.optimizer.to_dict()), jax.random.PRNGKey(0), init_batch,
        ema_decay=spec.ema_decay,
    )
    if _mode(config) == "pmap":
        template = template.replace(
            model_state=jax.tree.map(lambda x: np.broadcast_to(x, (jax.local_device_count(),) + np.shape(x)),
                                     template.model_state)
        )
    state, _ = ckpt.restore(template)
    ckpt.close()
    return spec, state


def _draw(spec: FamilySpec, state, key, n: int) -> np.ndarray:
    if spec.sample is not None:
        out = spec.sample(state, key, n)
    else:
        params = state.ema_params if state.ema_params is not None else state.params
        out = spec.model.sample(params, state.model_state, key, n)
    return np.asarray(spec.to_images(np.asarray(out)))


def sample(config, workdir: str, n: Optional[int] = None) -> str:
    """Draws samples from the latest checkpoint and writes ``workdir/samples.png``."""
    spec, state = restore(config, workdir)
    n = n or config.sample.num_images
    images = _draw(spec, state, jax.random.PRNGKey(config.sample.seed), n)
    return grids.save_grid(images, os.path.join(workdir, "samples.png"), ncol=min(n, 10))


def evaluate(config, workdir: str) -> dict[str, Any]:
    """FID / KID / precision / recall under the digits classifier and the test likelihood, written to
    ``workdir/eval.json``.

    An ODE likelihood comes with its solver's error estimate; bits/dim whose estimated error exceeds
    ``config.eval.likelihood_tolerance`` (default 0.01 bits/dim) are refused, not reported
    (:func:`genjax.metrics.likelihood.likelihood_report` lists the fields).
    """
    from genjax.metrics import evaluation

    spec, state = restore(config, workdir)
    n = config.eval.num_samples
    _draw(spec, state, jax.random.PRNGKey(config.eval.seed + 1), n)  # compile; timed apart below
    t0 = time.perf_counter()
    images = _draw(spec, state, jax.random.PRNGKey(config.eval.seed), n)
    seconds = time.perf_counter() - t0
    test = load_split(config, "test")
    reference = np.asarray(transforms.to_symmetric(test["image"], registry.num_levels(config.dataset)))
    result = evaluation.evaluate_images(images, reference, reference_name=f"{config.dataset}/test")
    result["sample_seconds_per_1000"] = 1000.0 * seconds / n
    result["nfe"] = spec.nfe
    batch = spec.to_batch(test)
    lp, solver_error = None, None
    if spec.log_prob is not None:
        lp = spec.log_prob(state, batch, jax.random.PRNGKey(1))
        if isinstance(lp, ode.LogLikelihood):
            result["likelihood_nfe"] = int(np.max(lp.nfe))
            lp, solver_error = lp.log_prob, lp.error
        result["likelihood"] = spec.likelihood
    elif spec.model.log_prob is not None:
        lp = spec.model.log_prob(state.params, state.model_state, batch, jax.random.PRNGKey(1))
        result["likelihood"] = spec.model.likelihood.value
    if lp is not None:
        result.update(likelihood.likelihood_report(
            lp, int(np.prod(test["image"].shape[1:])), solver_error_nats=solver_error,
            steps=spec.likelihood_steps,
            tolerance_bits_per_dim=config.eval.get("likelihood_tolerance", 0.01),
        ))
    with open(os.path.join(workdir, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result
