"""GAN train-step cases: one discriminator plus one generator update of the 28x28 DCGAN
(BatchNorm, non-saturating loss, Adam 2e-4, betas (0.5, 0.999), batch 128) against the same
networks in PyTorch eager, written as the PyTorch DCGAN example writes its loop (the generator
update reuses the fakes of the discriminator update; genjax draws fresh latents for it, which costs
one more generator forward).

FLOPs are the model FLOPs of the PyTorch loop: ``3 G + 9 D`` forward-equivalents per example
(D update: G forward, D forward and backward on real and fake; G update: D forward and backward,
G backward), with a backward counted as two forwards.
"""

from __future__ import annotations

import jax
import optax

from experiments.benchmarks import harness
from genjax.models import gan

__all__ = ["train_step_cases", "dcgan_forward_flops"]

LR, BETAS = 2e-4, (0.5, 0.999)


def dcgan_forward_flops(config: gan.GANConfig) -> tuple[float, float]:
    """Forward FLOPs per example (2 x multiply-adds) of the DCGAN generator and discriminator."""
    h, w, c = config.data_shape
    k, f = config.num_scales, config.features
    hs, ws, ch = h // 2**k, w // 2**k, f * 2 ** (k - 1)
    gen = config.latent_dim * hs * ws * ch
    for i in range(k):
        out = c if i == k - 1 else ch // 2
        gen += hs * ws * ch * out * 16  # each input pixel scatters a 4x4 kernel
        hs, ws, ch = 2 * hs, 2 * ws, out
    disc, cin, hs, ws = 0, c, h, w
    for i in range(k):
        hs, ws, out = hs // 2, ws // 2, f * 2**i
        disc += hs * ws * out * cin * 16
        cin = out
    disc += hs * ws * cin
    return 2.0 * gen, 2.0 * disc


def _ours(config: gan.GANConfig, batch_size: int, compiler_options=None):
    def setup():
        model = gan.make_gan(config)
        tx = optax.adam(LR, b1=BETAS[0], b2=BETAS[1])
        opt = {"gen": tx, "disc": tx}
        images = jax.random.uniform(
            jax.random.PRNGKey(1), (batch_size, *config.data_shape), minval=-1.0, maxval=1.0
        )
        batch = {"image": images}
        key = jax.random.PRNGKey(0)
        return harness.train_step_call(
            model, opt, batch, init_key=key, step_key=key, compiler_options=compiler_options
        )

    return setup


def _peer(config: gan.GANConfig, batch_size: int):
    def setup():
        import torch
        from torch import nn

        torch.manual_seed(0)
        h, w, c = config.data_shape
        f, z_dim = config.features, config.latent_dim
        hs, ws = h // 4, w // 4
        gen = nn.Sequential(
            nn.Linear(z_dim, 2 * f * hs * ws),
            nn.Unflatten(1, (2 * f, hs, ws)),
            nn.BatchNorm2d(2 * f),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * f, f, 4, 2, 1),
            nn.BatchNorm2d(f),
            nn.ReLU(),
            nn.ConvTranspose2d(f, c, 4, 2, 1),
            nn.Tanh(),
        )
        disc = nn.Sequential(
            nn.Conv2d(c, f, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(f, 2 * f, 4, 2, 1),
            nn.BatchNorm2d(2 * f),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * f * hs * ws, 1),
        )
        opt_g = torch.optim.Adam(gen.parameters(), lr=LR, betas=BETAS)
        opt_d = torch.optim.Adam(disc.parameters(), lr=LR, betas=BETAS)
        bce = nn.BCEWithLogitsLoss()
        real = torch.rand(batch_size, c, h, w) * 2 - 1
        ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)

        def run():
            opt_d.zero_grad()
            fake = gen(torch.randn(batch_size, z_dim))
            d_loss = bce(disc(real)[:, 0], ones) + bce(disc(fake.detach())[:, 0], zeros)
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = bce(disc(fake)[:, 0], ones)
            g_loss.backward()
            opt_g.step()
            return float(d_loss.detach()), float(g_loss.detach())

        return run

    return setup


def train_step_cases(quick: bool) -> list[harness.Case]:
    """The DCGAN row (28x28, batch 128; under ``quick`` batch 16, ours only)."""
    config = gan.DCGAN_MNIST
    batch_size = 16 if quick else 128
    g_flops, d_flops = dcgan_forward_flops(config)
    return [
        harness.Case(
            name=f"gan dcgan 28x28 bn adam b{batch_size} (1 D + 1 G){suffix}",
            work=1.0,
            unit="steps",
            ours=_ours(config, batch_size, options),
            peer=_peer(config, batch_size),
            peer_name="pytorch-eager",
            flops=batch_size * (3 * g_flops + 9 * d_flops),
            quick_ok=options is None,
        )
        for suffix, options in harness.compiler_variants()
    ]
