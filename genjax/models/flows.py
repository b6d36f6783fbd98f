"""Normalizing flows: NICE, RealNVP and MLP-coupling flows for 2-D toys, with exact likelihoods.

A flow is a bijector ``f`` (``genjax.bijectors``) from data to a latent ``z`` with a factorised
prior ``p_Z``; by the change of variables::

    log p(u) = log p_Z(f(u)) + log |det df/du|.

Architectures (``FlowConfig.architecture``):

* ``'nice'`` (Dinh, Krueger & Bengio, 2014): the image flattened to ``D`` values, ``num_couplings``
  additive couplings whose coupling functions are MLPs from the ``D/2`` conditioning values to the
  ``D/2`` others (odd/even partitions, alternating), then a diagonal scaling ``exp(S)``; the paper's
  MNIST model has 4 couplings of 5 x 1000 ReLU units and a standard logistic prior.
* ``'realnvp'`` (Dinh, Sohl-Dickstein & Bengio, 2016): logit preprocessing, then at each scale
  3 checkerboard affine couplings, a squeeze, 3 channel affine couplings and factoring out half the
  channels; the last scale has 4 checkerboard couplings. Coupling networks are small ResNets.
  ``glow_steps`` puts an ActNorm and an invertible 1x1 convolution (Kingma & Dhariwal, 2018) before
  every coupling.
* ``'mlp'``: affine couplings with MLP conditioners on vectors (2-D toys), alternating masks, an
  ActNorm before each coupling.

Discrete images and bits/dim. Images arrive as the contract says, ``float32 [B, H, W, C]`` in
[-1, 1], on the grid of ``L = num_levels`` values ``x = 2 k / (L - 1) - 1``, ``k in {0..L-1}``
(8-bit images: ``L = 256``; scikit-learn digits: ``L = 17``). The flow models the uniformly
dequantized ``u = (k + v) / L`` with ``v ~ U[0, 1)^D`` on the unit cube (Theis et al., 2016;
Uria et al., 2013). Since every bin of ``u`` has volume ``L^-D``,

    log P(k) >= E_v [log p(u)] - D log L,

and ``log_prob`` returns the single-sample value ``log p(u) - D log L`` in nats: an unbiased
estimate of that lower bound on the discrete log-likelihood (the number flow papers report; its
continuous part ``log p(u)`` is exact, hence ``Likelihood.EXACT``). Bits per dimension are
``-log_prob / (D ln 2)``. The affine map between the [-1, 1] grid and the cube is absorbed in the
bin counting: no further log-determinant enters. Papers that report nats for data scaled to
[0, 1] (NICE's tables) quote ``log p(u) = log_prob + D log L``: see :func:`nats_on_unit_cube`.
With ``num_levels=None`` the data are continuous (2-D toys, ``batch['x']``) and ``log_prob`` is the
exact density of ``x``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, NamedTuple, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax import bijectors as bj
from genjax.base import Likelihood, Model
from genjax.nn.convolution import Conv
from genjax.nn.mlp import MLP
from genjax.typing import Array, Batch, Metrics, Params, PRNGKey, State

__all__ = [
    "FlowConfig",
    "Flow",
    "make_flow",
    "make_flow_functions",
    "build_bijector",
    "latent_shape",
    "prior_log_prob",
    "prior_sample",
    "bits_per_dim",
    "nats_on_unit_cube",
    "NICE_MNIST",
    "NICE_DIGITS",
    "REALNVP_DIGITS",
    "TOY_2D",
]

ARCHITECTURES = ("nice", "realnvp", "mlp")
PRIORS = ("gaussian", "logistic")


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """Hyperparameters of a flow.

    Attributes:
      architecture: ``'nice'``, ``'realnvp'`` or ``'mlp'`` (see the module docstring).
      data_shape: one example's shape, ``(H, W, C)`` for images or ``(D,)`` for vectors.
      num_levels: L, the number of quantisation levels of discrete images (17 for digits, 256 for
        8-bit); ``None`` for continuous data (then the data key is ``'x'``).
      prior: ``'gaussian'`` (standard normal) or ``'logistic'`` (standard logistic, NICE).
      num_couplings: couplings of ``'nice'`` and ``'mlp'``.
      hidden: hidden widths of the MLP coupling functions (``'nice'``, ``'mlp'``).
      num_scales: scales of ``'realnvp'`` (each but the last squeezes and factors out half).
      conv_features: channels of the RealNVP coupling ResNets.
      num_blocks: residual blocks per coupling ResNet.
      logit_alpha: the margin of RealNVP's logit preprocessing.
      glow_steps: ActNorm + invertible 1x1 conv before each RealNVP coupling (Glow's step).
    """

    architecture: str = "realnvp"
    data_shape: tuple[int, ...] = (8, 8, 1)
    num_levels: Optional[int] = 17
    prior: str = "gaussian"
    num_couplings: int = 4
    hidden: tuple[int, ...] = (256, 256)
    num_scales: int = 2
    conv_features: int = 32
    num_blocks: int = 2
    logit_alpha: float = 0.05
    glow_steps: bool = False

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if self.num_levels is not None and self.num_levels < 2:
            raise ValueError(f"num_levels must be >= 2 or None, got {self.num_levels}")
        if self.num_couplings < 1 or self.num_scales < 1:
            raise ValueError("num_couplings and num_scales must be >= 1")
        if self.architecture == "realnvp":
            if len(self.data_shape) != 3:
                raise ValueError(f"realnvp needs data_shape (H, W, C), got {self.data_shape}")
            h, w, _ = self.data_shape
            if h % 2 ** (self.num_scales - 1) or w % 2 ** (self.num_scales - 1):
                raise ValueError(
                    f"realnvp with {self.num_scales} scales needs H, W divisible by "
                    f"{2 ** (self.num_scales - 1)}, got {self.data_shape}"
                )
        if self.architecture == "realnvp" and self.num_levels is None:
            raise ValueError("realnvp models images on the unit cube: num_levels must be set")
        if self.architecture in ("nice", "mlp") and self.dim % 2:
            raise ValueError(
                f"{self.architecture} partitions the data in halves: D must be even, got {self.dim}"
            )

    @property
    def dim(self) -> int:
        """D, the number of data dimensions."""
        return math.prod(self.data_shape)

    @property
    def data_key(self) -> str:
        """The batch key: ``'image'`` for discrete images, ``'x'`` for continuous data."""
        return "x" if self.num_levels is None else "image"


NICE_MNIST = FlowConfig(
    architecture="nice",
    data_shape=(28, 28, 1),
    num_levels=256,
    prior="logistic",
    num_couplings=4,
    hidden=(1000,) * 5,
)
"""NICE as in Dinh et al. (2014) for MNIST: 4 additive couplings of 5 x 1000 ReLU MLPs, logistic
prior."""
NICE_DIGITS = dataclasses.replace(
    NICE_MNIST, data_shape=(8, 8, 1), num_levels=17, hidden=(256,) * 5
)
"""The NICE architecture for 8x8 digits with 17 levels (width 256 instead of 1000)."""
REALNVP_DIGITS = FlowConfig(
    architecture="realnvp", data_shape=(8, 8, 1), num_levels=17, num_scales=2
)
"""RealNVP for 8x8 digits: two scales (8x8x1, then 4x4x2 after squeezing and factoring out)."""
TOY_2D = FlowConfig(
    architecture="mlp", data_shape=(2,), num_levels=None, num_couplings=8, hidden=(64, 64)
)
"""Eight affine MLP couplings for 2-D toy densities."""


class _PartitionMLP(nn.Module):
    """NICE's coupling function ``m``: an MLP from the conditioning half ``x_I1`` to the other half,
    scattered back into a full-size vector (entries on the conditioning half are discarded by the
    coupling)."""

    cond_idx: tuple[int, ...]
    out_idx: tuple[int, ...]
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = MLP(self.hidden + (len(self.out_idx),), zero_init_last=True)(
            x[..., jnp.array(self.cond_idx)]
        )
        return jnp.zeros_like(x).at[..., jnp.array(self.out_idx)].set(h)


class _ResNet(nn.Module):
    """RealNVP's coupling network: conv in, residual blocks, zero-initialised conv out (the coupling
    starts as the identity). The mask is given as an extra input channel, so the network knows which
    positions it conditions on."""

    features: int
    num_blocks: int
    out_channels: int
    mask: np.ndarray

    @nn.compact
    def __call__(self, x: Array) -> Array:
        mask = jnp.broadcast_to(jnp.asarray(self.mask[..., :1]), x.shape[:-1] + (1,))
        h = Conv(self.features, (3, 3))(jnp.concatenate([x, mask], axis=-1))
        for _ in range(self.num_blocks):
            r = Conv(self.features, (3, 3))(nn.relu(h))
            h = h + Conv(self.features, (3, 3))(nn.relu(r))
        return Conv(self.out_channels, (3, 3), kernel_init=nn.initializers.zeros)(nn.relu(h))


def _nice(config: FlowConfig) -> bj.Bijector:
    d = config.dim
    layers = []
    for i in range(config.num_couplings):
        mask = bj.checkerboard_mask((d,), i % 2)
        cond, out = np.flatnonzero(mask), np.flatnonzero(1 - mask)
        layers.append(
            bj.additive_coupling(mask, _PartitionMLP(tuple(cond), tuple(out), tuple(config.hidden)))
        )
    return bj.chain(layers + [bj.diagonal_scaling((d,))])


def _mlp_flow(config: FlowConfig) -> bj.Bijector:
    d = config.dim
    layers = []
    for i in range(config.num_couplings):
        layers.append(bj.actnorm())
        net = MLP(tuple(config.hidden) + (2 * d,), activation=nn.relu, zero_init_last=True)
        layers.append(bj.affine_coupling(bj.checkerboard_mask((d,), i % 2), net))
    return bj.chain(layers)


def _realnvp_coupling(config: FlowConfig, mask: np.ndarray, seed: int) -> list[bj.Bijector]:
    c = mask.shape[-1]
    steps = [bj.actnorm(), bj.invertible_conv1x1(c, seed)] if config.glow_steps else []
    net = _ResNet(config.conv_features, config.num_blocks, 2 * c, mask)
    return steps + [bj.affine_coupling(mask, net)]


def _realnvp_scale(config: FlowConfig, shape: tuple[int, int, int], scale: int) -> bj.Bijector:
    h, w, c = shape
    if scale == config.num_scales - 1:
        return bj.chain(
            [
                layer
                for i in range(4)
                for layer in _realnvp_coupling(config, bj.checkerboard_mask(shape, i % 2), i)
            ]
        )
    layers = [
        layer
        for i in range(3)
        for layer in _realnvp_coupling(config, bj.checkerboard_mask(shape, i % 2), i)
    ]
    layers.append(bj.squeeze())
    squeezed = (h // 2, w // 2, 4 * c)
    layers += [
        layer
        for i in range(3)
        for layer in _realnvp_coupling(config, bj.channel_mask(squeezed, i % 2), i)
    ]
    layers.append(bj.factor_out(_realnvp_scale(config, (h // 2, w // 2, 2 * c), scale + 1)))
    # Each scale maps its input shape to itself, so that factor_out can put the next scale's output
    # back beside the factored-out half at any depth (three or more scales).
    layers.append(bj.inverse_of(bj.squeeze()))
    return bj.chain(layers)


def build_bijector(config: FlowConfig) -> bj.Bijector:
    """The flow ``f`` from (dequantized, unit-cube) data ``[B, *data_shape]`` to the latent
    ``[B, *latent_shape(config)]``."""
    if config.architecture == "nice":
        flat = _nice(config)
        return bj.Bijector(
            lambda key, x: flat.init(key, x.reshape(x.shape[0], -1)),
            lambda p, x: flat.forward_and_log_det(p, x.reshape(x.shape[0], -1)),
            lambda p, z: _reshape_first(flat.inverse_and_log_det(p, z), config.data_shape),
        )
    if config.architecture == "mlp":
        return _mlp_flow(config)
    return bj.chain(
        [bj.logit(config.logit_alpha), _realnvp_scale(config, tuple(config.data_shape), 0)]
    )


def _reshape_first(out: tuple[Array, Array], shape: tuple[int, ...]) -> tuple[Array, Array]:
    x, log_det = out
    return x.reshape((x.shape[0],) + tuple(shape)), log_det


def latent_shape(config: FlowConfig) -> tuple[int, ...]:
    """The shape of one latent ``z`` (NICE: ``(D,)``; RealNVP: the data's shape, every scale's
    factored-out half unsqueezed back into place)."""
    if config.architecture == "nice":
        return (config.dim,)
    return tuple(config.data_shape)


def prior_log_prob(prior: str, z: Array) -> Array:
    """log p_Z(z) summed over the event axes, ``[B, ...] -> [B]`` nats.

    Standard normal: ``-(z^2 + log 2 pi) / 2``; standard logistic (NICE, eq. 5):
    ``-log(1 + e^z) - log(1 + e^-z)``.
    """
    if prior == "gaussian":
        lp = -0.5 * (jnp.square(z) + math.log(2 * math.pi))
    elif prior == "logistic":
        lp = -jax.nn.softplus(z) - jax.nn.softplus(-z)
    else:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    return jnp.sum(lp.reshape(z.shape[0], -1), axis=-1)


def prior_sample(key: PRNGKey, prior: str, shape: Sequence[int], temperature: float = 1.0) -> Array:
    """Draws ``z`` of ``shape`` from the prior scaled by ``temperature`` (``T z``, ``z`` from the
    standard prior; Kingma & Dhariwal, 2018, reduce T below 1 for higher-quality samples)."""
    if prior == "gaussian":
        z = jax.random.normal(key, tuple(shape))
    elif prior == "logistic":
        z = jax.random.logistic(key, tuple(shape))
    else:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    return temperature * z


def bits_per_dim(log_prob: Array, dim: int) -> Array:
    """``-log_prob / (D ln 2)``: bits per dimension of a discrete log-likelihood in nats."""
    return -log_prob / (dim * math.log(2.0))


def nats_on_unit_cube(log_prob: Array, dim: int, num_levels: int) -> Array:
    """``log p(u) = log_prob + D log L``: the continuous log-density of the dequantized data on
    [0, 1]^D, the scale of NICE's and RealNVP's nats tables."""
    return log_prob + dim * math.log(num_levels)


def _to_unit(x: Array, noise: Array | float, levels: int) -> Array:
    """[-1, 1] grid images -> ``u = (k + noise) / L`` in the unit cube (``k``: the level)."""
    k = jnp.clip(jnp.round((x + 1.0) * 0.5 * (levels - 1)), 0, levels - 1)
    return (k + noise) / levels


class Flow(NamedTuple):
    """A flow's functions beyond the ``Model`` contract.

    Attributes:
      bijector: the flow ``f`` (data on the unit cube or continuous ``x`` -> latent).
      log_prob: ``(params, state, batch, key) -> [B]`` nats (see the module docstring).
      sample: ``(params, state, key, n, temperature=1.0) -> x`` shaped like a batch of ``n``.
      score: ``(params, state, x) -> [B]`` nats, a deterministic log-likelihood per example for
        density estimation and anomaly detection (higher = more typical).
      encode: ``(params, x, key) -> z`` (discrete images are dequantized with ``key``).
      decode: ``(params, z) -> x``.
    """

    bijector: bj.Bijector
    log_prob: Callable[[Params, State, Batch, PRNGKey], Array]
    sample: Callable[..., Array]
    score: Callable[[Params, State, Array], Array]
    encode: Callable[[Params, Array, PRNGKey], Array]
    decode: Callable[[Params, Array], Array]


def make_flow_functions(config: FlowConfig) -> Flow:
    """Builds a flow's functions (see :class:`Flow`) from ``config``."""
    bijector = build_bijector(config)
    levels = config.num_levels
    dim = config.dim
    z_shape = latent_shape(config)

    def _check(x):
        if tuple(x.shape[1:]) != tuple(config.data_shape):
            raise ValueError(f"flow built for data of shape {config.data_shape}, got {x.shape}")

    def to_unit(x, noise):
        return _to_unit(x, noise, levels)

    def _log_prob_at(params, u):
        z, log_det = bijector.forward_and_log_det(params, u)
        lp = prior_log_prob(config.prior, z) + log_det
        return lp if levels is None else lp - dim * math.log(levels)

    def log_prob(params, state, batch, key):
        x = batch[config.data_key]
        _check(x)
        u = x if levels is None else to_unit(x, jax.random.uniform(key, x.shape))
        return _log_prob_at(params, u)

    def score(params, state, x):
        """Log-likelihood per example in nats, deterministic: discrete images are quantised to the
        grid and placed at their bin centres (``v = 1/2``) instead of a random dequantization, so
        that equal inputs score equally. Higher means more typical; scores of inputs far from the
        data (noise, other image domains) are the anomaly signal."""
        _check(x)
        return _log_prob_at(params, x if levels is None else to_unit(x, 0.5))

    def encode(params, x, key):
        _check(x)
        u = x if levels is None else to_unit(x, jax.random.uniform(key, x.shape))
        return bijector.forward_and_log_det(params, u)[0]

    def decode(params, z):
        u = bijector.inverse_and_log_det(params, z)[0]
        if levels is None:
            return u
        k = jnp.clip(jnp.floor(u * levels), 0, levels - 1)
        return 2.0 * k / (levels - 1) - 1.0

    def sample(params, state, key, n, temperature=1.0):
        return decode(params, prior_sample(key, config.prior, (n,) + z_shape, temperature))

    return Flow(bijector, log_prob, sample, score, encode, decode)


