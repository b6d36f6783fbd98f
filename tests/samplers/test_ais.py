"""AIS on a path whose normalizers are known in closed form (independent Bernoulli units)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.samplers import ais, gibbs

D = 30


def _problem():
    rng = np.random.default_rng(0)
    a0 = jnp.asarray(rng.normal(0, 0.5, D), jnp.float32)  # base logits
    a1 = jnp.asarray(rng.normal(0, 3.0, D), jnp.float32)  # target logits, far from the base
    log_f = lambda x, beta: x @ ((1.0 - beta) * a0 + beta * a1)
    transition = lambda key, x, beta: gibbs.bernoulli(
        key, jnp.broadcast_to((1.0 - beta) * a0 + beta * a1, x.shape)
    )
    log_z0 = jnp.sum(jax.nn.softplus(a0))
    exact = float(jnp.sum(jax.nn.softplus(a1)))
    return a0, log_f, transition, log_z0, exact


def _estimates(k, seeds=4, m=256):
    """``[seeds, 2]``: the error of log Z_hat and its reported standard error, one jit per K."""
    a0, log_f, transition, log_z0, exact = _problem()

    def one(key):
        k0, k1 = jax.random.split(key)
        x0 = gibbs.bernoulli(k0, jnp.broadcast_to(a0, (m, D)))
        log_w = ais.ais_log_weights(k1, x0, log_f, transition, ais.betas(k))
        return ais.log_z_estimate(log_w, log_z0)

    log_z, std = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(0), seeds))
    return np.stack([np.asarray(log_z, np.float64) - exact, np.asarray(std)], axis=1)


def test_estimate_is_close_and_error_shrinks_with_more_intermediate_distributions():
    errs = {k: _estimates(k) for k in (4, 2000)}
    rms = {k: float(np.sqrt(np.mean(e[:, 0] ** 2))) for k, e in errs.items()}
    # Measured: rms about 1.6 nats at K=4 and 0.02 at K=2000 (K=40: 0.33); 256 runs on 30 units.
    assert rms[2000] < 0.06, rms
    assert rms[2000] < rms[4] / 10, rms
    # The reported standard error has the size of the actual error at the largest K.
    assert 0.3 * rms[2000] < np.mean(errs[2000][:, 1]) < 3 * rms[2000] + 0.01


def test_betas_follow_the_three_stage_spacing():
    b = np.asarray(ais.betas(150))
    assert b.shape == (151,) and b[0] == 0.0 and b[-1] == 1.0 and np.all(np.diff(b) > 0)
    assert np.sum(b < 0.5) == 10 and np.sum((b >= 0.5) & (b < 0.9)) == 40
    with pytest.raises(ValueError, match="num_intermediate"):
        ais.betas(2)


def test_log_z_estimate_matches_a_direct_computation():
    log_w = jnp.array([-1.0, 0.5, 2.0, -3.0])
    log_z, std = ais.log_z_estimate(log_w, jnp.float32(1.5))
    w = np.exp(np.asarray(log_w, np.float64))
    np.testing.assert_allclose(float(log_z), 1.5 + np.log(w.mean()), rtol=1e-6)
    np.testing.assert_allclose(float(std), w.std() / (2.0 * w.mean()), rtol=1e-5)
