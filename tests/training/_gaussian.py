"""A model whose maximum-likelihood solution is known in closed form, for the engine's tests.

x ~ N(mean, diag(exp(log_var))); the MLE is the sample mean and the biased sample variance.
Importable by a subprocess (the resume test) by putting this directory on sys.path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax import Likelihood, Model
from genjax.distributions import diag_gaussian_log_prob

DIM = 3


def make_gaussian(nan_at_step=None) -> Model:
    """``nan_at_step``: inject a NaN into the 'nll' term at that step (counted in the model state)."""

    def init(key, batch):
        del key
        return {
            "params": {"mean": jnp.zeros(DIM), "log_var": jnp.zeros(DIM)},
            "state": {"calls": jnp.zeros((), jnp.int32)},
        }

    def loss(params, state, batch, key):
        del key
        x = batch["x"]
        nll = -jnp.mean(diag_gaussian_log_prob(params["mean"], params["log_var"], x))
        if nan_at_step is not None:
            nll = nll * jnp.where(state["calls"] + 1 == nan_at_step, jnp.nan, 1.0)
        return nll, ({"nll": nll}, {"calls": state["calls"] + 1})

    def sample(params, state, key, n):
        return params["mean"] + jnp.exp(0.5 * params["log_var"]) * jax.random.normal(key, (n, DIM))

    def log_prob(params, state, batch, key):
        return diag_gaussian_log_prob(params["mean"], params["log_var"], batch["x"])

    return Model(init, loss, sample, log_prob, Likelihood.EXACT)


def dataset(n=256, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, DIM)) * np.array([0.5, 1.0, 2.0]) + np.array([1.0, -2.0, 0.5])).astype(np.float32)


def minibatches(x: np.ndarray, batch_size: int):
    """Deterministic step -> batch function (cycles through a fixed permutation per epoch)."""
    n = x.shape[0] // batch_size

    def data(step):
        epoch, i = divmod(step, n)
        perm = np.random.default_rng(epoch).permutation(x.shape[0])
        return {"x": x[perm[i * batch_size:(i + 1) * batch_size]]}

    return data


OPTIMIZER = optax.adam(0.05)