def make_flow(config: FlowConfig) -> Model:
    """A flow as a :class:`genjax.base.Model`.

    ``init`` initialises the bijector on the (dequantized) batch, so ActNorm layers start
    data-dependently. The loss is the mean negative log-likelihood, in bits/dim for discrete
    images and in nats for continuous data; metrics give both ``nll_nats`` and ``bits_per_dim``.
    ``sample`` draws at temperature 1 (``make_flow_functions(config).sample`` takes a temperature).
    """
    flow = make_flow_functions(config)

    def init(key, batch):
        k_noise, k_init = jax.random.split(key)
        x = batch[config.data_key]
        u = (
            x
            if config.num_levels is None
            else _to_unit(x, jax.random.uniform(k_noise, x.shape), config.num_levels)
        )
        return {"params": flow.bijector.init(k_init, u), "state": {}}

    def loss(params, state, batch, key):
        lp = flow.log_prob(params, state, batch, key)
        nll = -jnp.mean(lp)
        bpd = nll / (config.dim * math.log(2.0))
        metrics: Metrics = {"nll_nats": nll, "bits_per_dim": bpd}
        return (nll if config.num_levels is None else bpd), (metrics, state)

    return Model(
        init=init,
        loss=loss,
        sample=functools.partial(flow.sample, temperature=1.0),
        log_prob=flow.log_prob,
        likelihood=Likelihood.EXACT,
    )
