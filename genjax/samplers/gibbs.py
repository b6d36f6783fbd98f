"""Block Gibbs sampling for layered binary models (RBMs, deep Boltzmann machines), model-agnostic.

A layered model is a tuple of layers ``(v, h1, ..., hL)``; the sampler knows nothing of energies. It
takes one conditional sampler per layer, ``conditional[l](key, layers) -> layer l``, which draws
layer ``l`` given its neighbours, and a *schedule*: the groups of layers that are conditionally
independent given the rest and can be updated together (for a layered model, the odd layers then the
even layers; for an RBM, the hidden layer then the visible one). One *sweep* updates every group
once.

Levels, as everywhere in genjax.samplers: the pure :func:`gibbs_sweep` with every argument explicit,
the builder :func:`make_gibbs` returning a :class:`genjax.base.Sampler`, and :func:`run_chain` /
:func:`run_chains` on top of the one scan driver. :func:`sample_chain` returns the frames of many
chains started from given states: random ones (:func:`noise_init`, :func:`marginal_init`) or existing
images as seeds. Conditionals are written for ONE chain (unbatched
layers); ``C`` chains are a ``jax.vmap`` of :func:`run_chain` over ``jax.random.split(key, C)``,
which XLA turns into one batched matrix product per block. Under ``jax.pmap`` each device runs its
share of the chains (``pmap(run_chains)`` over per-device keys and initial layers).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp

from genjax.base import Sampler
from genjax.samplers import driver
from genjax.typing import Array, PRNGKey

__all__ = [
    "Conditional",
    "Layers",
    "alternating_schedule",
    "bernoulli",
    "gibbs_sweep",
    "make_gibbs",
    "run_chain",
    "run_chains",
    "sample_chain",
    "noise_init",
    "marginal_init",
]

Layers = tuple[Array, ...]
"""The state of one chain: one array per layer, ``(v, h1, ..., hL)``."""
Conditional = Callable[[PRNGKey, Layers], Array]
"""``(key, layers) -> new value of one layer`` drawn from its conditional given the others."""
Schedule = Sequence[Sequence[int]]


def bernoulli(key: PRNGKey, logits: Array) -> Array:
    """Draws binary units with ``p(x = 1) = sigmoid(logits)``.

    Args:
      key: PRNG key.
      logits: float [...], the units' total inputs.

    Returns:
      float32 [...] in {0, 1}, the dtype of the layers so that they enter matrix products directly.
    """
    return jax.random.bernoulli(key, jax.nn.sigmoid(logits)).astype(jnp.float32)


def alternating_schedule(num_layers: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The odd layers, then the even layers: one sweep of a layered model (for an RBM, ``h`` then
    ``v``).

    Raises:
      ValueError: for fewer than two layers.
    """
    if num_layers < 2:
        raise ValueError(f"a layered model needs at least 2 layers, got num_layers={num_layers}")
    return tuple(range(1, num_layers, 2)), tuple(range(0, num_layers, 2))


def _check(layers: Layers, conditionals: Sequence[Conditional], schedule: Schedule) -> None:
    if len(conditionals) != len(layers):
        raise ValueError(
            f"need one conditional per layer: got {len(conditionals)} for {len(layers)} layers"
        )
    seen = sorted(i for group in schedule for i in group)
    if any(i < 0 or i >= len(layers) for i in seen):
        raise ValueError(f"schedule {schedule} names a layer outside 0..{len(layers) - 1}")


def gibbs_sweep(
    key: PRNGKey, layers: Layers, conditionals: Sequence[Conditional], schedule: Schedule
) -> Layers:
    """One sweep of block Gibbs sampling: each group of the schedule in turn, all of its layers
    drawn from the same current state (they must be conditionally independent given the other
    layers).

    Args:
      key: PRNG key for this sweep.
      layers: the current state of one chain (or of a batch, if the conditionals are batched).
      conditionals: ``conditionals[l](key, layers) -> layer l``.
      schedule: groups of layer indices, updated in order.

    Returns:
      The new layers.
    """
    layers = tuple(layers)
    keys = jax.random.split(key, len(layers))
    for group in schedule:
        new = {li: conditionals[li](keys[li], layers) for li in group}
        layers = tuple(new.get(li, x) for li, x in enumerate(layers))
    return layers


def make_gibbs(conditionals: Sequence[Conditional], schedule: Optional[Schedule] = None) -> Sampler:
    """Builds the block Gibbs :class:`~genjax.base.Sampler` (``init`` is the identity on the
    layers).

    Args:
      conditionals: one conditional sampler per layer.
      schedule: layer groups per sweep; default :func:`alternating_schedule`.
    """
    schedule = alternating_schedule(len(conditionals)) if schedule is None else schedule

    def init(key: PRNGKey, layers: Layers) -> Layers:
        del key
        return tuple(layers)

    def step(key: PRNGKey, layers: Layers, i: Array) -> tuple[Layers, None]:
        del i
        return gibbs_sweep(key, layers, conditionals, schedule), None

    return Sampler(init, step)


