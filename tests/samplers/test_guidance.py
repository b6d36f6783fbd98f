"""Classifier-free guidance (Ho & Salimans, 2022) as one wrapper."""

import jax.numpy as jnp
import numpy as np

from genjax.samplers.guidance import guided


def test_guidance_scales_zero_and_one_are_the_unconditional_and_conditional_models():
    calls = []

    def net(x, t, label):
        calls.append(x.shape[0])
        return x * t[:, None] + label[:, None].astype(jnp.float32) ** 2

    x, t, y = jnp.ones((3, 2)), jnp.arange(3.0), jnp.array([0, 1, 2])
    null = 10
    uncond, cond = net(x, t, jnp.full_like(y, null)), net(x, t, y)
    calls.clear()
    np.testing.assert_allclose(guided(net, 0.0, null)(x, t, y), uncond)
    np.testing.assert_allclose(guided(net, 1.0, null)(x, t, y), cond)
    np.testing.assert_allclose(guided(net, 3.0, null)(x, t, y), uncond + 3.0 * (cond - uncond))
    assert calls == [6, 6, 6]  # one forward pass on the doubled batch per call
