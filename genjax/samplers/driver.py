"""The one sampling driver: a ``lax.scan`` over a step function with keys split up front.

Every iterative sampler in genjax (Gibbs, AIS, DDPM/DDIM, ODE, multistep consistency) is a step
``step(key, state, i) -> (state, info)`` run by :func:`run`. Many chains are a ``jax.vmap`` of
:func:`run` over ``jax.random.split(key, C)`` (the blackjax convention). ``run`` is traceable and is
meant to be called inside ``jax.jit`` (the caller decides whether to jit, vmap or pmap).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from genjax.typing import Array, PRNGKey

__all__ = ["run", "StepFn"]

StepFn = Callable[[PRNGKey, Any, Array], tuple[Any, Any]]
"""``(key, state, i) -> (state, info)``: one transition, as ``run`` calls it."""


def run(
    step: StepFn,
    key: PRNGKey,
    state: Any,
    num_steps: int,
    *,
    burn_in: int = 0,
    thin: int = 1,
    trace_fn: Optional[Callable[[Any, Any], Any]] = None,
    unroll: int = 1,
) -> tuple[Any, Any]:
    """Runs ``burn_in + num_steps`` transitions of ``step`` in ``lax.scan``.

    Args:
      step: ``(key, state, i) -> (state, info)``; ``i`` is the int32 index of the transition,
        counted from 0 at the first burn-in step.
      key: one PRNG key; it is split into one key per transition before the loop.
      state: the initial state (any pytree).
      num_steps: transitions after burn-in (static, >= 0).
      burn_in: transitions run first whose states are never traced (static, >= 0).
      thin: keep every ``thin``-th state of the ``num_steps`` (static, >= 1, divides ``num_steps``).
      trace_fn: ``(state, info) -> pytree`` stored every ``thin`` steps after burn-in, stacked on a
        leading axis of length ``num_steps // thin``; ``None`` stores nothing.
      unroll: passed to ``lax.scan``: transitions per loop iteration in the compiled program.

    Returns:
      ``(final_state, trace)`` where ``trace`` is ``None`` when ``trace_fn`` is ``None``.

    Raises:
      ValueError: for a negative step count, ``thin < 1`` or ``thin`` not dividing ``num_steps``.
    """
    if num_steps < 0 or burn_in < 0:
        raise ValueError(f"num_steps and burn_in must be >= 0, got {num_steps} and {burn_in}")
    if thin < 1 or num_steps % thin:
        raise ValueError(f"thin must be >= 1 and divide num_steps={num_steps}, got thin={thin}")
    total = burn_in + num_steps
    keys = jax.random.split(key, max(total, 1))[:total]
    idx = jnp.arange(total, dtype=jnp.int32)

    def one(carry, xs):
        k, i = xs
        new, info = step(k, carry, i)
        return new, info

    def no_trace(carry, xs):
        return one(carry, xs)[0], None

    if burn_in:
        state, _ = jax.lax.scan(no_trace, state, (keys[:burn_in], idx[:burn_in]), unroll=unroll)
    keys, idx = keys[burn_in:], idx[burn_in:]
    if trace_fn is None:
        if num_steps:
            state, _ = jax.lax.scan(no_trace, state, (keys, idx), unroll=unroll)
        return state, None

    kept = num_steps // thin
    keys = keys.reshape((kept, thin) + keys.shape[1:])
    idx = idx.reshape(kept, thin)

    def block(carry, xs):
        k, i = xs
        carry, _ = jax.lax.scan(no_trace, carry, (k[:-1], i[:-1]), unroll=unroll)
        carry, info = one(carry, (k[-1], i[-1]))
        return carry, trace_fn(carry, info)

    return jax.lax.scan(block, state, (keys, idx))
