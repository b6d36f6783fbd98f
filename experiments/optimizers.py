"""Optimizers from config: ``{'name': 'adam', 'learning_rate': 1e-3, ...}`` -> an optax chain.

Fields of one group: ``name``, ``learning_rate``, ``b1``, ``b2``, ``momentum``, ``weight_decay``,
``grad_clip`` (global norm), ``warmup_steps`` (linear from 0) and ``decay_steps`` (cosine decay to 0
at that step, warmup included; Loshchilov & Hutter, 2017). Without ``decay_steps`` the rate stays at
``learning_rate`` after the warmup.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

import optax

__all__ = ["make_optimizer", "OPTIMIZERS"]

OPTIMIZERS = ("adam", "adamw", "radam", "sgd")
_GROUP_FIELDS = {"name", "learning_rate", "b1", "b2", "momentum", "weight_decay", "grad_clip", "warmup_steps",
                 "decay_steps"}


def _one(cfg: Mapping[str, Any]) -> optax.GradientTransformation:
    unknown = set(cfg) - _GROUP_FIELDS
    if unknown:
        raise ValueError(f"unknown optimizer field(s) {sorted(unknown)}; valid fields: {sorted(_GROUP_FIELDS)}")
    name = cfg.get("name", "adam")
    lr = cfg.get("learning_rate", 1e-3)
    warmup, decay = int(cfg.get("warmup_steps") or 0), int(cfg.get("decay_steps") or 0)
    if decay:
        if decay <= warmup:
            raise ValueError(f"decay_steps ({decay}) must exceed warmup_steps ({warmup})")
        lr = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, decay)
    elif warmup:
        lr = optax.linear_schedule(0.0, lr, warmup)
    if name == "adam":
        tx = optax.adam(lr, b1=cfg.get("b1", 0.9), b2=cfg.get("b2", 0.999))
    elif name == "adamw":
        tx = optax.adamw(lr, b1=cfg.get("b1", 0.9), b2=cfg.get("b2", 0.999), weight_decay=cfg.get("weight_decay", 1e-4))
    elif name == "radam":
        tx = optax.radam(lr, b1=cfg.get("b1", 0.9), b2=cfg.get("b2", 0.999))
    elif name == "sgd":
        tx = optax.sgd(lr, momentum=cfg.get("momentum") or None)
    else:
        raise ValueError(f"unknown optimizer {name!r}; valid choices: {list(OPTIMIZERS)}")
    parts = []
    if cfg.get("grad_clip"):
        parts.append(optax.clip_by_global_norm(cfg["grad_clip"]))
    if cfg.get("weight_decay") and name != "adamw":
        parts.append(optax.add_decayed_weights(cfg["weight_decay"]))
    return optax.chain(*parts, tx) if parts else tx


def make_optimizer(cfg: Mapping[str, Any]) -> Union[optax.GradientTransformation, dict[str, optax.GradientTransformation]]:
    """One transformation, or ``{group: transformation}`` when ``cfg`` maps group names to configs."""
    if cfg and all(isinstance(v, Mapping) for v in cfg.values()):
        return {group: _one(sub) for group, sub in cfg.items()}
    return _one(cfg)
