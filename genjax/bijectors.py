"""Invertible maps with tractable Jacobians, as pure functions that compose.

A :class:`Bijector` is a NamedTuple of three pure functions (the pattern of optax's
``GradientTransformation``; the method split of distrax's ``Bijector``)::

    init(key, x) -> params                          # may look at the data (ActNorm)
    forward_and_log_det(params, x) -> (y, log_det)  # log_det = log |det dy/dx|
    inverse_and_log_det(params, y) -> (x, log_det)  # log_det = log |det dx/dy| = -forward log_det

Everything else (:func:`forward`, :func:`inverse`, :func:`chain`, :func:`inverse_of`) is derived
from these. Inputs are batched: ``x`` is ``float32 [B, *event]`` and ``log_det`` is ``float32 [B]``,
summed over the event axes. The last axis is the channel axis (``[B, H, W, C]`` images,
``[B, D]`` vectors). Hyperparameters (masks, conditioner networks, permutations) live in the
closures; ``params`` are explicit pytrees, so a bijector is jit-, grad- and vmap-friendly.

Conditioners of couplings are Flax Linen modules (any module with ``init`` / ``apply``), given
``x * mask`` of the full event shape; the coupling discards their output on the conditioning part.

Papers: NICE (Dinh, Krueger & Bengio, 2014): additive coupling, diagonal scaling. RealNVP (Dinh,
Sohl-Dickstein & Bengio, 2016): affine coupling, checkerboard and channel masks, squeeze,
multi-scale factoring out, logit preprocessing. Glow (Kingma & Dhariwal, 2018): ActNorm with
data-dependent initialisation, invertible 1x1 convolution with an LU parameterisation.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from genjax.typing import Array, Params, PRNGKey

__all__ = [
    "Bijector",
    "forward",
    "inverse",
    "chain",
    "inverse_of",
    "checkerboard_mask",
    "channel_mask",
    "additive_coupling",
    "affine_coupling",
    "diagonal_scaling",
    "logit",
    "squeeze",
    "factor_out",
    "actnorm",
    "invertible_conv1x1",
]


class Bijector(NamedTuple):
    """An invertible map as pure functions.

    Attributes:
      init: ``(key, x) -> params``; ``x`` is a batch ``[B, *event]`` (data-dependent inits use it).
      forward_and_log_det: ``(params, x) -> (y, log|det dy/dx|)`` with ``log_det`` of shape ``[B]``.
      inverse_and_log_det: ``(params, y) -> (x, log|det dx/dy|)`` with ``log_det`` of shape ``[B]``.
    """

    init: Callable[[PRNGKey, Array], Params]
    forward_and_log_det: Callable[[Params, Array], tuple[Array, Array]]
    inverse_and_log_det: Callable[[Params, Array], tuple[Array, Array]]


def forward(bijector: Bijector, params: Params, x: Array) -> Array:
    """``y = f(x)``."""
    return bijector.forward_and_log_det(params, x)[0]


def inverse(bijector: Bijector, params: Params, y: Array) -> Array:
    """``x = f^{-1}(y)``."""
    return bijector.inverse_and_log_det(params, y)[0]


def _sum_event(x: Array) -> Array:
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def _no_params(key: PRNGKey, x: Array) -> Params:
    del key, x
    return {}


def chain(bijectors: Sequence[Bijector]) -> Bijector:
    """The composition applying ``bijectors`` in sequence order (first element first).

    ``params`` is a tuple with one entry per bijector. ``init`` pushes its batch forward through
    each bijector in turn, so a data-dependent init sees the activations it will act on (Glow's
    ActNorm initialisation). Log-determinants add.
    """
    bijectors = tuple(bijectors)
    if not bijectors:
        raise ValueError("chain needs at least one bijector")

    def init(key, x):
        params = []
        for b, k in zip(bijectors, jax.random.split(key, len(bijectors)), strict=True):
            p = b.init(k, x)
            x, _ = b.forward_and_log_det(p, x)
            params.append(p)
        return tuple(params)

    def forward_and_log_det(params, x):
        total = jnp.zeros(x.shape[0], x.dtype)
        for b, p in zip(bijectors, params, strict=True):
            x, ld = b.forward_and_log_det(p, x)
            total = total + ld
        return x, total

    def inverse_and_log_det(params, y):
        total = jnp.zeros(y.shape[0], y.dtype)
        for b, p in zip(reversed(bijectors), reversed(params), strict=True):
            y, ld = b.inverse_and_log_det(p, y)
            total = total + ld
        return y, total

    return Bijector(init, forward_and_log_det, inverse_and_log_det)


def inverse_of(bijector: Bijector) -> Bijector:
    """The inverse map ``f^{-1}`` as a bijector (forward and inverse swapped).

    Its ``init`` calls ``bijector.init`` on the batch it is given, which is an input of ``f^{-1}``;
    a data-dependent init therefore sees the data of the inverse direction.
    """
    return Bijector(bijector.init, bijector.inverse_and_log_det, bijector.forward_and_log_det)


def checkerboard_mask(event_shape: Sequence[int], parity: int = 0) -> np.ndarray:
    """A binary mask alternating over positions (1 marks the conditioning, unchanged part).

    Vectors ``(D,)``: 1 on indices ``i`` with ``i % 2 == parity`` (NICE's odd/even partition).
    Images ``(H, W, C)``: 1 where ``(i + j) % 2 == parity``, the same for every channel (RealNVP).
    """
    event_shape = tuple(event_shape)
    if len(event_shape) == 1:
        return (np.arange(event_shape[0]) % 2 == parity).astype(np.float32)
    if len(event_shape) == 3:
        h, w, c = event_shape
        board = (np.add.outer(np.arange(h), np.arange(w)) % 2 == parity).astype(np.float32)
        return np.broadcast_to(board[:, :, None], (h, w, c)).copy()
    raise ValueError(f"checkerboard_mask needs an event shape (D,) or (H, W, C), got {event_shape}")


def channel_mask(event_shape: Sequence[int], parity: int = 0) -> np.ndarray:
    """A binary mask on the channel (last) axis: 1 on the first half of the channels when
    ``parity == 0``, on the second half otherwise (RealNVP's channel-wise masking)."""
    event_shape = tuple(event_shape)
    c = event_shape[-1]
    if c % 2:
        raise ValueError(f"channel_mask needs an even number of channels, got {c}")
    first = (np.arange(c) < c // 2).astype(np.float32)
    return np.broadcast_to(first if parity == 0 else 1.0 - first, event_shape).copy()


def _check_event(name: str, x: Array, event_shape: tuple[int, ...]) -> None:
    if tuple(x.shape[1:]) != event_shape:
        raise ValueError(f"{name} was built for events of shape {event_shape}, got input {x.shape}")


def additive_coupling(mask: np.ndarray, conditioner: nn.Module) -> Bijector:
    """NICE's additive coupling layer (Dinh et al., 2014, eq. 4): volume preserving.

    ``y = x + (1 - b) * m(b * x)``, ``x = y - (1 - b) * m(b * y)``, ``log_det = 0``, where ``b`` is
    the binary ``mask`` (1: conditioning part, left unchanged) and ``m`` the conditioner.

    Args:
      mask: float {0, 1} of the event shape.
      conditioner: Flax module ``[B, *event] -> [B, *event]``.
    """
    mask = jnp.asarray(mask, jnp.float32)
    event_shape = tuple(mask.shape)

    def init(key, x):
        _check_event("additive_coupling", x, event_shape)
        return {"conditioner": conditioner.init(key, x * mask)["params"]}

    def shift(params, x):
        return (1.0 - mask) * conditioner.apply({"params": params["conditioner"]}, x * mask)

    def forward_and_log_det(params, x):
        return x + shift(params, x), jnp.zeros(x.shape[0], x.dtype)

    def inverse_and_log_det(params, y):
        return y - shift(params, y), jnp.zeros(y.shape[0], y.dtype)

    return Bijector(init, forward_and_log_det, inverse_and_log_det)


def affine_coupling(mask: np.ndarray, conditioner: nn.Module) -> Bijector:
    """RealNVP's affine coupling layer (Dinh et al., 2016, eq. 9).

    ``y = b * x + (1 - b) * (x * exp(s) + t)`` with ``(t, s) = g(b * x)``, ``log_det = sum (1 - b)
    s``; the inverse is ``x = b * y + (1 - b) * (y - t) * exp(-s)``. The log-scale is bounded as
    ``s = scale * tanh(raw)`` with a learned per-channel ``scale`` (initialised to 1), which keeps
    early training stable (RealNVP's released code does the same).

    Args:
      mask: float {0, 1} of the event shape ``(..., C)``.
      conditioner: Flax module ``[B, *event] -> [B, *event[:-1], 2 C]`` giving ``(t, raw)`` along
        the last axis. A zero-initialised last layer makes the coupling the identity at init.
    """
    mask = jnp.asarray(mask, jnp.float32)
    event_shape = tuple(mask.shape)

    def init(key, x):
        _check_event("affine_coupling", x, event_shape)
        return {
            "conditioner": conditioner.init(key, x * mask)["params"],
            "scale": jnp.ones(event_shape[-1:], jnp.float32),
        }

    def shift_and_log_scale(params, x):
        out = conditioner.apply({"params": params["conditioner"]}, x * mask)
        if out.shape[-1] != 2 * event_shape[-1]:
            raise ValueError(
                f"affine_coupling conditioner must output 2 * {event_shape[-1]} channels, "
                f"got {out.shape}"
            )
        t, raw = jnp.split(out, 2, axis=-1)
        return (1.0 - mask) * t, (1.0 - mask) * params["scale"] * jnp.tanh(raw)

    def forward_and_log_det(params, x):
        t, s = shift_and_log_scale(params, x)
        return x * jnp.exp(s) + t, _sum_event(s)

    def inverse_and_log_det(params, y):
        t, s = shift_and_log_scale(params, y)
        return (y - t) * jnp.exp(-s), -_sum_event(s)

    return Bijector(init, forward_and_log_det, inverse_and_log_det)


def diagonal_scaling(event_shape: Sequence[int]) -> Bijector:
    """NICE's diagonal scaling layer (Dinh et al., 2014, section 3.3): ``y = x * exp(S)``,
    ``log_det = sum S``, with ``S`` a learned array of the event shape (initialised to 0)."""
    event_shape = tuple(event_shape)

    def init(key, x):
        _check_event("diagonal_scaling", x, event_shape)
        return {"log_scale": jnp.zeros(event_shape, jnp.float32)}

    def forward_and_log_det(params, x):
        s = params["log_scale"]
        return x * jnp.exp(s), jnp.full(x.shape[0], jnp.sum(s), x.dtype)

    def inverse_and_log_det(params, y):
        s = params["log_scale"]
        return y * jnp.exp(-s), jnp.full(y.shape[0], -jnp.sum(s), y.dtype)

    return Bijector(init, forward_and_log_det, inverse_and_log_det)


def logit(alpha: float = 0.05) -> Bijector:
    """RealNVP's preprocessing from the unit cube to the real line (Dinh et al., 2016, 4.1).

    ``y = logit(p)`` with ``p = alpha + (1 - 2 alpha) u`` for ``u`` in [0, 1], so the boundary maps
    to finite values. ``log_det = sum [log(1 - 2 alpha) - log p - log(1 - p)]``.

    Args:
      alpha: the margin, in [0, 0.5).
    """
    if not 0.0 <= alpha < 0.5:
        raise ValueError(f"logit alpha must be in [0, 0.5), got {alpha}")
    scale = 1.0 - 2.0 * alpha

    def forward_and_log_det(params, u):
        p = alpha + scale * u
        log_det = math.log(scale) - jnp.log(p) - jnp.log1p(-p)
        return jnp.log(p) - jnp.log1p(-p), _sum_event(log_det)

    def inverse_and_log_det(params, y):
        log_det = -jax.nn.softplus(-y) - jax.nn.softplus(y) - math.log(scale)
        return (jax.nn.sigmoid(y) - alpha) / scale, _sum_event(log_det)

    return Bijector(_no_params, forward_and_log_det, inverse_and_log_det)


def squeeze() -> Bijector:
    """RealNVP's squeeze: ``[B, H, W, C] -> [B, H/2, W/2, 4C]``, each 2x2 block becoming channels
    (Dinh et al., 2016, 3.6). A permutation, so ``log_det = 0``."""

    def forward_and_log_det(params, x):
        b, h, w, c = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"squeeze needs even height and width, got {x.shape}")
        y = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(b, h // 2, w // 2, 4 * c), jnp.zeros(b, x.dtype)

    def inverse_and_log_det(params, y):
        b, h, w, c4 = y.shape
        c = c4 // 4
        x = y.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(b, 2 * h, 2 * w, c), jnp.zeros(b, y.dtype)

    return Bijector(_no_params, forward_and_log_det, inverse_and_log_det)


def factor_out(inner: Bijector) -> Bijector:
    """RealNVP's multi-scale step (Dinh et al., 2016, 3.6): factor out half the channels.

    ``x = [x_out, x_rest]`` along the last axis (halves); ``y = [x_out, inner(x_rest)]``, so
    ``x_out`` goes straight to the latent (with the prior's density) while ``inner`` keeps
    transforming the rest at the next scale. ``log_det`` is ``inner``'s.
    """

    def split(x):
        c = x.shape[-1]
        if c % 2:
            raise ValueError(f"factor_out needs an even number of channels, got {x.shape}")
        return x[..., : c // 2], x[..., c // 2 :]

    def init(key, x):
        return inner.init(key, split(x)[1])

    def forward_and_log_det(params, x):
        out, rest = split(x)
        rest, log_det = inner.forward_and_log_det(params, rest)
        return jnp.concatenate([out, rest], axis=-1), log_det

    def inverse_and_log_det(params, y):
        out, rest = split(y)
        rest, log_det = inner.inverse_and_log_det(params, rest)
        return jnp.concatenate([out, rest], axis=-1), log_det

    return Bijector(init, forward_and_log_det, inverse_and_log_det)


def _positions(x: Array) -> int:
    """Number of positions sharing one set of per-channel parameters (H * W for images)."""
    return math.prod(x.shape[1:-1])


def actnorm(eps: float = 1e-6) -> Bijector:
    """Glow's activation normalisation (Kingma & Dhariwal, 2018, 3.1): a per-channel affine map.

    ``y = (x - bias) * exp(log_scale)``, ``log_det = H W sum log_scale`` (``H W`` = positions per
    channel, 1 for vectors). Data-dependent init: ``bias`` = the per-channel mean of the init batch
    and ``log_scale = -log(std + eps)``, so the init batch comes out with zero mean and unit
    variance per channel.
    """

    def init(key, x):
        axes = tuple(range(x.ndim - 1))
        return {
            "bias": jnp.mean(x, axis=axes),
            "log_scale": -jnp.log(jnp.std(x, axis=axes) + eps),
        }

    def forward_and_log_det(params, x):
        y = (x - params["bias"]) * jnp.exp(params["log_scale"])
        return y, jnp.full(x.shape[0], _positions(x) * jnp.sum(params["log_scale"]), x.dtype)

    def inverse_and_log_det(params, y):
        x = y * jnp.exp(-params["log_scale"]) + params["bias"]
        return x, jnp.full(y.shape[0], -_positions(y) * jnp.sum(params["log_scale"]), y.dtype)

    return Bijector(init, forward_and_log_det, inverse_and_log_det)


def invertible_conv1x1(num_channels: int, seed: int = 0) -> Bijector:
    """Glow's invertible 1x1 convolution, LU-parameterised (Kingma & Dhariwal, 2018, 3.2).

    ``y[..., :] = W x[..., :]`` at every position with ``W = P L (U + diag(sign(s) exp(log_s)))``,
    ``P`` a fixed permutation, ``L`` unit lower triangular, ``U`` strictly upper triangular; the
    log-determinant is ``H W sum log_s``, O(C) instead of O(C^3). As in Glow, ``W`` starts as a
    random rotation drawn from ``seed`` when the bijector is built; its LU decomposition fixes ``P``
    and ``sign(s)`` (closure constants) and initialises the trained ``L``, ``U``, ``log_s``.

    Args:
      num_channels: C, the last axis of the input (vectors ``[B, C]`` work too: a learned linear
        map with an O(C) log-determinant).
      seed: numpy seed of the initial rotation.
    """
    rotation = np.linalg.qr(np.random.default_rng(seed).normal(size=(num_channels, num_channels)))[
        0
    ]
    perm, lower, upper = scipy.linalg.lu(rotation)
    diag = np.diag(upper)
    # Closure constants stay numpy: a Glow may be built inside jit, vmap or pmap, where a jnp value
    # made here would be a tracer (and np.asarray of it an error).
    lower_mask = np.tril(np.ones((num_channels, num_channels), np.float32), -1)
    eye = np.eye(num_channels, dtype=np.float32)
    perm = perm.astype(np.float32)
    sign = np.sign(diag).astype(np.float32)
    init_params = {
        "lower": (lower * lower_mask).astype(np.float32),
        "upper": np.triu(upper, 1).astype(np.float32),
        "log_s": np.log(np.abs(diag)).astype(np.float32),
    }

    def init(key, x):
        if x.shape[-1] != num_channels:
            raise ValueError(
                f"invertible_conv1x1 was built for {num_channels} channels, got input {x.shape}"
            )
        return {k: jnp.asarray(v) for k, v in init_params.items()}

    def factors(params):
        lo = params["lower"] * lower_mask + eye
        up = params["upper"] * lower_mask.T + jnp.diag(sign * jnp.exp(params["log_s"]))
        return lo, up

    def forward_and_log_det(params, x):
        lo, up = factors(params)
        w = perm @ lo @ up
        y = jnp.einsum("...c,dc->...d", x, w)
        return y, jnp.full(x.shape[0], _positions(x) * jnp.sum(params["log_s"]), x.dtype)

    def inverse_and_log_det(params, y):
        lo, up = factors(params)
        flat = y.reshape(-1, num_channels).T
        z = perm.T @ flat
        z = jax.scipy.linalg.solve_triangular(lo, z, lower=True, unit_diagonal=True)
        z = jax.scipy.linalg.solve_triangular(up, z, lower=False)
        x = z.T.reshape(y.shape)
        return x, jnp.full(y.shape[0], -_positions(y) * jnp.sum(params["log_s"]), y.dtype)

    return Bijector(init, forward_and_log_det, inverse_and_log_det)
