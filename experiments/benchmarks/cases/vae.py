"""VAE train-step case: the MLP VAE of Kingma & Welling (2013) as the PyTorch example writes it
(784-400-20, ReLU, Bernoulli decoder, Adam 1e-3, batch 128, 28x28 binary inputs), one optimizer
step of the negative ELBO (one reparameterized draw, analytic KL, batch mean), genjax
(``training.make_train_step`` under ``jit``) against PyTorch eager on the CPU.

FLOPs: the four dense layers (784x400, 400x40 for the mean and log-variance, 20x400, 400x784) make
``2 * 651,200`` forward FLOPs per example; a training step counts three forwards (forward, and a
backward of two), so ``128 * 3 * 1.3024 MFLOP = 500 MFLOP`` per step.

``python -m experiments.benchmarks.cases.vae [--quick]`` runs this case alone.
"""

from __future__ import annotations

import sys
from typing import Optional

import jax
import numpy as np
import optax

from experiments.benchmarks import harness
from genjax.models import vae

__all__ = ["train_step_cases", "mlp_vae_forward_flops", "MNIST_MLP_VAE"]

LR = 1e-3
MNIST_MLP_VAE = vae.VAEConfig(
    data_shape=(28, 28, 1), architecture="mlp", latent_dim=20, hidden=(400,), likelihood="bernoulli"
)


def mlp_vae_forward_flops(config: vae.VAEConfig) -> float:
    """Forward FLOPs per example (2 x multiply-adds) of the MLP encoder and decoder."""
    d = int(np.prod(config.data_shape))
    widths = (d,) + tuple(config.hidden)
    enc = (
        sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
        + widths[-1] * 2 * config.latent_dim
    )
    dec_widths = (config.latent_dim,) + tuple(reversed(config.hidden)) + (d,)
    dec = sum(a * b for a, b in zip(dec_widths[:-1], dec_widths[1:], strict=True))
    return 2.0 * (enc + dec)


def _binary_images(batch_size: int, shape) -> np.ndarray:
    return (np.random.default_rng(0).random((batch_size, *shape)) < 0.3).astype(np.float32)


def _ours(config: vae.VAEConfig, batch_size: int):
    def setup():
        model = vae.make_vae(config)
        tx = optax.adam(LR)
        batch = {"image": jax.device_put(_binary_images(batch_size, config.data_shape))}
        key = jax.random.PRNGKey(0)
        return harness.train_step_call(model, tx, batch, init_key=key, step_key=key)

    return setup


def _peer(config: vae.VAEConfig, batch_size: int, threads: Optional[int]):
    def setup():
        import torch
        from torch import nn
        from torch.nn import functional as F

        torch.manual_seed(0)
        d, h, z_dim = int(np.prod(config.data_shape)), config.hidden[0], config.latent_dim

        class VAE(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc21, self.fc22 = (
                    nn.Linear(d, h),
                    nn.Linear(h, z_dim),
                    nn.Linear(h, z_dim),
                )
                self.fc3, self.fc4 = nn.Linear(z_dim, h), nn.Linear(h, d)

            def forward(self, x):
                e = F.relu(self.fc1(x.view(-1, d)))
                mu, logvar = self.fc21(e), self.fc22(e)
                zs = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                return self.fc4(F.relu(self.fc3(zs))), mu, logvar

        model = VAE()
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        x = torch.as_tensor(_binary_images(batch_size, config.data_shape)).view(batch_size, d)

        def step():
            opt.zero_grad()
            logits, mu, logvar = model(x)
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (recon + kl) / batch_size
            loss.backward()
            opt.step()
            return loss.item()

        def run():
            if threads is None:
                return step()
            # Restored after every call so that later cases keep torch's default pool.
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                return step()
            finally:
                torch.set_num_threads(previous)

        return run

    return setup


def train_step_cases(quick: bool) -> list[harness.Case]:
    """The MLP VAE rows (batch 128; under ``quick`` batch 16, ours only): PyTorch with its default
    thread pool, and PyTorch on one thread (on a loaded machine its OpenMP pool can lose far more to
    contention than it gains, so both are reported)."""
    config = MNIST_MLP_VAE
    batch_size = 16 if quick else 128
    flops = batch_size * 3 * mlp_vae_forward_flops(config)
    rows = [(None, "pytorch-eager", True), (1, "pytorch-eager-1thread", False)]
    return [
        harness.Case(
            name=f"vae mlp 784-400-20 bernoulli adam b{batch_size}"
            + ("" if threads is None else " (torch 1 thr)"),
            work=1.0,
            unit="steps",
            ours=_ours(config, batch_size),
            peer=_peer(config, batch_size, threads),
            peer_name=peer_name,
            flops=flops,
            quick_ok=quick_ok,
        )
        for threads, peer_name, quick_ok in rows
    ]


if __name__ == "__main__":
    harness.main(train_step_cases, sys.argv[1:], title="vae train_step")
