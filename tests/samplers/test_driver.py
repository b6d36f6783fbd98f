"""The one scan driver: step indices, burn-in, thinning, keys and unroll."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.samplers import driver


def _counting_step(key, state, i):
    return {"n": state["n"] + 1, "i": i, "u": jax.random.uniform(key)}, i


def test_burn_in_and_thinning_keep_the_right_states():
    state = {"n": jnp.zeros((), jnp.int32), "i": jnp.zeros((), jnp.int32), "u": jnp.zeros(())}
    final, trace = driver.run(
        _counting_step, jax.random.PRNGKey(0), state, 12, burn_in=3, thin=4, trace_fn=lambda s, info: (s["n"], info)
    )
    assert int(final["n"]) == 15
    np.testing.assert_array_equal(trace[0], [7, 11, 15])  # states after steps 3+4, 3+8, 3+12
    np.testing.assert_array_equal(trace[1], [6, 10, 14])  # the zero-based index of that transition


def test_every_transition_gets_its_own_key_and_unroll_changes_nothing():
    state = {"n": jnp.zeros((), jnp.int32), "i": jnp.zeros((), jnp.int32), "u": jnp.zeros(())}
    run = lambda unroll: driver.run(
        _counting_step, jax.random.PRNGKey(1), state, 64, trace_fn=lambda s, _: s["u"], unroll=unroll
    )[1]
    a, b = jax.jit(lambda: run(1))(), jax.jit(lambda: run(8))()
    chex.assert_trees_all_equal(a, b)
    assert len(np.unique(np.asarray(a))) == 64


def test_chains_are_a_vmap_of_the_driver():
    def ar1(key, x, i):
        return 0.5 * x + jax.random.normal(key), None

    keys = jax.random.split(jax.random.PRNGKey(2), 4000)
    final = jax.jit(jax.vmap(lambda k: driver.run(ar1, k, 0.0, 50)[0]))(keys)
    # Stationary AR(1) with coefficient 0.5 has variance 1 / (1 - 0.25) = 4/3; 4,000 chains give a
    # standard error of about 0.03 on the variance.
    assert abs(float(jnp.var(final)) - 4.0 / 3.0) < 0.1
    assert abs(float(jnp.mean(final))) < 0.06


@pytest.mark.parametrize("kwargs", [dict(num_steps=-1), dict(num_steps=10, thin=3), dict(num_steps=4, thin=0)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="must"):
        driver.run(_counting_step, jax.random.PRNGKey(0), {}, **kwargs)
