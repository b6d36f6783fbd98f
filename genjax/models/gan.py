"""Generative adversarial networks: two players trained by the common per-group train step.

A generator ``G: z -> x`` with ``z ~ N(0, I)`` and a discriminator (critic) ``D: x -> R`` play

    min_G max_D  E_x[f(D(x))] + E_z[g(D(G(z)))]

(Goodfellow et al., 2014). The params are ``{'gen': ..., 'disc': ...}`` and
``Model.update_order = ('disc',) * n_critic + ('gen',)``: the train step
(``genjax.training.make_train_step``) takes, for each name in turn, the gradient of ``loss[name]``
with respect to ``params[name]`` at the params as already updated by the earlier updates, with that
group's own optax optimizer (pass ``{'gen': tx_g, 'disc': tx_d}``). So the generator's loss is
evaluated against the discriminator of this step, all inside one compiled step.

``loss`` returns ``{'disc': scalar, 'gen': scalar}``; the train step logs ``loss/disc``,
``loss/gen``, ``grad_norm/disc`` and ``grad_norm/gen`` every step. The loss cannot know which update
it serves: with ``n_critic > 1`` every critic update of a step sees the same data batch and a fresh
key (new latents, new interpolation weights). The model's own metrics (``d_real``, ``d_fake``, and
``gradient_penalty`` / ``r1_penalty`` when on) are those of the last update, the generator's, i.e.
measured against the already updated discriminator.

Objectives (``GANConfig.loss``), from ``genjax.losses``:

* ``'nonsaturating'``: ``D: softplus(-D(x)) + softplus(D(G(z)))``, ``G: softplus(-D(G(z)))``
  (Goodfellow et al., 2014).
* ``'hinge'``: ``D: relu(1 - D(x)) + relu(1 + D(G(z)))``, ``G: -D(G(z))`` (Lim & Ye, 2017),
  usually with spectral normalization (Miyato et al., 2018).
* ``'wasserstein'``: ``D: D(G(z)) - D(x)``, ``G: -D(G(z))`` (Arjovsky et al., 2017) with the
  gradient penalty ``lambda E[(||grad D(x_hat)|| - 1)^2]`` on interpolates ``x_hat`` (Gulrajani et
  al., 2017) or spectral normalization as the Lipschitz constraint.

Options: the R1 penalty ``gamma / 2 E||grad D(x)||^2`` on real data (Mescheder et al., 2018);
spectral normalization of the discriminator; class conditioning (a label embedding concatenated to
``z`` and a projection discriminator, Miyato & Koyama, 2018; the fakes of a batch use its labels,
and ``sample`` cycles through the classes, ``labels = arange(n) % num_classes``).

State: ``{'gen': collections, 'disc': collections}`` holding the BatchNorm running averages and the
spectral-norm power-iteration vectors (``'batch_stats'``), updated by every loss call.

Sampling and EMA: ``sample(params, state, key, n)`` runs the generator in inference mode (BatchNorm
running averages). Train with ``ema_decay`` (``create_train_state`` / ``make_train_step`` / ``fit``)
and sample ``train_state.ema_params`` (Yazici et al., 2019). The running averages in the state are
those of the raw generator; ``Model.recompute_state`` (a BatchNorm generator only) recomputes them for
other weights from training-mode passes over fresh latents, which
``genjax.training.weights_for_evaluation`` does for the average.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax import losses
from genjax.base import Likelihood, Model
from genjax.nn.dcgan import DCGANDiscriminator, DCGANGenerator, check_norm
from genjax.nn.mlp import MLP
from genjax.typing import Array, Batch, Params, PRNGKey, State

__all__ = [
    "GANConfig",
    "make_gan",
    "make_networks",
    "data_key",
    "LOSSES",
    "ARCHITECTURES",
    "DCGAN_MNIST",
    "DCGAN_DIGITS",
    "HINGE_SN_DIGITS",
    "WGAN_GP_DIGITS",
    "WGAN_GP_2D",
    "HINGE_2D",
    "NONSATURATING_2D",
]

LOSSES = ("nonsaturating", "hinge", "wasserstein")
"""The adversarial objectives ``GANConfig.loss`` accepts."""
ARCHITECTURES = ("dcgan", "mlp")
"""The generator/discriminator pairs ``GANConfig.architecture`` accepts."""
_MUTABLE = ["batch_stats"]
RECOMPUTE_PASSES = 64
"""Training-mode generator passes of ``recompute_state``: the statistics it starts from keep a share
``0.9 ** 64`` (0.1%) at BatchNorm's momentum 0.9."""
RECOMPUTE_BATCH = 256
"""Latents per pass of ``recompute_state``."""


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Hyperparameters of a GAN.

    Attributes:
      architecture: ``'dcgan'`` (images, ``batch['image']``) or ``'mlp'`` (vectors, ``batch['x']``).
      data_shape: one example's shape: ``(H, W, C)`` for dcgan, ``(D,)`` for mlp.
      latent_dim: ``Z``, the width of ``z ~ N(0, I)``.
      loss: one of :data:`LOSSES`.
      gradient_penalty: weight ``lambda`` of the WGAN-GP penalty (10 in the paper); 0 turns it off.
      r1_gamma: ``gamma`` of the R1 penalty ``gamma / 2 ||grad D(x)||^2``; 0 turns it off.
      n_critic: discriminator updates per generator update (5 for WGAN-GP).
      spectral_norm: spectrally normalise the discriminator's weights (dcgan only).
      generator_norm, discriminator_norm: ``'batch' | 'layer' | 'none'`` for dcgan; mlp needs
        ``'none'``. Penalties need a discriminator without BatchNorm.
      num_classes: class-conditional generation with a projection discriminator (dcgan only).
      features: dcgan base width ``F``.
      num_scales: dcgan up/downsamplings; ``H`` and ``W`` must be divisible by ``2**num_scales``.
      hidden: mlp hidden widths (generator and discriminator).
    """

    architecture: str = "dcgan"
    data_shape: tuple[int, ...] = (8, 8, 1)
    latent_dim: int = 64
    loss: str = "nonsaturating"
    gradient_penalty: float = 0.0
    r1_gamma: float = 0.0
    n_critic: int = 1
    spectral_norm: bool = False
    generator_norm: str = "batch"
    discriminator_norm: str = "batch"
    num_classes: Optional[int] = None
    features: int = 64
    num_scales: int = 2
    hidden: tuple[int, ...] = (256, 256, 256)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        check_norm(self.generator_norm, "generator")
        check_norm(self.discriminator_norm, "discriminator")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.gradient_penalty < 0 or self.r1_gamma < 0:
            raise ValueError("gradient_penalty and r1_gamma must be >= 0")
        if (self.gradient_penalty or self.r1_gamma) and self.discriminator_norm == "batch":
            raise ValueError(
                "gradient penalties need each critic output to depend on its own example only; use "
                "discriminator_norm='layer' or 'none' instead of 'batch'"
            )
        if self.loss == "wasserstein" and not (self.gradient_penalty or self.spectral_norm):
            raise ValueError(
                "the wasserstein loss needs a Lipschitz constraint: "
                "set gradient_penalty > 0 or spectral_norm"
            )
        if self.architecture == "dcgan":
            if len(self.data_shape) != 3:
                raise ValueError(f"dcgan needs data_shape (H, W, C), got {self.data_shape}")
            if any(s % 2**self.num_scales for s in self.data_shape[:2]):
                raise ValueError(
                    f"data_shape {self.data_shape} is not divisible by "
                    f"2**num_scales = {2**self.num_scales}"
                )
        else:
            if len(self.data_shape) != 1:
                raise ValueError(f"mlp needs data_shape (D,), got {self.data_shape}")
            if self.spectral_norm or self.num_classes is not None:
                raise ValueError(
                    "spectral_norm and num_classes are supported by the dcgan architecture only"
                )
            if self.generator_norm != "none" or self.discriminator_norm != "none":
                raise ValueError(
                    "the mlp architecture has no normalization: "
                    "set generator_norm and discriminator_norm to 'none'"
                )


class _MLPGenerator(nn.Module):
    hidden: tuple[int, ...]
    dim: int

    @nn.compact
    def __call__(self, z: Array, labels: Optional[Array] = None, train: bool = True) -> Array:
        return MLP(tuple(self.hidden) + (self.dim,), name="mlp")(z)


class _MLPDiscriminator(nn.Module):
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, x: Array, labels: Optional[Array] = None, train: bool = True) -> Array:
        return MLP(
            tuple(self.hidden) + (1,),
            activation=functools.partial(nn.leaky_relu, negative_slope=0.2),
            name="mlp",
        )(x)[:, 0]


def make_networks(config: GANConfig) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator Linen modules of ``config``.

    Both are called as ``(input, labels_or_None, train)``; the generator maps ``[B, Z]`` to data
    ``[B, *data_shape]`` and the discriminator maps data to logits ``[B]``.
    """
    if config.architecture == "mlp":
        return _MLPGenerator(config.hidden, config.data_shape[0]), _MLPDiscriminator(config.hidden)
    gen = DCGANGenerator(
        tuple(config.data_shape),
        config.features,
        config.num_scales,
        config.generator_norm,
        config.num_classes,
    )
    disc = DCGANDiscriminator(
        config.features,
        config.num_scales,
        config.discriminator_norm,
        config.spectral_norm,
        config.num_classes,
    )
    return gen, disc


