"""Pixel-by-pixel PixelCNN sampling: ours (one jitted ``lax.fori_loop`` over the H W C values)
vs the naive implementation a user would write, a Python loop over the values that calls the
same jitted network and samples each value eagerly.

Both sides run the same Flax network with the same params (digits shape 8x8x1, 17 levels, softmax
output) and do the same ``H W C`` network evaluations per batch; the ratio is the cost of the
Python loop's dispatches and host round trips against one compiled loop.

At 28x28 (the Fashion-MNIST comparison's network, ``experiments/configs/pixelcnn_fashion_mnist.py``)
ours evaluates the network on the ``receptive_rows + 1`` rows ending at the current row, against
the same compiled loop on the whole image: the same samples (bit for bit) for fewer rows.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from experiments.benchmarks import harness
from experiments.configs import pixelcnn_fashion_mnist
from genjax.models import pixelcnn
from genjax.samplers import autoregressive

_SHAPE = (8, 8, 1)


def _config(variant: str, features: int, num_layers: int) -> pixelcnn.PixelCNNConfig:
    return pixelcnn.PixelCNNConfig(
        variant=variant, data_shape=_SHAPE, levels=17, features=features, num_layers=num_layers
    )


def _params(config: pixelcnn.PixelCNNConfig):
    model = pixelcnn.make_pixelcnn(config)
    batch = {"image": jnp.zeros((1,) + config.data_shape)}
    return jax.jit(model.init)(jax.random.PRNGKey(0), batch)["params"]


def _ours(config: pixelcnn.PixelCNNConfig, batch: int):
    model = pixelcnn.make_pixelcnn(config)
    params = _params(config)
    sample = jax.jit(model.sample, static_argnums=3)
    key = jax.random.PRNGKey(1)
    return lambda: sample(params, {}, key, batch)


def _python_loop(config: pixelcnn.PixelCNNConfig, batch: int):
    params = _params(config)
    net = jax.jit(pixelcnn.dist_fn(config, params))
    draw = autoregressive.categorical_sampler(config.levels)
    h, w, c = _SHAPE
    keys = jax.random.split(jax.random.PRNGKey(1), h * w * c)

    def run():
        x = jnp.zeros((batch,) + _SHAPE)
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    logits = net(x)[:, i, j, ch]
                    x = x.at[:, i, j, ch].set(draw(keys[(i * w + j) * c + ch], logits))
        return x

    return run


def _whole_image(config: pixelcnn.PixelCNNConfig, batch: int):
    params = _params(config)
    x0 = jnp.zeros((batch,) + config.data_shape)
    sample = jax.jit(
        lambda k: autoregressive.sample_autoregressive(
            k, pixelcnn.dist_fn(config, params), pixelcnn.value_sampler(config), x0
        )
    )
    key = jax.random.PRNGKey(1)
    return lambda: sample(key)


def _fashion_config() -> pixelcnn.PixelCNNConfig:
    c = pixelcnn_fashion_mnist.get_config()
    return pixelcnn.PixelCNNConfig(data_shape=tuple(c.image_shape), levels=256, **c.model)


def sampling_cases(quick: bool) -> list[harness.Case]:
    """Images per second of pixel-by-pixel sampling (batch 64) and the time of one full image
    (batch 1), ours against the Python loop; at 28x28 (batch 10: one whole-image call is about
    20 CPU seconds), our row windows against whole-image evaluations. ``quick``: a tiny network,
    ours only."""
    if quick:
        config = _config("gated", 8, 1)
        return [
            harness.Case(
                "pixelcnn gated quick b4", 4.0, "images", functools.partial(_ours, config, 4)
            )
        ]
    cases = []
    for variant, features, layers in (("gated", 32, 4), ("pixelcnn", 64, 5)):
        config = _config(variant, features, layers)
        for batch in (64, 1):
            cases.append(
                harness.Case(
                    f"pixelcnn {variant} f{features} L{layers} 8x8x1 b{batch}",
                    float(batch),
                    "images",
                    functools.partial(_ours, config, batch),
                    functools.partial(_python_loop, config, batch),
                    "python-loop (jitted net)",
                    quick_ok=False,
                )
            )
    config = _fashion_config()
    h, w, c = config.data_shape
    cases.append(
        harness.Case(
            f"pixelcnn {config.variant} f{config.features} L{config.num_layers} {h}x{w}x{c} b10",
            10.0,
            "images",
            functools.partial(_ours, config, 10),
            functools.partial(_whole_image, config, 10),
            "whole-image windows",
            quick_ok=False,
        )
    )
    return cases


def _train_steps(config: pixelcnn.PixelCNNConfig, batch: int, steps: int, steps_per_call: int, compiler_options=None):
    """``steps`` Adam steps per call, ``steps_per_call`` of them scanned in each compiled call."""
    model = pixelcnn.make_pixelcnn(config)
    optimizer = optax.adam(1e-3)
    levels = jax.random.randint(jax.random.PRNGKey(0), (batch, *config.data_shape), 0, config.levels)
    data = {"image": levels.astype(jnp.float32) * 2.0 / (config.levels - 1) - 1.0}
    return harness.train_step_call(
        model, optimizer, data, init_key=jax.random.PRNGKey(1), step_key=jax.random.PRNGKey(2),
        compiler_options=compiler_options, steps_per_call=steps_per_call, steps=steps,
    )


def train_step_cases(quick: bool) -> list[harness.Case]:
    """The Fashion-MNIST PixelCNN (batch 32): 10 steps per call scanned against one per call (issue
    19: convolution gradients inside ``lax.scan``); ``quick``: a tiny network at 8x8, ours only."""
    if quick:
        config = _config("gated", 8, 1)
        return [
            harness.Case(
                "pixelcnn train 2 steps/call quick", 2.0, "steps", functools.partial(_train_steps, config, 4, 2, 2)
            )
        ]
    config = _fashion_config()
    h, w, c = config.data_shape
    name = f"pixelcnn {config.variant} f{config.features} L{config.num_layers} {h}x{w}x{c} b32 train"
    return [
        harness.Case(
            f"{name}: 10 steps/call vs 1{suffix}",
            10.0,
            "steps",
            functools.partial(_train_steps, config, 32, 10, 10, options),
            functools.partial(_train_steps, config, 32, 10, 1, options),
            "1-step/call",
            quick_ok=False,
        )
        for suffix, options in harness.compiler_variants()
    ]