def run_chain(
    key: PRNGKey,
    layers: Layers,
    conditionals: Sequence[Conditional],
    num_steps: int,
    *,
    schedule: Optional[Schedule] = None,
    burn_in: int = 0,
    thin: int = 1,
    trace_fn: Optional[Callable[[Layers], Any]] = None,
    unroll: int = 1,
) -> tuple[Layers, Any]:
    """Runs one chain for ``burn_in + num_steps`` sweeps with the scan driver.

    Conditionals written with products over the last axis (``v @ W``) are batch-agnostic: given
    layers with a leading chain axis, this runs all chains as one batched block update with one key
    per sweep, which is cheaper inside a training step than :func:`run_chains`' per-chain keys.

    Args:
      key: the chain's PRNG key.
      layers: its initial layers.
      conditionals: one conditional sampler per layer (unbatched).
      num_steps: sweeps after burn-in.
      schedule: default :func:`alternating_schedule`.
      burn_in: sweeps whose states are not traced.
      thin: trace every ``thin``-th sweep (must divide ``num_steps``).
      trace_fn: ``layers -> pytree`` stored after every ``thin`` sweeps; ``None`` stores nothing.
      unroll: sweeps per compiled loop iteration.

    Returns:
      ``(final_layers, trace)``; the trace has a leading axis of ``num_steps // thin`` (``None``
      without ``trace_fn``).

    Raises:
      ValueError: for a conditional count or schedule that does not match the layers, or bad step
        counts.
    """
    schedule = alternating_schedule(len(conditionals)) if schedule is None else schedule
    _check(layers, conditionals, schedule)
    sampler = make_gibbs(conditionals, schedule)
    wrapped = None if trace_fn is None else (lambda s, info: trace_fn(s))
    return driver.run(
        sampler.step,
        key,
        tuple(layers),
        num_steps,
        burn_in=burn_in,
        thin=thin,
        trace_fn=wrapped,
        unroll=unroll,
    )


def run_chains(
    key: PRNGKey,
    layers: Layers,
    conditionals: Sequence[Conditional],
    num_steps: int,
    **kwargs: Any,
) -> tuple[Layers, Any]:
    """Runs ``C`` independent chains: ``vmap`` of :func:`run_chain` over ``random.split(key, C)``.

    Chain ``c`` gets ``random.split(key, C)[c]``, so splitting the chains between devices (``pmap``
    over ``[D, C / D]`` keys and layers of :func:`run_chain`) reproduces the same chains.

    Args:
      key: one PRNG key for all chains.
      layers: initial layers, each with a leading chain axis ``[C, ...]``.
      conditionals: per-chain (unbatched) conditional samplers.
      num_steps: sweeps after burn-in.
      **kwargs: ``schedule``, ``burn_in``, ``thin``, ``trace_fn``, ``unroll`` of :func:`run_chain`.

    Returns:
      ``(final_layers [C, ...], trace [C, num_steps // thin, ...] or None)``.
    """
    num_chains = layers[0].shape[0]
    if any(x.shape[0] != num_chains for x in layers):
        raise ValueError(
            f"every layer needs the same leading chain axis, got {[x.shape for x in layers]}"
        )
    keys = jax.random.split(key, num_chains)
    return jax.vmap(lambda k, li: run_chain(k, li, conditionals, num_steps, **kwargs))(
        keys, tuple(layers)
    )


def sample_chain(
    key: PRNGKey,
    layers: Layers,
    conditionals: Sequence[Conditional],
    num_steps: int,
    every: int = 1,
    *,
    schedule: Optional[Schedule] = None,
    frame_fn: Optional[Callable[[Layers], Any]] = None,
) -> Any:
    """The frames of ``C`` chains started at ``layers``: the visible layer (or ``frame_fn`` of the
    state) after every ``every`` sweeps.

    Frame ``j`` is the state after ``(j + 1) * every`` sweeps; the initial state is not a frame (a
    chain seeded with images ``v0`` has ``v0`` as its sweep-0 state, which the caller holds). The
    chains are :func:`run_chains` (one key per chain from ``random.split(key, C)``), so the frames
    of chain ``c`` do not depend on how many other chains run beside it.

    Args:
      key: one PRNG key for all chains.
      layers: initial layers, each ``[C, ...]``: noise (:func:`noise_init`), the data marginal
        (:func:`marginal_init`) or seed images in the visible layer.
      conditionals: per-chain (unbatched) conditional samplers.
      num_steps: sweeps (static, >= 0).
      every: sweeps per frame (static, >= 1, divides ``num_steps``).
      schedule: default :func:`alternating_schedule`.
      frame_fn: ``layers -> pytree`` of one chain (default: the visible layer ``layers[0]``; e.g. the
        mean ``E[v | h]`` of the last sweep).

    Returns:
      The frames, ``[C, num_steps // every, ...]`` per leaf.

    Raises:
      ValueError: for bad step counts or layers whose chain axes differ.
    """
    frame_fn = (lambda s: s[0]) if frame_fn is None else frame_fn
    _, frames = run_chains(
        key, layers, conditionals, num_steps, schedule=schedule, thin=every, trace_fn=frame_fn
    )
    return frames


def noise_init(key: PRNGKey, num_chains: int, shape: Sequence[int], p: float = 0.5) -> Array:
    """Initial binary states drawn independently with ``p(x = 1) = p``: float32 ``[C, *shape]`` in
    {0, 1}."""
    return jax.random.bernoulli(key, p, (num_chains, *shape)).astype(jnp.float32)


def marginal_init(key: PRNGKey, num_chains: int, mean: Array) -> Array:
    """Initial binary states from the data marginal: each unit on with its data frequency.

    Args:
      key: PRNG key.
      num_chains: C.
      mean: float [...] in [0, 1], the per-unit data mean.

    Returns:
      float32 [C, ...] in {0, 1}.
    """
    return jax.random.bernoulli(key, mean, (num_chains, *jnp.shape(mean))).astype(jnp.float32)
