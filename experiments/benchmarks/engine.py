"""Training-engine overhead: ``fit`` against a hand-written jitted optax loop on the same model.

The model is the closed-form Gaussian (x ~ N(mean, diag var), batch of 256 x 64 dims), small enough
that the step is dominated by dispatch and the loop itself, which is what the engine adds. Every
timed call is a whole run: building and compiling the step included, on both sides. Rows:
``fit`` under jit, sharded jit and pmap (4 host devices are forced when the script starts, as in
the tests), several steps per call, and the cost of the fused EMA update.

``python -m experiments.benchmarks.engine [--quick]``
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # before jax is imported: 4 host devices for the data-parallel rows
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.benchmarks import harness
from genjax import Likelihood, Model, training
from genjax.distributions import diag_gaussian_log_prob

DIM, BATCH = 64, 256


def gaussian_model() -> Model:
    """x ~ N(mean, diag(exp(log_var))); the MLE is the sample mean and variance."""

    def init(key, batch):
        return {"params": {"mean": jnp.zeros(DIM), "log_var": jnp.zeros(DIM)}, "state": {}}

    def loss(params, state, batch, key):
        nll = -jnp.mean(diag_gaussian_log_prob(params["mean"], params["log_var"], batch["x"]))
        return nll, ({}, state)

    def sample(params, state, key, n):
        return params["mean"] + jnp.exp(0.5 * params["log_var"]) * jax.random.normal(key, (n, DIM))

    return Model(init, loss, sample, None, Likelihood.EXACT)


def _data():
    x = np.random.default_rng(0).normal(size=(BATCH, DIM)).astype(np.float32)
    return lambda step: {"x": x}


def _fit_case(steps: int, **kwargs):
    def setup():
        model, data = gaussian_model(), _data()

        def run():
            return training.fit(model, optax.adam(1e-2), data, key=jax.random.PRNGKey(0), num_steps=steps,
                                progress=False, log_every=steps, checkpoint_every=steps, **kwargs).params

        return run

    return setup


def _hand_loop(steps: int):
    """What a user writes without the engine; it compiles its step on every call, as ``fit`` does."""

    def setup():
        model, data = gaussian_model(), _data()
        opt = optax.adam(1e-2)

        def run():
            @jax.jit
            def step(params, opt_state, x):
                grads = jax.grad(lambda p: model.loss(p, {}, {"x": x}, None)[0])(params)
                updates, opt_state = opt.update(grads, opt_state, params)
                return optax.apply_updates(params, updates), opt_state

            params = model.init(None, None)["params"]
            opt_state = opt.init(params)
            for s in range(steps):
                params, opt_state = step(params, opt_state, data(s)["x"])
            return params

        return run

    return setup


def cases(quick: bool) -> list[harness.Case]:
    steps = 20 if quick else 500
    n = jax.local_device_count()
    rows = [
        harness.Case(f"fit jit, {steps} steps", steps, "steps", _fit_case(steps), _hand_loop(steps), "hand-jit-loop"),
        harness.Case(f"fit jit + EMA, {steps} steps", steps, "steps", _fit_case(steps, ema_decay=0.999),
                     _fit_case(steps), "fit-no-ema"),
        harness.Case(f"fit jit, 10 steps/call, {steps} steps", steps, "steps", _fit_case(steps, steps_per_call=10),
                     _fit_case(steps), "fit-1-step/call"),
    ]
    if n > 1:
        rows += [
            harness.Case(f"fit shard x{n}, {steps} steps", steps, "steps", _fit_case(steps, mode="shard"),
                         _fit_case(steps), "fit-jit"),
            harness.Case(f"fit pmap x{n}, {steps} steps", steps, "steps", _fit_case(steps, mode="pmap"),
                         _fit_case(steps), "fit-jit"),
        ]
    return rows


def main(argv=None):
    return harness.main(cases, argv, title="engine")


if __name__ == "__main__":
    main(sys.argv[1:])
