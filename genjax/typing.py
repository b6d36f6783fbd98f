"""Type aliases used across genjax, defined once.

Shapes are written in docstrings as ``float32 [B, H, W, C]``; these aliases only name the roles.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax

__all__ = ["Array", "PRNGKey", "Params", "State", "Variables", "Batch", "Metrics", "Loss"]

Array = jax.Array
"""Any JAX array."""
PRNGKey = jax.Array
"""A typed or raw ``jax.random`` key."""
Params = Any
"""A pytree of trainable arrays (what the optimizer updates)."""
State = Any
"""A pytree carried across steps but not trained by gradients (chains, teacher, EMA target)."""
Variables = Mapping[str, Any]
"""``{'params': Params, 'state': State}`` as returned by ``Model.init``."""
Batch = Mapping[str, Array]
"""``{'image': float32 [B, H, W, C], 'label': int32 [B]}``; 2-D toys use ``{'x': float32 [B, 2]}``."""
Metrics = Mapping[str, Array]
"""Scalar diagnostics keyed by name."""
Loss = Any
"""A scalar, or for several players a dict ``{group: scalar}``."""
