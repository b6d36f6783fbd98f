"""How each family is driven by the CLI: one module per family exposing ``spec(config) -> FamilySpec``.

A spec turns the loose ConfigDict into typed library configs (at the edge, as vdm does) and says how
raw data becomes the family's batches and how its samples become images for evaluation.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Optional

__all__ = ["FamilySpec", "FAMILIES", "get_spec"]

FAMILIES = (
    "rbm", "dbm", "vae", "gan", "flow", "pixelcnn", "diffusion", "flow_matching", "consistency", "autoencoder", "ldm",
)
"""``autoencoder`` is the first stage of latent diffusion; ``ldm`` restores its run and diffuses its
latents."""


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """Attributes:
    model: the family's ``genjax.Model``.
    to_batch: raw arrays ``{'image': uint8 [N,H,W,C] levels, 'label'}`` -> the model's batch arrays.
    to_images: the model's samples -> float32 ``[N, H, W, C]`` images in [-1, 1].
    sample: ``(train_state, key, n) -> samples`` (default: ``model.sample`` on the EMA params when
      kept, else the params).
    nfe: network evaluations per sample.
    ema_decay: EMA kept by the train step, or ``None``.
    log_prob: ``(train_state, batch, key) -> [B]`` nats when the likelihood is not the model's own
      (a distilled consistency model reports its teacher's ODE likelihood), with ``likelihood``
      its kind; or a :class:`genjax.samplers.ode.LogLikelihood` whose ``error`` the evaluation
      checks before it reports bits/dim (probability-flow ODE likelihoods).
    likelihood_steps: the solver steps of such an ODE likelihood (recorded in ``eval.json``).
    summary: ``(train_state, raw test arrays) -> dict`` of facts about the trained model that the
      evaluation records beside its metrics (latent diffusion: the latent shape, the scale factor, the
      autoencoder's reconstruction error).
    sample_with_sigmas: ``(train_state, key, n, sigmas tuple) -> samples`` for families sampled over
      a chosen sequence of noise levels (consistency models; first = ``sigma_max``), one network
      evaluation per sigma: what ``eval.search_sigmas`` searches over.
    """

    model: Any
    to_batch: Callable[[dict], dict]
    to_images: Callable[[Any], Any]
    nfe: int
    sample: Optional[Callable[..., Any]] = None
    ema_decay: Optional[float] = None
    log_prob: Optional[Callable[..., Any]] = None
    likelihood: Optional[str] = None
    likelihood_steps: Optional[int] = None
    summary: Optional[Callable[..., dict]] = None
    sample_with_sigmas: Optional[Callable[..., Any]] = None


def get_spec(config) -> FamilySpec:
    """Builds the spec of ``config.family``.

    Raises:
      ValueError: for an unknown family, listing the valid ones.
    """
    if config.family not in FAMILIES:
        raise ValueError(f"unknown family {config.family!r}; valid choices: {list(FAMILIES)}")
    return importlib.import_module(f"experiments.families.{config.family}").spec(config)