def data_key(config: GANConfig) -> str:
    """``'image'`` for dcgan, ``'x'`` for mlp."""
    return "image" if config.architecture == "dcgan" else "x"


def _split(variables: Any) -> tuple[Params, State]:
    variables = dict(variables)
    params = variables.pop("params", {})
    return params, variables


def _adversarial_terms(loss: str, real: Array, fake: Array) -> tuple[Array, Array]:
    if loss == "nonsaturating":
        return losses.nonsaturating_d_loss(real, fake), losses.nonsaturating_g_loss(fake)
    if loss == "hinge":
        return losses.hinge_d_loss(real, fake), losses.hinge_g_loss(fake)
    return losses.wasserstein_d_loss(real, fake), losses.wasserstein_g_loss(fake)


def make_gan(config: GANConfig) -> Model:
    """Builds the GAN ``Model`` (see the module docstring for the update order and the state).

    Args:
      config: the hyperparameters.

    Returns:
      ``Model`` with ``likelihood=Likelihood.NONE`` and
      ``update_order = ('disc',) * n_critic + ('gen',)``.
    """
    gen, disc = make_networks(config)
    key_name = data_key(config)
    conditional = config.num_classes is not None

    def labels_of(batch: Batch) -> Optional[Array]:
        if not conditional:
            return None
        if "label" not in batch:
            raise ValueError("a class-conditional GAN needs batch['label']")
        return batch["label"]

    def data_of(batch: Batch) -> Array:
        if key_name not in batch:
            raise ValueError(
                f"the {config.architecture} GAN reads batch[{key_name!r}]; got keys {sorted(batch)}"
            )
        x = batch[key_name]
        if tuple(x.shape[1:]) != tuple(config.data_shape):
            raise ValueError(
                f"batch[{key_name!r}] has example shape {tuple(x.shape[1:])}, "
                f"config.data_shape is {config.data_shape}"
            )
        return x

    def init(key: PRNGKey, batch: Batch) -> dict:
        x, labels = data_of(batch), labels_of(batch)
        k_g, k_d = jax.random.split(key)
        z = jnp.zeros((x.shape[0], config.latent_dim), jnp.float32)
        g_params, g_state = _split(gen.init(k_g, z, labels, train=False))
        d_params, d_state = _split(disc.init(k_d, x, labels, train=False))
        return {
            "params": {"gen": g_params, "disc": d_params},
            "state": {"gen": g_state, "disc": d_state},
        }

    def loss(params: Params, state: State, batch: Batch, key: PRNGKey):
        x, labels = data_of(batch), labels_of(batch)
        k_z, k_gp = jax.random.split(key)
        z = jax.random.normal(k_z, (x.shape[0], config.latent_dim), x.dtype)
        fake, g_state = gen.apply(
            {"params": params["gen"], **state["gen"]}, z, labels, train=True, mutable=_MUTABLE
        )
        d_vars = state["disc"]
        # Real and fake go through D as separate batches (as in the DCGAN reference), so BatchNorm
        # never mixes their statistics.
        d_real, d_vars = disc.apply(
            {"params": params["disc"], **d_vars}, x, labels, train=True, mutable=_MUTABLE
        )
        d_fake, d_vars = disc.apply(
            {"params": params["disc"], **d_vars}, fake, labels, train=True, mutable=_MUTABLE
        )
        d_terms, g_terms = _adversarial_terms(config.loss, d_real, d_fake)
        d_loss = jnp.mean(d_terms)
        metrics = {"d_real": jnp.mean(d_real), "d_fake": jnp.mean(d_fake)}

        def critic(y: Array) -> Array:
            return disc.apply({"params": params["disc"], **d_vars}, y, labels, train=False)

        if config.gradient_penalty:
            gp = jnp.mean(losses.gradient_penalty(k_gp, critic, x, fake))
            d_loss = d_loss + config.gradient_penalty * gp
            metrics["gradient_penalty"] = gp
        if config.r1_gamma:
            r1 = jnp.mean(losses.r1_penalty(critic, x))
            d_loss = d_loss + 0.5 * config.r1_gamma * r1
            metrics["r1_penalty"] = r1
        new_state = {"gen": {**state["gen"], **g_state}, "disc": {**state["disc"], **d_vars}}
        return {"disc": d_loss, "gen": jnp.mean(g_terms)}, (metrics, new_state)

    def sample(params: Params, state: State, key: PRNGKey, n: int) -> Array:
        z = jax.random.normal(key, (n, config.latent_dim), jnp.float32)
        labels = jnp.arange(n, dtype=jnp.int32) % config.num_classes if conditional else None
        return gen.apply({"params": params["gen"], **state["gen"]}, z, labels, train=False)

    def recompute_state(params: Params, state: State, key: PRNGKey) -> State:
        """The generator's BatchNorm running averages for ``params['gen']``: the running-average
        updates of :data:`RECOMPUTE_PASSES` training-mode passes over fresh latents (Wu & Johnson,
        2021, recompute the statistics of averaged weights the same way). The discriminator's state
        is kept."""

        def one_pass(g_state: State, k: PRNGKey) -> tuple[State, None]:
            z = jax.random.normal(k, (RECOMPUTE_BATCH, config.latent_dim), jnp.float32)
            labels = jnp.arange(RECOMPUTE_BATCH, dtype=jnp.int32) % config.num_classes if conditional else None
            _, updated = gen.apply({"params": params["gen"], **g_state}, z, labels, train=True, mutable=_MUTABLE)
            return {**g_state, **updated}, None

        g_state, _ = jax.lax.scan(one_pass, state["gen"], jax.random.split(key, RECOMPUTE_PASSES))
        return {**state, "gen": g_state}

    return Model(
        init=init,
        loss=loss,
        sample=sample,
        log_prob=None,
        likelihood=Likelihood.NONE,
        update_order=("disc",) * config.n_critic + ("gen",),
        recompute_state=recompute_state if config.generator_norm == "batch" else None,
    )


