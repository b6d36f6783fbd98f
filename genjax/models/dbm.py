"""Deep Boltzmann machines with 2 or 3 hidden layers (Salakhutdinov & Hinton, 2009).

Layers ``x_0 = v in {0,1}^D`` and ``x_1 .. x_L`` binary hidden layers, each connected to its
neighbours only:

    E(x) = -sum_l b_l . x_l - sum_{l<L} x_l W_l x_{l+1},   params = {'W': [W_0 .. W_{L-1}], 'b':
    [b_0 .. b_L]}

with ``W_l: [n_l, n_{l+1}]``. Given its neighbours, layer ``l`` is independent Bernoulli with logits
``b_l + x_{l-1} W_{l-1} + x_{l+1} W_l^T`` (:func:`layer_logits`), so odd layers are independent
given
even ones and the other way round: block Gibbs alternates the two groups.

Learning (the paper's algorithm 1): the data-dependent expectations come from mean-field
``q(h | v) = prod Bernoulli(mu)``, a damped fixed point of block-coordinate updates
(:func:`mean_field`), the model expectations from persistent Gibbs chains kept in the model state.
The surrogate ``cd_surrogate(E(v, mu), E(stop_gradient(chains)))`` has the gradient of the
variational bound with the model term estimated by the chains (``E`` is linear in each layer, so
``E(v, mu)`` is the expected energy under ``q``). Greedy layer-wise pretraining uses RBMs with
doubled inputs (bottom), doubled hidden units (top) or both (middle): :func:`make_pretraining_rbm`,
:func:`propagate_up`, :func:`from_pretrained`; or the bottom layer from an ordinary trained RBM and
near-zero weights above it (:func:`from_rbm`), which starts the DBM's bound at the RBM's likelihood.

Likelihood: ``log p(v) >= ELBO(v) = -E(v, mu) + H(q) - log Z`` with ``log Z`` estimated by AIS over
the odd layers, the even layers (including ``v``) summed out analytically (:func:`ais_log_z`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.losses import cd_surrogate
from genjax.samplers import ais, gibbs
from genjax.typing import Array, Batch, Metrics, Params, PRNGKey, State

__all__ = [
    "DBMConfig",
    "make_dbm",
    "init_params",
    "energy",
    "layer_logits",
    "conditionals",
    "seed_layers",
    "sample_chain",
    "mean_field_init",
    "mean_field_step",
    "mean_field",
    "elbo",
    "ais_log_z",
    "make_pretraining_rbm",
    "propagate_up",
    "from_pretrained",
    "from_rbm",
]

Layers = tuple[Array, ...]


@dataclasses.dataclass(frozen=True)
class DBMConfig:
    """Hyperparameters of a DBM.

    Attributes:
      image_shape: ``(H, W, C)`` of one binary data image.
      hidden: sizes of the 2 or 3 hidden layers, bottom first.
      num_chains: persistent Gibbs chains for the model term.
      gibbs_steps: sweeps of the persistent chains per update.
      mf_max_iters: cap on mean-field iterations.
      mf_tol: stop when no mean changes by more than this.
      mf_damping: ``mu <- damping * mu + (1 - damping) * update`` (in [0, 1)).
      init_scale: std of the initial weights.
      sample_steps: Gibbs sweeps of ``Model.sample``.
      ais_intermediate, ais_runs: K and M of the AIS estimate of ``log Z`` in ``Model.log_prob``.
    """

    image_shape: tuple[int, ...] = (8, 8, 1)
    hidden: tuple[int, ...] = (64, 32)
    num_chains: int = 100
    gibbs_steps: int = 1
    mf_max_iters: int = 30
    mf_tol: float = 1e-4
    mf_damping: float = 0.2
    init_scale: float = 0.01
    sample_steps: int = 1000
    ais_intermediate: int = 1000
    ais_runs: int = 100

    def __post_init__(self):
        if len(self.hidden) not in (2, 3) or min(self.hidden) < 1:
            raise ValueError(f"hidden must list 2 or 3 positive layer sizes, got {self.hidden}")
        if not 0.0 <= self.mf_damping < 1.0:
            raise ValueError(f"mf_damping must be in [0, 1), got {self.mf_damping}")
        for name in ("num_chains", "gibbs_steps", "mf_max_iters", "sample_steps", "ais_runs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (math.prod(self.image_shape), *self.hidden)


def _logit(p: Array, eps: float = 1e-3) -> Array:
    p = jnp.clip(jnp.asarray(p, jnp.float32), eps, 1.0 - eps)
    return jnp.log(p) - jnp.log1p(-p)


def init_params(
    key: PRNGKey, sizes: Sequence[int], visible_mean: Optional[Array] = None, scale: float = 0.01
) -> Params:
    """``{'W': [float32 [n_l, n_{l+1}]], 'b': [float32 [n_l]]}``: small random weights, zero hidden
    biases, visible biases ``logit(visible_mean)`` (zero when ``None``)."""
    keys = jax.random.split(key, len(sizes) - 1)
    weights = [
        scale * jax.random.normal(k, (a, b), jnp.float32)
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]
    biases = [jnp.zeros((n,), jnp.float32) for n in sizes]
    if visible_mean is not None:
        biases[0] = _logit(visible_mean)
    return {"W": weights, "b": biases}


def layer_logits(params: Params, layers: Sequence[Array], li: int) -> Array:
    """Total input of layer ``l`` from its bias and neighbours: ``[..., n_l]``."""
    out = params["b"][li]
    if li > 0:
        out = out + layers[li - 1] @ params["W"][li - 1]
    if li < len(params["W"]):
        out = out + layers[li + 1] @ params["W"][li].T
    return out


def energy(params: Params, layers: Sequence[Array]) -> Array:
    """``E(x)`` of the module docstring; layers ``[..., n_l]`` (binary, or means for ``E_q``) ->
    ``[...]``."""
    e = -sum(x @ b for x, b in zip(layers, params["b"], strict=True))
    for li, w in enumerate(params["W"]):
        e = e - jnp.sum((layers[li] @ w) * layers[li + 1], axis=-1)
    return e


def conditionals(params: Params) -> tuple[gibbs.Conditional, ...]:
    """One Bernoulli conditional sampler per layer, for :mod:`genjax.samplers.gibbs`."""
    return tuple(
        (lambda key, layers, li=li: gibbs.bernoulli(key, layer_logits(params, layers, li)))
        for li in range(len(params["b"]))
    )


def mean_field_init(params: Params, v: Array) -> Layers:
    """Bottom-up initial means with doubled weights below the top layer, standing in for the missing
    top-down input (Salakhutdinov & Hinton, 2009, section 3.1). ``[..., D] -> (mu_1, .., mu_L)``."""
    mus, x = [], v
    top = len(params["W"])
    for li, w in enumerate(params["W"], start=1):
        mult = 1.0 if li == top else 2.0
        x = jax.nn.sigmoid(mult * (x @ w) + params["b"][li])
        mus.append(x)
    return tuple(mus)


def mean_field_step(params: Params, v: Array, mus: Sequence[Array], damping: float = 0.0) -> Layers:
    """One damped block-coordinate update: the odd hidden layers, then the even hidden layers.

    Each block update maximises the ELBO in that block exactly (units of a layer are independent
    given its neighbours) and the ELBO is concave in one block, so a damped step
    ``mu <- damping * mu + (1 - damping) * sigmoid(logits)`` never decreases it.

    Args:
      params: DBM params.
      v: float [..., D] data.
      mus: hidden means ``(mu_1, .., mu_L)``, each [..., n_l].
      damping: in [0, 1).

    Returns:
      The updated means.
    """
    layers = [v, *mus]
    for parity in (1, 0):
        updates = {
            li: jax.nn.sigmoid(layer_logits(params, layers, li))
            for li in range(1, len(layers))
            if li % 2 == parity
        }
        for li, new in updates.items():
            layers[li] = damping * layers[li] + (1.0 - damping) * new
    return tuple(layers[1:])


def seed_layers(params: Params, v0: Array) -> Layers:
    """The initial state of chains seeded with visible states ``v0 [C, D]``: ``v0`` and the
    bottom-up means of :func:`mean_field_init` for the hidden layers, so that the first sweep's odd
    layers see a top-down input consistent with the seed (the odd layers' initial values are never
    read: the first sweep draws them). ``(v0, mu_1 [C, n_1], .., mu_L)``."""
    v0 = jnp.asarray(v0, jnp.float32)
    return (v0, *mean_field_init(params, v0))


def sample_chain(
    key: PRNGKey, params: Params, v0: Array, num_steps: int, every: int = 1, *, mean: bool = False
) -> Array:
    """Gibbs chains of the DBM seeded with ``v0`` (noise, or existing images), frame by frame.

    One sweep draws the odd layers (``h_1``, ``h_3``) given the even ones, then the even layers
    (``v``, ``h_2``) given the odd ones; the hidden layers start at :func:`seed_layers`. Frame ``j``
    is the visible state after ``(j + 1) * every`` sweeps (``v0`` itself is not a frame), or with
    ``mean`` the mean ``E[v | h_1] = sigmoid(b_0 + h_1 W_0^T)`` of that sweep.

    Args:
      key: PRNG key (chain ``c`` uses ``random.split(key, C)[c]``).
      params: DBM params.
      v0: float [C, D] in {0, 1} (or [0, 1]): noise, marginal draws or flattened seed images.
      num_steps: sweeps (static).
      every: sweeps per frame (static, divides ``num_steps``).
      mean: frames are ``E[v | h_1]`` in [0, 1] instead of binary samples of ``v``.

    Returns:
      float32 [C, num_steps // every, D].

    Raises:
      ValueError: when ``v0`` is not ``[C, D]`` with the params' D, or for bad step counts.
    """
    num_visible = params["b"][0].shape[0]
    if v0.ndim != 2 or v0.shape[1] != num_visible:
        raise ValueError(f"v0 must be [C, {num_visible}] (flattened seeds), got shape {v0.shape}")
    frame_fn = (lambda s: jax.nn.sigmoid(layer_logits(params, s, 0))) if mean else None
    return gibbs.sample_chain(
        key, seed_layers(params, v0), conditionals(params), num_steps, every, frame_fn=frame_fn
    )


def mean_field(
    params: Params, v: Array, *, max_iters: int = 30, tol: float = 1e-4, damping: float = 0.0
) -> tuple[Layers, dict[str, Array]]:
    """Mean-field posterior ``q(h | v)``: :func:`mean_field_step` in ``lax.while_loop`` until the
    largest change of any mean is below ``tol`` or ``max_iters`` iterations.

    Args:
      params: DBM params (not differentiated through: wrap in ``stop_gradient`` when inside a loss).
      v: float [B, D].
      max_iters, tol, damping: see :class:`DBMConfig`.

    Returns:
      ``(mus, info)`` with ``info = {'iters': int32, 'residual': float32}`` (the last largest
      change).
    """

    def cond(carry):
        _, i, residual = carry
        return (i < max_iters) & (residual > tol)

    def body(carry):
        mus, i, _ = carry
        new = mean_field_step(params, v, mus, damping)
        residual = jnp.max(
            jnp.stack([jnp.max(jnp.abs(a - b)) for a, b in zip(new, mus, strict=True)])
        )
        return new, i + 1, residual

    init = (mean_field_init(params, v), jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, jnp.float32))
    mus, iters, residual = jax.lax.while_loop(cond, body, init)
    return mus, {"iters": iters, "residual": residual}


def _entropy(mu: Array) -> Array:
    return -jnp.sum(
        mu * jnp.log(jnp.clip(mu, 1e-12)) + (1 - mu) * jnp.log(jnp.clip(1 - mu, 1e-12)), axis=-1
    )


def elbo(params: Params, v: Array, mus: Sequence[Array]) -> Array:
    """Unnormalized variational bound ``-E_q[E(v, h)] + H(q)``: subtract ``log Z`` for a lower bound
    on
    ``log p(v)``. [..., D] -> [...] nats."""
    return -energy(params, (v, *mus)) + sum(_entropy(mu) for mu in mus)


def _ais_path(params: Params, base: Sequence[Array]):
    """Geometric path from independent units with biases ``base`` to the DBM, the even layers
    (``v``, ``h_2``) summed out, the state the odd layers."""
    num_layers = len(params["b"])
    odd = tuple(range(1, num_layers, 2))
    even = tuple(range(0, num_layers, 2))

    def full(state: Sequence[Array], fill: Optional[Sequence[Array]] = None) -> list:
        layers = [None] * num_layers
        for li, x in zip(odd, state, strict=True):
            layers[li] = x
        for li in even:
            layers[li] = None if fill is None else fill[even.index(li)]
        return layers

    def logits(layers, li, beta):
        # A layer's neighbours have the other parity, so the layers not filled in are never read.
        return (1.0 - beta) * base[li] + beta * layer_logits(params, layers, li)

    def log_f(state: Sequence[Array], beta: Array) -> Array:
        layers = full(state)
        out = sum(
            x @ ((1.0 - beta) * base[li] + beta * params["b"][li])
            for li, x in zip(odd, state, strict=True)
        )
        for li in even:
            out = out + jnp.sum(jax.nn.softplus(logits(layers, li, beta)), axis=-1)
        return out

    def transition(key: PRNGKey, state: Sequence[Array], beta: Array):
        k_even, k_odd = jax.random.split(key)
        layers = full(state)
        ks = jax.random.split(k_even, len(even))
        evens = [
            gibbs.bernoulli(k, logits(layers, li, beta)) for k, li in zip(ks, even, strict=True)
        ]
        layers = full(state, evens)
        ks = jax.random.split(k_odd, len(odd))
        return tuple(
            gibbs.bernoulli(k, logits(layers, li, beta)) for k, li in zip(ks, odd, strict=True)
        )

    return odd, log_f, transition


def ais_log_z(
    key: PRNGKey,
    params: Params,
    base_logits: Array,
    *,
    num_intermediate: int = 1000,
    num_runs: int = 100,
) -> tuple[Array, Array]:
    """AIS estimate of ``log Z`` of a DBM (Salakhutdinov & Hinton, 2009, section 4).

    The runs move over the odd layers only; ``v`` and ``h_2`` are summed out in closed form, which
    lowers the variance. Base model: visible biases ``base_logits`` (the data marginals), hidden
    biases zero, no weights; path and schedule as in :func:`genjax.models.rbm.ais_log_z`.

    Returns:
      ``(log_z, log_z_std)`` (see :func:`genjax.samplers.ais.log_z_estimate`).
    """
    base = [jnp.asarray(base_logits, jnp.float32)] + [jnp.zeros_like(b) for b in params["b"][1:]]
    odd, log_f, transition = _ais_path(params, base)
    keys = jax.random.split(key, len(odd) + 1)
    x0 = tuple(
        gibbs.bernoulli(k, jnp.broadcast_to(base[li], (num_runs, base[li].shape[0])))
        for k, li in zip(keys[1:], odd, strict=True)
    )
    log_w = ais.ais_log_weights(keys[0], x0, log_f, transition, ais.betas(num_intermediate))
    log_z0 = sum(jnp.sum(jax.nn.softplus(b)) for b in base)
    return ais.log_z_estimate(log_w, log_z0)


def _flatten(batch: Batch, image_shape: tuple[int, ...]) -> Array:
    image = batch["image"]
    if tuple(image.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"batch['image'] has shape {image.shape}, "
            f"expected [B, {', '.join(map(str, image_shape))}]"
        )
    return image.reshape(image.shape[0], -1).astype(jnp.float32)


def make_dbm(config: DBMConfig, initial_params: Optional[Params] = None) -> Model:
    """Builds the DBM :class:`~genjax.base.Model`.

    * ``init``: params by :func:`init_params`, or ``initial_params`` when given (e.g. :func:`from_rbm`
      or :func:`from_pretrained`); state ``{'base': [D] logits of the init batch's
      marginals (AIS base), 'chains': (v [C, D], h_1 [C, n_1], ..)}`` started from that marginal.
    * ``loss``: the surrogate of the module docstring; metrics ``mf_iters``, ``mf_residual``,
      ``recon_error`` (``||v - sigmoid(b_0 + mu_1 W_0^T)||^2``) and ``elbo_unnormalized``.
    * ``sample``: ``sample_steps`` sweeps of :func:`sample_chain` from the data marginal; binary
      images ``[n, *image_shape]`` (the data space, what a binarized test set is compared with).
    * ``log_prob``: ``ELBO(v) - log Z_AIS`` (:data:`~genjax.base.Likelihood.LOWER_BOUND`): a lower bound on
      ``log p(v)`` up to the AIS error in ``log Z`` (AIS tends to underestimate ``log Z``, which can
      push the reported value above the true bound; use enough intermediate distributions).
    """
    sizes = config.sizes
    mf = dict(max_iters=config.mf_max_iters, tol=config.mf_tol, damping=config.mf_damping)
    if initial_params is not None:
        shapes = [tuple(w.shape) for w in initial_params["W"]]
        shapes += [tuple(b.shape) for b in initial_params["b"]]
        expected = list(zip(sizes[:-1], sizes[1:], strict=True)) + [(n,) for n in sizes]
        if shapes != expected:
            raise ValueError(f"initial_params have shapes {shapes}, expected {expected} for sizes {sizes}")

    def chains_from(key: PRNGKey, base: Array, n: int) -> Layers:
        v = gibbs.marginal_init(key, n, jax.nn.sigmoid(base))
        return (v, *(jnp.zeros((n, s), jnp.float32) for s in sizes[1:]))

    def init(key: PRNGKey, batch: Batch) -> dict:
        v = _flatten(batch, config.image_shape)
        k_w, k_c = jax.random.split(key)
        base = _logit(jnp.mean(v, axis=0))
        if initial_params is None:
            params = init_params(k_w, sizes, jnp.mean(v, axis=0), config.init_scale)
        else:
            params = jax.tree.map(jnp.asarray, initial_params)
        return {
            "params": params,
            "state": {"base": base, "chains": chains_from(k_c, base, config.num_chains)},
        }

    def loss(
        params: Params, state: State, batch: Batch, key: PRNGKey
    ) -> tuple[Array, tuple[Metrics, State]]:
        v = _flatten(batch, config.image_shape)
        frozen = jax.lax.stop_gradient(params)
        mus, info = mean_field(frozen, v, **mf)
        # One key per sweep for the whole batch of chains (the conditionals are batch-agnostic).
        chains, _ = gibbs.run_chain(key, state["chains"], conditionals(frozen), config.gibbs_steps)
        chains = jax.lax.stop_gradient(chains)
        value = cd_surrogate(energy(params, (v, *mus)), energy(params, chains))
        recon = jax.nn.sigmoid(layer_logits(frozen, (v, mus[0]), 0))
        metrics = {
            "mf_iters": info["iters"],
            "mf_residual": info["residual"],
            "recon_error": jnp.mean(jnp.sum(jnp.square(v - recon), axis=-1)),
            "elbo_unnormalized": jnp.mean(elbo(frozen, v, mus)),
        }
        return value, (metrics, {**state, "chains": chains})

    def sample(params: Params, state: State, key: PRNGKey, n: int) -> Array:
        k0, k_run = jax.random.split(key)
        v0 = gibbs.marginal_init(k0, n, jax.nn.sigmoid(state["base"]))
        steps = config.sample_steps
        return sample_chain(k_run, params, v0, steps, steps)[:, -1].reshape((n, *config.image_shape))

    def log_prob(params: Params, state: State, batch: Batch, key: PRNGKey) -> Array:
        v = _flatten(batch, config.image_shape)
        mus, _ = mean_field(params, v, **mf)
        log_z, _ = ais_log_z(
            key,
            params,
            state["base"],
            num_intermediate=config.ais_intermediate,
            num_runs=config.ais_runs,
        )
        return elbo(params, v, mus) - log_z

    return Model(
        init=init, loss=loss, sample=sample, log_prob=log_prob, likelihood=Likelihood.LOWER_BOUND
    )


def _multiplicities(layer: int, num_hidden_layers: int) -> tuple[float, float]:
    """Copies of the visible and hidden units of pretraining RBM ``layer`` (Salakhutdinov & Hinton,
    2009, section 3.1): the bottom RBM doubles its input, the top RBM its hidden units, a middle
    one both."""
    return (2.0 if layer < num_hidden_layers - 1 else 1.0), (2.0 if layer > 0 else 1.0)


def _pretrain_free_energy(params: Params, s: Array, m_h: float) -> Array:
    # With tied copies, only the sum s of the visible copies enters: F(s) = -b_v.s - m_h sum
    # softplus(b_h + s W).
    return -(s @ params["b_v"]) - m_h * jnp.sum(
        jax.nn.softplus(s @ params["W"] + params["b_h"]), axis=-1
    )


def _binomial(key: PRNGKey, logits: Array, copies: float) -> Array:
    keys = jax.random.split(key, int(copies))
    return sum(gibbs.bernoulli(k, logits) for k in keys)


def _pretraining_inputs(batch: Batch, layer: int, config: DBMConfig) -> Array:
    if layer == 0:
        return _flatten(batch, config.image_shape)
    x = batch["x"]
    if x.ndim != 2 or x.shape[1] != config.sizes[layer]:
        raise ValueError(
            f"batch['x'] for pretraining layer {layer} must be [B, {config.sizes[layer]}], "
            f"got {x.shape}"
        )
    return x.astype(jnp.float32)


def make_pretraining_rbm(config: DBMConfig, layer: int, cd_steps: int = 1) -> Model:
    """The RBM of greedy pretraining step ``layer`` (0 = bottom), trained by CD-k as a ``Model``.

    Its visible units are ``x_layer`` (``batch['image']`` for layer 0, else ``batch['x']: [B,
    n_layer]`` from :func:`propagate_up`), its hidden units ``x_{layer+1}``; the visible and/or
    hidden units are doubled with tied weights (``_multiplicities``), so ``p(h | x) =
    sigmoid(m_v x W + b_h)`` and ``p(x | h) = sigmoid(m_h h W^T + b_v)``. Params ``{'W', 'b_v',
    'b_h'}``; train with ``genjax.training`` and assemble with :func:`from_pretrained`.

    Raises:
      ValueError: for a layer outside ``0 .. len(hidden) - 1``.
    """
    num_hidden_layers = len(config.hidden)
    if not 0 <= layer < num_hidden_layers:
        raise ValueError(f"layer must be in 0..{num_hidden_layers - 1}, got {layer}")
    m_v, m_h = _multiplicities(layer, num_hidden_layers)
    n_in, n_out = config.sizes[layer], config.sizes[layer + 1]

    def init(key: PRNGKey, batch: Batch) -> dict:
        x = _pretraining_inputs(batch, layer, config)
        b_v = _logit(jnp.mean(x, axis=0)) if layer == 0 else jnp.zeros((n_in,), jnp.float32)
        w = config.init_scale * jax.random.normal(key, (n_in, n_out), jnp.float32)
        return {
            "params": {"W": w, "b_v": b_v, "b_h": jnp.zeros((n_out,), jnp.float32)},
            "state": {},
        }

    def negatives(key: PRNGKey, params: Params, s: Array) -> Array:
        def sweep(s, k):
            k_h, k_v = jax.random.split(k)
            t = _binomial(k_h, s @ params["W"] + params["b_h"], m_h)
            return _binomial(k_v, t @ params["W"].T + params["b_v"], m_v), None

        return jax.lax.scan(sweep, s, jax.random.split(key, cd_steps))[0]

    def loss(params: Params, state: State, batch: Batch, key: PRNGKey):
        s = m_v * _pretraining_inputs(batch, layer, config)
        frozen = jax.lax.stop_gradient(params)
        s_neg = jax.lax.stop_gradient(negatives(key, frozen, s))
        value = cd_surrogate(
            _pretrain_free_energy(params, s, m_h), _pretrain_free_energy(params, s_neg, m_h)
        )
        h = jax.nn.sigmoid(s @ frozen["W"] + frozen["b_h"])
        recon = jax.nn.sigmoid(m_h * h @ frozen["W"].T + frozen["b_v"])
        return value, (
            {"recon_error": jnp.mean(jnp.sum(jnp.square(s / m_v - recon), axis=-1))},
            state,
        )

    def sample(params: Params, state: State, key: PRNGKey, n: int) -> Array:
        k0, k1 = jax.random.split(key)
        s = m_v * gibbs.noise_init(k0, n, (n_in,))
        x = negatives(k1, params, s) / m_v
        return x.reshape((n, *config.image_shape)) if layer == 0 else x

    return Model(init=init, loss=loss, sample=sample)


def propagate_up(params: Params, x: Array, layer: int, config: DBMConfig) -> Array:
    """Inputs of pretraining step ``layer + 1``: ``p(h = 1 | x) = sigmoid(m_v x W + b_h)`` of the
    trained
    RBM ``layer``. [B, n_layer] -> [B, n_{layer+1}] in (0, 1)."""
    m_v, _ = _multiplicities(layer, len(config.hidden))
    return jax.nn.sigmoid(m_v * (x @ params["W"]) + params["b_h"])


def from_pretrained(config: DBMConfig, layer_params: Sequence[Params]) -> Params:
    """DBM params from the pretrained RBMs: the weights as trained (the doubling stood in for the
    neighbour each RBM lacked), the hidden biases of a layer shared by two RBMs averaged.

    Raises:
      ValueError: when the number or shapes of the RBMs do not match ``config``.
    """
    sizes = config.sizes
    if len(layer_params) != len(config.hidden):
        raise ValueError(f"need {len(config.hidden)} pretrained RBMs, got {len(layer_params)}")
    for li, p in enumerate(layer_params):
        if p["W"].shape != (sizes[li], sizes[li + 1]):
            raise ValueError(
                f"pretrained RBM {li} has W {p['W'].shape}, expected {(sizes[li], sizes[li + 1])}"
            )
    biases = [layer_params[0]["b_v"]]
    for li in range(1, len(sizes)):
        below = layer_params[li - 1]["b_h"]
        biases.append(below if li == len(sizes) - 1 else 0.5 * (below + layer_params[li]["b_v"]))
    return {"W": [p["W"] for p in layer_params], "b": biases}


def from_rbm(key: PRNGKey, config: DBMConfig, rbm_params: Params, scale: Optional[float] = None) -> Params:
    """DBM params whose bottom layer is a trained RBM: ``W_0, b_0, b_1`` from the RBM, the layers above
    with weights ``scale * N(0, 1)`` (default ``config.init_scale``) and zero biases.

    With zero upper weights the DBM's ``p(v)`` is the RBM's, and ``p(h_1 | v)`` is factorial, so the
    mean-field bound is tight: the bound starts at the RBM's log-likelihood and joint training
    (:func:`make_dbm`) improves on it. On binarized Fashion-MNIST this stacking reaches a higher bound in
    the same training time than the doubled-unit pretraining of :func:`make_pretraining_rbm`.

    Args:
      key: PRNG key for the upper weights.
      config: the DBM's config.
      rbm_params: ``{'W': [D, n_1], 'b_v': [D], 'b_h': [n_1]}`` (``genjax.models.rbm``, Bernoulli).
      scale: std of the upper weights.

    Raises:
      ValueError: when the RBM's shapes do not match the DBM's first two layers.
    """
    sizes = config.sizes
    if rbm_params["W"].shape != (sizes[0], sizes[1]):
        raise ValueError(f"the RBM has W {rbm_params['W'].shape}, expected {(sizes[0], sizes[1])}")
    scale = config.init_scale if scale is None else scale
    keys = jax.random.split(key, len(sizes) - 2)
    upper = [
        scale * jax.random.normal(k, (a, b), jnp.float32)
        for k, a, b in zip(keys, sizes[1:-1], sizes[2:], strict=True)
    ]
    biases = [jnp.asarray(rbm_params["b_v"], jnp.float32), jnp.asarray(rbm_params["b_h"], jnp.float32)]
    return {
        "W": [jnp.asarray(rbm_params["W"], jnp.float32), *upper],
        "b": biases + [jnp.zeros((n,), jnp.float32) for n in sizes[2:]],
    }
