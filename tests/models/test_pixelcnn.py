"""PixelCNN: causality by Jacobians (and the blind spot of the plain model), normalisation and
sampling against enumeration on tiny images (softmax and logistic-mixture outputs, conditional),
completion, the uniform model's bits/dim, and input checks."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import training
from genjax.base import Likelihood
from genjax.data import digits, transforms
from genjax.distributions import discretized_logistic_mixture_log_prob
from genjax.models import pixelcnn
from genjax.samplers.autoregressive import sample_autoregressive


def _random_params(config, seed, scale=1.0):
    """Gaussian params built from shapes alone (no initializer has to compile): weights of fan-in
    scale, biases of scale 0.1 (large negative biases would switch ReLUs off for every input)."""
    net = pixelcnn.PixelCNN(config)
    x = jnp.zeros((1,) + config.data_shape)
    label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), x, label)["params"]
    rng = np.random.default_rng(seed)

    def draw(s):
        std = scale / np.sqrt(s.size // s.shape[-1]) if len(s.shape) > 1 else 0.1 * scale
        return jnp.asarray(rng.normal(0.0, std, s.shape), jnp.float32)

    return jax.tree.map(draw, shapes)


def _dependency(config, seed=0, draws=3):
    """``dep[t_out, t_in]``: |d params of value t_out / d value t_in| summed over the parameters and
    over ``draws`` random inputs (a ReLU that is off at one input cuts a path only there), in the
    order t = (i W + j) C + c."""
    params = _random_params(config, seed)
    h, w, c = config.data_shape
    n = h * w * c
    x = jax.random.uniform(jax.random.PRNGKey(seed + 7), (draws, h, w, c), minval=-1, maxval=1)
    one = lambda y: pixelcnn.PixelCNN(config).apply({"params": params}, y[None])[0]
    jac = jax.jit(jax.vmap(jax.jacrev(one)))(x)  # [draws, H, W, C, P, H, W, C]
    return np.abs(np.asarray(jac)).sum((0, 4)).reshape(n, n)


CAUSAL_CASES = [
    ("pixelcnn", "softmax", (5, 5, 1)),
    ("gated", "softmax", (5, 5, 1)),
    ("pixelcnn", "logistic_mixture", (3, 3, 3)),
    ("gated", "logistic_mixture", (3, 3, 3)),
]


@pytest.mark.parametrize("variant,output,shape", CAUSAL_CASES)
def test_outputs_never_depend_on_the_current_or_later_values(variant, output, shape):
    config = pixelcnn.PixelCNNConfig(
        variant=variant,
        output=output,
        data_shape=shape,
        levels=4,
        features=12,
        num_layers=3,
        num_mixtures=2,
    )
    dep = _dependency(config)
    n = dep.shape[0]
    assert np.all(dep[np.triu(np.ones((n, n), bool))] == 0.0)
    if variant == "gated":  # and every earlier value reaches every output, colours included
        assert np.all(dep[np.tril(np.ones((n, n), bool), -1)] > 0.0)


def test_the_plain_pixelcnn_has_a_blind_spot():
    config = pixelcnn.PixelCNNConfig(
        variant="pixelcnn", data_shape=(5, 5, 1), levels=4, features=8, num_layers=3
    )
    dep = _dependency(config)
    # Output (4, 0) never sees (3, 4): the 7x7 mask-A layer reaches 3 columns right of a hidden
    # position on the rows above, and the stacked 3x3 'B' layers only reach hidden positions up and
    # to the left/right of (4, 0) one column per row climbed, never (3, >= 1) ... (4, >= 1).
    assert dep[4 * 5 + 0, 3 * 5 + 4] == 0.0
    assert dep[4 * 5 + 0, 3 * 5 + 3] > 0.0 and dep[4 * 5 + 1, 3 * 5 + 4] > 0.0


def _images(levels, shape):
    grid = np.linspace(-1.0, 1.0, levels)
    return jnp.asarray(
        list(itertools.product(grid, repeat=int(np.prod(shape)))), jnp.float32
    ).reshape((-1,) + shape)


def _tv(samples, images, probs):
    index = {tuple(np.round(im, 4).ravel()): i for i, im in enumerate(np.asarray(images))}
    idx = np.array([index[tuple(np.round(s, 4).ravel())] for s in np.asarray(samples)])
    return 0.5 * np.abs(np.bincount(idx, minlength=len(probs)) / len(idx) - probs).sum()


@pytest.mark.parametrize(
    "variant,output,levels",
    [("pixelcnn", "softmax", 2), ("gated", "softmax", 2), ("gated", "logistic_mixture", 3)],
)
def test_probabilities_of_all_2x2_images_sum_to_one_and_samples_match(variant, output, levels):
    config = pixelcnn.PixelCNNConfig(
        variant=variant,
        output=output,
        data_shape=(2, 2, 1),
        levels=levels,
        features=8,
        num_layers=1,
        num_mixtures=2,
    )
    model = pixelcnn.make_pixelcnn(config)
    params = _random_params(config, 3, scale=2.0)
    images = _images(levels, (2, 2, 1))
    probs = np.exp(
        np.asarray(jax.jit(model.log_prob)(params, {}, {"image": images}, None), np.float64)
    )
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert probs.max() > 2.0 / len(probs)  # not the uniform distribution: the check has teeth
    samples = jax.jit(lambda k: model.sample(params, {}, k, 20000))(jax.random.PRNGKey(4))
    # Total variation of 20,000 draws: expected about 0.01 (16 outcomes) or 0.025 (81 outcomes).
    assert _tv(samples, images, probs) < (0.03 if levels == 2 else 0.05)


def test_conditional_samples_follow_each_labels_distribution():
    config = pixelcnn.PixelCNNConfig(
        variant="gated", data_shape=(2, 2, 1), levels=2, features=8, num_layers=1, num_classes=3
    )
    model = pixelcnn.make_pixelcnn(config)
    params = _random_params(config, 5, scale=2.0)
    images = _images(2, (2, 2, 1))
    probs = [
        np.exp(
            np.asarray(
                jax.jit(model.log_prob)(
                    params, {}, {"image": images, "label": jnp.full((16,), y)}, None
                ),
                np.float64,
            )
        )
        for y in range(3)
    ]
    assert all(p.sum() == pytest.approx(1.0, abs=1e-5) for p in probs)
    assert 0.5 * np.abs(probs[0] - probs[2]).sum() > 0.1  # the label matters
    labels = jnp.repeat(jnp.array([0, 2], jnp.int32), 10000)
    samples = np.asarray(
        jax.jit(lambda k: pixelcnn.sample_conditional(config, params, k, labels))(
            jax.random.PRNGKey(6)
        )
    )
    assert _tv(samples[:10000], images, probs[0]) < 0.04
    assert _tv(samples[10000:], images, probs[2]) < 0.04


def _mixture_pmf(w, means, log_scales, levels):
    """P(level) for every level of each of the ``w.shape[0]`` values: [levels, N] (float64)."""
    one = lambda x: discretized_logistic_mixture_log_prob(
        w, means, log_scales, jnp.full((w.shape[0],), x), levels
    )
    return np.exp(np.asarray(jax.jit(jax.vmap(one))(jnp.linspace(-1.0, 1.0, levels)), np.float64))


def test_logistic_mixture_normalizes_over_all_levels():
    for levels in (17, 256):
        rng = np.random.default_rng(levels)
        params = (jnp.asarray(rng.normal(0, s, (4, 5)), jnp.float32) for s in (1.0, 0.8, 1.5))
        np.testing.assert_allclose(_mixture_pmf(*params, levels).sum(0), 1.0, atol=1e-5)
    # Through the model (floored log-scales, split outputs): one 1x1 image at each of 256 levels.
    config = pixelcnn.PixelCNNConfig(
        output="logistic_mixture", data_shape=(1, 1, 1), levels=256, features=8, num_layers=1
    )
    model = pixelcnn.make_pixelcnn(config)
    grid = jnp.linspace(-1.0, 1.0, 256).reshape(-1, 1, 1, 1)
    lp = jax.jit(model.log_prob)(_random_params(config, 1), {}, {"image": grid}, None)
    assert float(jnp.exp(lp).sum()) == pytest.approx(1.0, abs=1e-5)


def test_a_model_with_a_zero_last_layer_is_uniform_log_levels_bits_per_dim():
    config = pixelcnn.PixelCNNConfig(
        variant="gated", data_shape=(8, 8, 1), levels=17, features=8, num_layers=1
    )
    model = pixelcnn.make_pixelcnn(config)
    params = _random_params(config, 0)
    last = max(
        (k for k in params if k.startswith("MaskedConv")), key=lambda k: int(k.split("_")[-1])
    )
    params = {**params, last: jax.tree.map(jnp.zeros_like, params[last])}
    batch = {"image": transforms.to_symmetric(digits.load_digits("test")["image"][:8], 17)}
    loss, (metrics, _) = jax.jit(model.loss)(params, {}, batch, None)  # mean of log_prob
    assert float(loss) == pytest.approx(64 * np.log(17), rel=1e-6)
    assert float(metrics["nll_nats"]) == pytest.approx(64 * np.log(17), rel=1e-6)
    assert float(metrics["bits_per_dim"]) == pytest.approx(np.log2(17), rel=1e-6)
    bpd = pixelcnn.bits_per_dim(jnp.full((3,), -64 * np.log(17)), 64)
    np.testing.assert_allclose(bpd, np.log2(17), rtol=1e-6)
    assert model.likelihood == Likelihood.EXACT


def test_completion_keeps_the_given_rows_and_samples_the_rest_on_the_grid():
    config = pixelcnn.PixelCNNConfig(
        variant="gated", data_shape=(8, 8, 1), levels=17, features=8, num_layers=1
    )
    params = _random_params(config, 5)
    images = transforms.to_symmetric(digits.load_digits("test")["image"][:4], 17)
    done = jax.jit(lambda k: pixelcnn.complete(config, params, k, images, 4))(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(done[:, :4], images[:, :4])
    assert not np.array_equal(np.asarray(done[:, 4:]), np.asarray(images[:, 4:]))
    grid = np.linspace(-1, 1, 17)
    assert np.all(
        np.min(np.abs(np.asarray(done)[..., None] - grid), -1) < 1e-5
    )  # values on the data grid


@pytest.mark.parametrize(
    "variant,num_layers,shape",
    [
        ("pixelcnn", 0, (6, 4, 1)),
        ("pixelcnn", 2, (8, 4, 1)),
        ("gated", 0, (7, 4, 1)),
        ("gated", 2, (9, 4, 1)),
        ("gated", 1, (8, 3, 3)),
    ],
)
def test_receptive_rows_is_exactly_how_far_up_the_outputs_see(variant, num_layers, shape):
    config = pixelcnn.PixelCNNConfig(
        variant=variant, data_shape=shape, levels=4, features=12, num_layers=num_layers
    )
    r = pixelcnn.receptive_rows(config)
    h = shape[0]
    assert h >= r + 2
    params = _random_params(config, 3)
    rng = np.random.default_rng(num_layers)
    x = rng.uniform(-1, 1, (3,) + shape).astype(np.float32)  # three random images
    noise = rng.uniform(-1, 1, (3,) + shape).astype(np.float32)
    rows = range(r + 1, h)
    above, edge = [], []
    for i in rows:
        y = x.copy()
        y[:, : i - r] = noise[:, : i - r]  # every row above i - R
        above.append(y)
        y = x.copy()
        y[:, i - r] = noise[:, i - r]  # row i - R alone
        edge.append(y)
    out = jax.jit(lambda y: pixelcnn.PixelCNN(config).apply({"params": params}, y))
    base = np.asarray(out(jnp.asarray(x)))
    above = np.asarray(out(jnp.asarray(np.concatenate(above)))).reshape(
        (len(rows), 3) + base.shape[1:]
    )
    edge = np.asarray(out(jnp.asarray(np.concatenate(edge)))).reshape(
        (len(rows), 3) + base.shape[1:]
    )
    for k, i in enumerate(rows):
        np.testing.assert_array_equal(above[k][:, i], base[:, i])
        assert np.max(np.abs(edge[k][:, i] - base[:, i])) > 1e-4
    expected = 3 + num_layers if variant == "pixelcnn" else 4 + num_layers
    assert r == expected


def test_the_fashion_mnist_network_sees_ten_rows_up():
    config = pixelcnn.PixelCNNConfig(
        variant="gated", data_shape=(28, 28, 1), levels=256, features=32, num_layers=6
    )
    assert pixelcnn.receptive_rows(config) == 10  # an 11-row window instead of 28


WINDOW_CASES = [  # variant, output, shape, num_layers, num_classes
    ("gated", "softmax", (10, 7, 1), 2, 0),
    ("pixelcnn", "softmax", (10, 7, 1), 3, 3),
    ("gated", "logistic_mixture", (10, 4, 2), 2, 0),
    ("pixelcnn", "logistic_mixture", (10, 4, 2), 2, 0),
]


@pytest.mark.parametrize("variant,output,shape,num_layers,num_classes", WINDOW_CASES)
def test_windowed_samples_equal_whole_image_samples(
    variant, output, shape, num_layers, num_classes
):
    config = pixelcnn.PixelCNNConfig(
        variant=variant,
        output=output,
        data_shape=shape,
        levels=8,
        features=8,
        num_layers=num_layers,
        num_mixtures=2,
        num_classes=num_classes,
    )
    r = pixelcnn.receptive_rows(config)
    assert r + 1 < shape[0]  # the windows really are smaller than the image
    # At scale 1 the rows far up barely move the draws; a scaled-up label embedding saturates them.
    params = _random_params(config, 11, scale=1.0 if num_classes else 2.0)
    key = jax.random.PRNGKey(2)
    labels = jnp.arange(6, dtype=jnp.int32) % num_classes if num_classes else None
    images = jax.random.randint(jax.random.PRNGKey(3), (6,) + shape, 0, 8) * (2 / 7) - 1.0
    model = pixelcnn.make_pixelcnn(config)

    @functools.partial(jax.jit, static_argnums=0)
    def draws(rows):
        """Fresh samples and completions of the bottom 6 rows, ``rows`` rows per evaluation."""
        if num_classes:
            new = pixelcnn.sample_conditional(config, params, key, labels, rows)
        elif rows is None:
            new = model.sample(params, {}, key, 6)
        else:
            new = sample_autoregressive(
                key,
                pixelcnn.dist_fn(config, params),
                pixelcnn.value_sampler(config),
                jnp.zeros((6,) + shape),
                window_rows=rows,
            )
        return new, pixelcnn.complete(config, params, key, images, 4, labels, rows)

    full_new, full_done = map(np.asarray, draws(shape[0]))  # one window = the whole image
    new, done = draws(None)  # the smallest exact window, R + 1 rows
    np.testing.assert_array_equal(new, full_new)
    np.testing.assert_array_equal(done, full_done)
    np.testing.assert_array_equal(full_done[:, :4], images[:, :4])
    assert len(np.unique(full_new)) > 3  # the draws are not all one value
    with pytest.raises(ValueError, match=f"window_rows={r} is below the {r + 1} rows"):
        pixelcnn.complete(config, params, key, images, 4, labels, window_rows=r)
    if num_classes:
        return
    # The check can fail: one row short of the receptive field changes about 6% of the values
    # (from the first changed value of an image on).
    short = sample_autoregressive(
        key,
        pixelcnn.dist_fn(config, params),
        pixelcnn.value_sampler(config),
        jnp.zeros((6,) + shape),
        window_rows=r,
    )
    assert np.mean(np.asarray(short) != full_new) > 0.02


def test_bad_inputs_raise_clear_errors():
    config = pixelcnn.PixelCNNConfig(data_shape=(2, 2, 1), levels=2, features=8, num_layers=1)
    model = pixelcnn.make_pixelcnn(config)
    params = _random_params(config, 0)
    with pytest.raises(ValueError, match="grid of 2 levels"):
        model.log_prob(params, {}, {"image": jnp.zeros((1, 2, 2, 1))}, None)  # {0, 1} binary data
    with pytest.raises(ValueError, match=r"images must be \[B, 2, 2, 1\]"):
        model.log_prob(params, {}, {"image": jnp.ones((1, 3, 2, 1))}, None)
    with pytest.raises(ValueError, match="variant"):
        pixelcnn.PixelCNNConfig(variant="pixelrnn")
    with pytest.raises(ValueError, match="output"):
        pixelcnn.PixelCNNConfig(output="gaussian")
    with pytest.raises(ValueError, match="divisible"):
        pixelcnn.PixelCNNConfig(data_shape=(8, 8, 3), features=64)
    conditional = pixelcnn.PixelCNNConfig(
        data_shape=(2, 2, 1), levels=2, features=8, num_layers=1, num_classes=2
    )
    with pytest.raises(ValueError, match="label"):
        pixelcnn.make_pixelcnn(conditional).log_prob(
            _random_params(conditional, 0), {}, {"image": jnp.ones((1, 2, 2, 1))}, None
        )
    with pytest.raises(ValueError, match="unconditional"):
        pixelcnn.sample_conditional(
            config, params, jax.random.PRNGKey(0), jnp.zeros((2,), jnp.int32)
        )


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["pixelcnn", "gated"])
def test_training_on_digits_lowers_the_nll(variant):
    config = pixelcnn.PixelCNNConfig(
        variant=variant, data_shape=(8, 8, 1), levels=17, features=16, num_layers=2
    )
    model = pixelcnn.make_pixelcnn(config)
    train = transforms.to_symmetric(digits.load_digits("train")["image"], 17)
    data = lambda s: {"image": train[(s * 64) % 1344 : (s * 64) % 1344 + 64]}
    state = training.fit(
        model, optax.adam(2e-3), data, key=jax.random.PRNGKey(0), num_steps=300, progress=False
    )
    test = {"image": transforms.to_symmetric(digits.load_digits("test")["image"], 17)}
    bpd = float(jnp.mean(pixelcnn.bits_per_dim(model.log_prob(state.params, {}, test, None), 64)))
    assert bpd < 0.75 * np.log2(17)  # well below the uniform model's log2(17) = 4.09 bits/dim
