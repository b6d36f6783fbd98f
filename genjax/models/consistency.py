"""Consistency models (Song et al., 2023) and improved consistency training (Song & Dhariwal, 2023).

``f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma))`` with
``c_skip = sd^2 / ((sigma - sigma_min)^2 + sd^2)`` and ``c_out = (sigma - sigma_min) sd /
sqrt(sigma^2 + sd^2)``, so ``f(x, sigma_min) = x`` exactly (the boundary condition) whatever F
outputs. F is the shared UNet (or the MLP denoiser for vectors).

Objectives (``ConsistencyConfig.objective``):

* ``'cd'`` distillation: ``x_{n+1} = x + sigma_{n+1} z``; the teacher's Heun step of the
  probability-flow ODE gives ``x_n``; the loss is ``d(f_theta(x_{n+1}, sigma_{n+1}),
  f_target(x_n, sigma_n))`` with the EMA target (rate ``mu``) and N Karras sigmas. The teacher is a
  plain callable ``teacher_fn(teacher_params, x, sigma, label) -> D(x; sigma)`` given in the config
  (for a genjax EDM model: ``lambda p, x, s, y: diffusion.denoiser(cfg, p)(x, s)``, or with
  ``y`` passed on for a class-conditional teacher; ``label`` is ``None`` for unconditional models)
  and its params are frozen in the model state.
* ``'ct'`` training: ``x_n = x + sigma_n z`` with the same ``z`` (the unbiased score estimate),
  the N(k) and mu(k) schedules of the paper.
* ``'ict'``: pseudo-Huber distance, no EMA target (the target is ``stop_gradient(theta)``), the
  exponential N(k) curriculum, log-normal sampling of the sigma index and ``1 / (sigma_{n+1} -
  sigma_n)`` weighting.

Class-conditional models (``num_classes > 0``) train on labels dropped to the null label with
probability ``label_dropout`` (the distilled teacher sees the same, possibly null, label), so one
network holds the conditional and the unconditional consistency functions, and sampling combines
them by classifier-free guidance (Ho & Salimans, 2022) through
:func:`genjax.samplers.guidance.guided`. Guidance mixes only the network term ``c_out F``, so the
boundary condition still holds at every scale.

State: ``{'step'}`` plus ``'target'`` (cd/ct) and ``'teacher'`` (cd). The EMA target is updated in
the loss from the params the step starts with (a one-step lag against the optimizer update).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.losses import drop_labels, pseudo_huber
from genjax.nn.unet import MLPDenoiser, UNet
from genjax.samplers import consistency as csamp
from genjax.samplers.guidance import guided
from genjax.typing import Array, Batch, Params, PRNGKey

__all__ = ["ConsistencyConfig", "make_consistency", "consistency_fn", "sample_with_sigmas", "boundary_scalings",
           "discretization", "ema_rate", "sigma_grid"]


@dataclasses.dataclass(frozen=True)
class ConsistencyConfig:
    """Hyperparameters of a consistency model.

    Attributes:
      objective: ``'cd'``, ``'ct'`` or ``'ict'``.
      data_shape: one example's shape.
      network, base_channels, channel_mults, num_res_blocks, attention_resolutions, mlp_hidden, mlp_depth:
        the F network (shared UNet or MLP denoiser).
      sigma_min, sigma_max, sigma_data, rho: the EDM noise range and the Karras grid.
      num_scales: N for 'cd' (fixed); s0 for 'ct' / 'ict' (start of the curriculum).
      max_scales: s1 of the curriculum ('ct', 'ict').
      total_steps: K, the training steps the curriculum is laid out over ('ct', 'ict').
      mu0: the EMA rate of the target at the start ('ct'; 'cd' uses it throughout).
      distance: ``'l2'`` or ``'pseudo_huber'`` ('ict' always pseudo-Huber).
      p_mean, p_std: log-normal sigma index sampling ('ict').
      teacher_fn: ``(teacher_params, x, sigma, label or None) -> D(x; sigma)`` ('cd').
      num_classes: > 0 for class-conditional models (label ``num_classes`` is the null label).
      label_dropout: probability of training on the null label (classifier-free guidance).
      guidance_scale: the guidance weight of ``Model.sample`` (0 unconditional, 1 conditional).
      sample_sigmas: the sigmas of ``Model.sample``, first = sigma_max (one step: ``(sigma_max,)``).
    """

    objective: str = "cd"
    data_shape: tuple[int, ...] = (8, 8, 1)
    network: str = "unet"
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = ()
    mlp_hidden: int = 128
    mlp_depth: int = 3
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    sigma_data: float = 0.5
    rho: float = 7.0
    num_scales: int = 18
    max_scales: int = 150
    total_steps: int = 10000
    mu0: float = 0.95
    distance: str = "l2"
    p_mean: float = -1.1
    p_std: float = 2.0
    teacher_fn: Optional[Callable[[Any, Array, Array, Optional[Array]], Array]] = None
    num_classes: int = 0
    label_dropout: float = 0.1
    guidance_scale: float = 1.0
    sample_sigmas: tuple[float, ...] = (80.0,)

    def __post_init__(self):
        if self.objective not in ("cd", "ct", "ict"):
            raise ValueError(f"objective must be 'cd', 'ct' or 'ict', got {self.objective!r}")
        if self.objective == "cd" and self.teacher_fn is None:
            raise ValueError("consistency distillation needs teacher_fn (and teacher params at init)")
        if self.distance not in ("l2", "pseudo_huber"):
            raise ValueError(f"distance must be 'l2' or 'pseudo_huber', got {self.distance!r}")
        if self.num_classes < 0 or not 0.0 <= self.label_dropout <= 1.0:
            raise ValueError(f"num_classes must be >= 0 and label_dropout in [0, 1], got "
                             f"{self.num_classes} and {self.label_dropout}")


def boundary_scalings(sigma: Array, config: ConsistencyConfig) -> tuple[Array, Array, Array]:
    """``(c_skip, c_out, c_in)`` with ``c_skip(sigma_min) = 1`` and ``c_out(sigma_min) = 0``."""
    sd, smin = config.sigma_data, config.sigma_min
    c_skip = sd**2 / ((sigma - smin) ** 2 + sd**2)
    c_out = (sigma - smin) * sd / jnp.sqrt(sigma**2 + sd**2)
    c_in = 1.0 / jnp.sqrt(sigma**2 + sd**2)
    return c_skip, c_out, c_in


def _network(config: ConsistencyConfig):
    if config.network == "mlp":
        return MLPDenoiser(config.mlp_hidden, config.mlp_depth, config.num_classes)
    return UNet(base_channels=config.base_channels, channel_mults=config.channel_mults,
                num_res_blocks=config.num_res_blocks, attention_resolutions=config.attention_resolutions,
                num_classes=config.num_classes, embedding="fourier")


def _raw_fn(config: ConsistencyConfig, params: Params) -> Callable[[Array, Array, Optional[Array]], Array]:
    """``(x, sigma [B], label [B] or None) -> f(x, sigma | label)``; ``None`` is the null label."""
    net = _network(config)

    def raw(x, sigma, y):
        s = sigma.reshape((-1,) + (1,) * (x.ndim - 1))
        c_skip, c_out, c_in = boundary_scalings(s, config)
        return c_skip * x + c_out * net.apply({"params": params}, c_in * x, jnp.log(sigma) / 4.0, y)

    return raw


def consistency_fn(
    config: ConsistencyConfig, params: Params, label: Optional[Array] = None, guidance_scale: Optional[float] = None
) -> Callable[[Array, Array], Array]:
    """The plain callable ``f(x, sigma float [B])`` of the samplers in ``genjax.samplers.consistency``.

    With ``label`` int32 [B] (class-conditional configs) the conditional function, guided at
    ``guidance_scale`` (default ``config.guidance_scale``) by one forward pass on a doubled batch;
    without it the unconditional one (the null label).
    """
    raw = _raw_fn(config, params)
    if label is None or not config.num_classes:
        return lambda x, sigma: raw(x, sigma, None)
    scale = config.guidance_scale if guidance_scale is None else guidance_scale
    fn = raw if scale == 1.0 else guided(raw, scale, config.num_classes)
    return lambda x, sigma: fn(x, sigma, label)


def sample_with_sigmas(config: ConsistencyConfig, params: Params, key: PRNGKey, n: int, sigmas: Array) -> Array:
    """``n`` samples by :func:`genjax.samplers.consistency.multistep` over ``sigmas`` (float [K],
    decreasing, first = sigma_max; may be traced, so one compilation serves every schedule of a
    length): ``[n, *data_shape]``, K network evaluations each. Class-conditional models draw labels
    ``i mod num_classes`` guided at ``config.guidance_scale``. ``Model.sample`` is this over
    ``config.sample_sigmas``."""
    label = jnp.arange(n, dtype=jnp.int32) % config.num_classes if config.num_classes else None
    f = consistency_fn(config, params, label)
    shape = (n,) + tuple(config.data_shape)
    return csamp.multistep(key, f, shape, jnp.asarray(sigmas, jnp.float32), config.sigma_min)


def discretization(config: ConsistencyConfig, step: Array) -> Array:
    """N(k): the number of sigmas at training step ``k`` (int32).

    cd: ``num_scales``. ct: ``ceil(sqrt(k/K ((s1 + 1)^2 - s0^2) + s0^2) - 1) + 1`` (Song et al.,
    2023). ict: ``min(s0 2^floor(k / K'), s1) + 1`` with ``K' = floor(K / (log2(s1 / s0) + 1))``
    (Song & Dhariwal, 2023).
    """
    s0, s1, k_total = config.num_scales, config.max_scales, config.total_steps
    k = step.astype(jnp.float32)
    if config.objective == "cd":
        return jnp.asarray(s0, jnp.int32)
    if config.objective == "ct":
        n = jnp.ceil(jnp.sqrt(k / k_total * ((s1 + 1) ** 2 - s0**2) + s0**2) - 1) + 1
        return n.astype(jnp.int32)
    k_prime = math.floor(k_total / (math.log2(s1 / s0) + 1))
    return (jnp.minimum(s0 * 2.0 ** jnp.floor(k / k_prime), s1) + 1).astype(jnp.int32)


def ema_rate(config: ConsistencyConfig, n: Array) -> Array:
    """mu(k): cd: ``mu0``; ct: ``exp(s0 log(mu0) / N(k))``; ict: 0 (no EMA target)."""
    if config.objective == "cd":
        return jnp.asarray(config.mu0)
    if config.objective == "ct":
        return jnp.exp(config.num_scales * math.log(config.mu0) / n)
    return jnp.asarray(0.0)


def sigma_grid(config: ConsistencyConfig, n: Array, i: Array) -> Array:
    """The i-th of ``n`` increasing Karras sigmas from sigma_min to sigma_max (traceable in n, i)."""
    r = 1.0 / config.rho
    frac = i.astype(jnp.float32) / (n.astype(jnp.float32) - 1.0)
    return (config.sigma_min**r + frac * (config.sigma_max**r - config.sigma_min**r)) ** config.rho


def _matching_params(params: Params, given: Params) -> Params:
    shapes = lambda t: {jax.tree_util.keystr(p): jnp.shape(a) for p, a in jax.tree_util.tree_flatten_with_path(t)[0]}
    want, got = shapes(params), shapes(given)
    diff = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    if diff:
        raise ValueError(f"init_params do not match the consistency network: {len(diff)} leaves differ, e.g. "
                         + ", ".join(f"{k}: network {want.get(k)} vs given {got.get(k)}" for k in diff[:3]))
    # Copies: the train step donates params, which must not share buffers with a teacher given the
    # same arrays (distillation from the teacher's own weights).
    return jax.tree.map(jnp.array, given)


def make_consistency(config: ConsistencyConfig, teacher_params: Any = None, init_params: Any = None) -> Model:
    """Builds the consistency :class:`~genjax.base.Model` (see the module docstring).

    ``init_params``: start the network (and its EMA target) from these params instead of a random
    init; for distillation, the teacher's own params when F has the teacher's architecture, as Song
    et al. (2023) do, so that training starts from ``f`` close to the one-step denoiser. Their tree
    must match the network's.

    ``sample`` is :func:`sample_with_sigmas` over ``config.sample_sigmas`` (one network evaluation
    per sigma; class-conditional models draw labels ``i mod num_classes`` and are guided at
    ``config.guidance_scale``). ``log_prob`` is ``None``: a consistency function defines no density;
    a distilled model reports its teacher's probability-flow ODE likelihood (the diffusion model's
    ``log_prob`` on the teacher params kept in the state).
    """
    net = _network(config)

    def init(key: PRNGKey, batch: Batch) -> dict:
        x = (batch["image"] if "image" in batch else batch["x"])[:1]
        label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
        params = net.init(key, x, jnp.ones((1,)), label)["params"]
        if init_params is not None:
            params = _matching_params(params, init_params)
        state: dict = {"step": jnp.zeros((), jnp.int32)}
        if config.objective != "ict":
            state["target"] = jax.tree.map(jnp.copy, params)
        if config.objective == "cd":
            if teacher_params is None:
                raise ValueError("consistency distillation needs the teacher's params: make_consistency(config, params)")
            state["teacher"] = teacher_params
        return {"params": params, "state": state}

    def distance(a, b):
        if config.objective == "ict" or config.distance == "pseudo_huber":
            c = 0.00054 * math.sqrt(math.prod(a.shape[1:]))
            return pseudo_huber(a, b, c)
        return jnp.sum(jnp.square(a - b).reshape(a.shape[0], -1), -1)

    def loss(params, state, batch, key):
        x0 = batch["image"] if "image" in batch else batch["x"]
        b = x0.shape[0]
        shape = (-1,) + (1,) * (x0.ndim - 1)
        n = discretization(config, state["step"])
        k_i, k_z, k_l = jax.random.split(key, 3)
        y = None
        if config.num_classes:
            if "label" not in batch:
                raise ValueError(f"a class-conditional consistency model (num_classes={config.num_classes}) "
                                 "needs batch['label']")
            y = drop_labels(k_l, batch["label"], config.label_dropout, config.num_classes)
        if config.objective == "ict":
            edges = sigma_grid(config, n, jnp.arange(config.max_scales + 1))
            valid = jnp.arange(config.max_scales) < n - 1
            lo, hi = edges[:-1], edges[1:]
            # P(i) proportional to the log-normal mass between sigma_i and sigma_{i+1} (Song & Dhariwal).
            cdf = lambda s: jax.scipy.stats.norm.cdf((jnp.log(s) - config.p_mean) / config.p_std)
            logits = jnp.where(valid, jnp.log(jnp.maximum(cdf(hi) - cdf(lo), 1e-30)), -jnp.inf)
            i = jax.random.categorical(k_i, logits, shape=(b,))
        else:
            i = jax.random.randint(k_i, (b,), 0, n - 1)
        s_lo, s_hi = sigma_grid(config, n, i), sigma_grid(config, n, i + 1)
        z = jax.random.normal(k_z, x0.shape)
        x_hi = x0 + s_hi.reshape(shape) * z
        raw = _raw_fn(config, params)
        f = lambda x, s: raw(x, s, y)
        if config.objective == "cd":
            teacher = lambda x, s: config.teacher_fn(state["teacher"], x, s, y)
            d = teacher(x_hi, s_hi)
            step1 = x_hi + (s_lo - s_hi).reshape(shape) * (x_hi - d) / s_hi.reshape(shape)
            d2 = teacher(step1, s_lo)
            x_lo = x_hi + (s_lo - s_hi).reshape(shape) * 0.5 * (
                (x_hi - d) / s_hi.reshape(shape) + (step1 - d2) / s_lo.reshape(shape))
        else:
            x_lo = x0 + s_lo.reshape(shape) * z
        target_params = state["target"] if "target" in state else params
        target = jax.lax.stop_gradient(_raw_fn(config, target_params)(x_lo, s_lo, y))
        weight = 1.0 / (s_hi - s_lo) if config.objective == "ict" else jnp.ones_like(s_hi)
        value = jnp.mean(weight * distance(f(x_hi, s_hi), target))
        new_state = {**state, "step": state["step"] + 1}
        if "target" in state:
            mu = ema_rate(config, n)
            new_state["target"] = jax.tree.map(lambda t, p: mu * t + (1.0 - mu) * jax.lax.stop_gradient(p),
                                               state["target"], params)
        return value, ({"num_scales": n.astype(jnp.float32)}, new_state)

    def sample(params, state, key, n):
        return sample_with_sigmas(config, params, key, n, config.sample_sigmas)

    return Model(init, loss, sample, None, Likelihood.NONE)
