"""RealNVP train steps per second: ours (one jitted step) vs the same flow in PyTorch eager (CPU).

Architecture on both sides: ``flows.REALNVP_DIGITS`` (8x8x1 images, 17 levels): uniform
dequantization, logit preprocessing (alpha 0.05), 3 checkerboard affine couplings, squeeze,
3 channel couplings, factor out half, 4 checkerboard couplings on 4x4x2; each coupling network is
conv 3x3 (input + mask channel -> 32), 2 residual blocks of two 3x3 convs, zero-initialised 3x3 conv
out; log-scale ``scale * tanh(raw)``; Gaussian prior; loss in bits/dim; Adam 1e-3. The parameter
counts are checked equal at set-up.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import optax

from experiments.benchmarks import harness
from genjax import bijectors as bj
from genjax.models import flows

LR = 1e-3


def _batch(config: flows.FlowConfig, batch_size: int) -> dict:
    k = np.random.default_rng(0).integers(0, config.num_levels, (batch_size,) + config.data_shape)
    return {"image": (2.0 * k / (config.num_levels - 1) - 1.0).astype(np.float32)}


def _ours(config: flows.FlowConfig, batch_size: int, holder_params: list):
    def setup():
        model = flows.make_flow(config)
        tx = optax.adam(LR)
        batch = jax.tree.map(jax.numpy.asarray, _batch(config, batch_size))
        key = jax.random.PRNGKey(0)
        shapes = jax.eval_shape(model.init, key, batch)["params"]
        holder_params.append(sum(x.size for x in jax.tree.leaves(shapes)))
        return harness.train_step_call(model, tx, batch, init_key=key, step_key=key)

    return setup


def _peer(config: flows.FlowConfig, batch_size: int, holder_params: list):
    def setup():
        import torch
        from torch import nn

        torch.manual_seed(0)
        feats, blocks, levels, alpha = (
            config.conv_features,
            config.num_blocks,
            config.num_levels,
            config.logit_alpha,
        )

        class ResNet(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.inp = nn.Conv2d(c + 1, feats, 3, padding=1)
                self.blocks = nn.ModuleList(
                    nn.ModuleList(
                        [
                            nn.Conv2d(feats, feats, 3, padding=1),
                            nn.Conv2d(feats, feats, 3, padding=1),
                        ]
                    )
                    for _ in range(blocks)
                )
                self.out = nn.Conv2d(feats, 2 * c, 3, padding=1)
                nn.init.zeros_(self.out.weight)

            def forward(self, x, mask):
                h = self.inp(torch.cat([x, mask[:, :1].expand(x.shape[0], 1, *x.shape[2:])], 1))
                for a, b in self.blocks:
                    h = h + b(torch.relu(a(torch.relu(h))))
                return self.out(torch.relu(h))

        class Coupling(nn.Module):
            def __init__(self, mask):
                super().__init__()
                self.register_buffer("mask", torch.tensor(mask).permute(2, 0, 1)[None])
                c = mask.shape[-1]
                self.net = ResNet(c)
                self.scale = nn.Parameter(torch.ones(1, c, 1, 1))

            def forward(self, x):
                t, raw = self.net(x * self.mask, self.mask).chunk(2, 1)
                s = (1 - self.mask) * self.scale * torch.tanh(raw)
                return x * torch.exp(s) + (1 - self.mask) * t, s.flatten(1).sum(1)

        def squeeze(x):
            b, c, h, w = x.shape
            # Same element order as the NHWC squeeze of genjax.bijectors.
            x = x.permute(0, 2, 3, 1).reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5)
            return x.reshape(b, h // 2, w // 2, 4 * c).permute(0, 3, 1, 2)

        h, w, c = config.data_shape
        s0 = (h, w, c)
        sq = (h // 2, w // 2, 4 * c)
        rest = (h // 2, w // 2, 2 * c)
        first = nn.ModuleList([Coupling(bj.checkerboard_mask(s0, i % 2)) for i in range(3)])
        second = nn.ModuleList([Coupling(bj.channel_mask(sq, i % 2)) for i in range(3)])
        last = nn.ModuleList([Coupling(bj.checkerboard_mask(rest, i % 2)) for i in range(4)])
        model = nn.ModuleList([first, second, last])
        n_params = sum(p.numel() for p in model.parameters())
        if holder_params and n_params != holder_params[-1]:
            raise RuntimeError(f"peer has {n_params} parameters, ours {holder_params[-1]}")
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        k = torch.tensor(_batch(config, batch_size)["image"]).permute(0, 3, 1, 2)
        k = torch.round((k + 1) / 2 * (levels - 1))
        d = math.prod(config.data_shape)

        def run():
            u = (k + torch.rand_like(k)) / levels
            p = alpha + (1 - 2 * alpha) * u
            x = torch.log(p) - torch.log1p(-p)
            log_det = (math.log(1 - 2 * alpha) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
            for layer in first:
                x, ld = layer(x)
                log_det = log_det + ld
            x = squeeze(x)
            for layer in second:
                x, ld = layer(x)
                log_det = log_det + ld
            out, x = x[:, : 2 * c], x[:, 2 * c :]
            for layer in last:
                x, ld = layer(x)
                log_det = log_det + ld
            z = torch.cat([out, x], 1)
            lp = (
                (-0.5 * (z**2 + math.log(2 * math.pi))).flatten(1).sum(1)
                + log_det
                - d * math.log(levels)
            )
            loss = -lp.mean() / (d * math.log(2))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.item()

        return run

    return setup


def train_step_cases(quick: bool) -> list[harness.Case]:
    """The RealNVP digits row (batch 64; under ``quick`` batch 8, ours only)."""
    config = flows.REALNVP_DIGITS
    batch_size = 8 if quick else 64
    holder_params: list = []
    return [
        harness.Case(
            name=f"flows realnvp 8x8x1 2 scales w{config.conv_features} adam b{batch_size}",
            work=1.0,
            unit="steps",
            ours=_ours(config, batch_size, holder_params),
            peer=_peer(config, batch_size, holder_params),
            peer_name="pytorch-eager",
            quick_ok=True,
        )
    ]