DCGAN_MNIST = GANConfig(data_shape=(28, 28, 1), latent_dim=100, features=64, num_scales=2)
"""The PyTorch-example DCGAN at 28x28 with BatchNorm and the non-saturating loss (the benchmark)."""
DCGAN_DIGITS = GANConfig(data_shape=(8, 8, 1), latent_dim=32, features=32, num_scales=2)
"""Plain non-saturating DCGAN on 8x8 digits: BatchNorm, no penalty, no spectral norm."""
HINGE_SN_DIGITS = dataclasses.replace(
    DCGAN_DIGITS, loss="hinge", spectral_norm=True, discriminator_norm="none"
)
"""Hinge loss with a spectrally normalised discriminator (Miyato et al., 2018) on digits."""
WGAN_GP_DIGITS = dataclasses.replace(
    DCGAN_DIGITS, loss="wasserstein", gradient_penalty=10.0, n_critic=5, discriminator_norm="layer"
)
"""WGAN-GP (lambda 10, 5 critic steps, LayerNorm critic) on digits."""
WGAN_GP_2D = GANConfig(
    architecture="mlp",
    data_shape=(2,),
    latent_dim=2,
    loss="wasserstein",
    gradient_penalty=0.1,
    n_critic=5,
    generator_norm="none",
    discriminator_norm="none",
    hidden=(128, 128, 128),
)
"""WGAN-GP on 2-D toys."""
HINGE_2D = dataclasses.replace(WGAN_GP_2D, loss="hinge", gradient_penalty=0.0, n_critic=1)
"""Hinge loss on 2-D toys (no Lipschitz constraint)."""
NONSATURATING_2D = dataclasses.replace(
    WGAN_GP_2D, loss="nonsaturating", gradient_penalty=0.0, n_critic=1
)
"""Plain non-saturating GAN on 2-D toys."""
