"""Diffusion sampling and training speed: our ``lax.scan`` samplers against a diffusers-style PyTorch
loop over the same UNet, and the scan choices of issue 12.

Sampling (batch 64, 28 x 28 x 1, UNet with channel multipliers (1, 2, 2), one residual block per
resolution, attention at 7 x 7; base width 32 (kernel-bound) and 8 (overhead-bound)), with the same
number of network evaluations on both sides:

* DDPM ancestral, 1,000 steps; DDIM (eta 0), 50 steps; EDM Heun, 18 sigmas (35 evaluations).
* Peers: the same UNet written in PyTorch, run by a Python loop over the steps as diffusers'
  pipelines do (``torch.inference_mode``), eager and through ``torch.compile`` (when it works here).
  The parameter counts of both networks are checked equal at set-up.
* ``ddim-50 w8``: ``lax.scan`` against ``lax.scan(unroll=5)`` (as the peer) and against a Python
  loop over a jitted step (issue 12: the choice is measured).
* The first call of each side is timed apart: for ours it is the time to the first 64 samples
  including compilation (``first`` in the table).

Training (``train_step_cases``): EDM train steps per second of the width-32 UNet at batch 128,
Adam, against the same loss and optimizer in PyTorch eager.

Model FLOPs come from XLA's cost analysis of one network evaluation (or one train step).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.benchmarks import harness
from genjax.models import diffusion
from genjax.nn.unet import UNet
from genjax.samplers import diffusion as dsamp
from genjax.samplers import ode
from genjax.samplers.schedules import edm_scalings, karras_sigmas, linear_schedule

__all__ = ["sampling_cases", "train_step_cases", "torch_unet"]

MULTS = (1, 2, 2)
ATTENTION = (7,)
SIGMA_DATA = 0.5


def _unet(width: int) -> UNet:
    return UNet(
        base_channels=width, channel_mults=MULTS, num_res_blocks=1, attention_resolutions=ATTENTION
    )


def _flax_params(net: UNet, shape) -> dict:
    return jax.jit(net.init)(jax.random.PRNGKey(0), jnp.zeros((1,) + shape[1:]), jnp.ones(1))[
        "params"
    ]


def _count(params) -> int:
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def _forward_flops(net: UNet, params, shape) -> Optional[float]:
    fn = jax.jit(lambda p, x, t: net.apply({"params": p}, x, t))
    cost = fn.lower(params, jnp.zeros(shape), jnp.ones(shape[0])).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"]) if cost and "flops" in cost else None


# ----------------------------------------------------------------------------- the PyTorch twin


def torch_unet(width: int, in_channels: int = 1):
    """The genjax UNet (``genjax.nn.unet.UNet`` with the settings above) written in PyTorch."""
    import torch
    from torch import nn

    def gn(c):
        g = min(32, c)
        while c % g:
            g -= 1
        return nn.GroupNorm(g, c, eps=1e-6)

    class ResBlock(nn.Module):
        def __init__(self, cin, cout, emb):
            super().__init__()
            self.norm_0, self.conv_0 = gn(cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.emb, self.norm_1 = nn.Linear(emb, 2 * cout), gn(cout)
            self.conv_1 = nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x, e):
            h = self.conv_0(nn.functional.silu(self.norm_0(x)))
            scale, shift = self.emb(nn.functional.silu(e))[:, :, None, None].chunk(2, 1)
            h = nn.functional.silu(self.norm_1(h) * (1 + scale) + shift)
            return self.skip(x) + self.conv_1(h)

    class Attention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm, self.attn = gn(c), nn.MultiheadAttention(c, 1, batch_first=True)

        def forward(self, x):
            b, c, h, w = x.shape
            y = self.norm(x).flatten(2).transpose(1, 2)
            y = self.attn(y, y, y, need_weights=False)[0]
            return x + y.transpose(1, 2).reshape(b, c, h, w)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            e = 4 * width
            self.emb = nn.Sequential(nn.Linear(width, e), nn.SiLU(), nn.Linear(e, e))
            self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
            self.down, chans, c = nn.ModuleList(), [width], width
            for i, m in enumerate(MULTS):
                self.down.append(ResBlock(c, width * m, e))
                c = width * m
                chans.append(c)
                if i < len(MULTS) - 1:
                    self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                    chans.append(c)
            self.mid = nn.ModuleList([ResBlock(c, c, e), Attention(c), ResBlock(c, c, e)])
            self.up = nn.ModuleList()
            for i, m in reversed(list(enumerate(MULTS))):
                for _ in range(2):
                    self.up.append(ResBlock(c + chans.pop(), width * m, e))
                    c = width * m
                if i > 0:
                    self.up.append(
                        nn.Sequential(
                            nn.Upsample(scale_factor=2, mode="nearest"),
                            nn.Conv2d(c, c, 3, padding=1),
                        )
                    )
            self.norm_out, self.conv_out = gn(c), nn.Conv2d(c, in_channels, 3, padding=1)
            # Attention follows the residual blocks at 7 x 7: one on the way down, two on the way up.
            self._attn_down = Attention(width * MULTS[-1])
            self._attn_up = nn.ModuleList([Attention(width * MULTS[-1]) for _ in range(2)])
            # A buffer, so that it follows the module to its device (under torch.compile as well).
            half = width // 2
            freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
            self.register_buffer("freqs", freqs, persistent=False)

        def forward(self, x, t):
            args = t.float()[:, None] * self.freqs[None]
            e = self.emb(torch.cat([torch.cos(args), torch.sin(args)], -1))
            h = self.conv_in(x)
            skips = [h]
            for layer in self.down:
                h = layer(h, e) if isinstance(layer, ResBlock) else layer(h)
                if isinstance(layer, ResBlock) and h.shape[-1] in ATTENTION:
                    h = self._attn_down(h)
                skips.append(h)
            h = self.mid[2](self.mid[1](self.mid[0](h, e)), e)
            k = 0
            for layer in self.up:
                if isinstance(layer, ResBlock):
                    h = layer(torch.cat([h, skips.pop()], 1), e)
                    if h.shape[-1] in ATTENTION:
                        h = self._attn_up[k](h)
                        k += 1
                else:
                    h = layer(h)
            return self.conv_out(nn.functional.silu(self.norm_out(h)))

    return Net()


def _torch_compile_works() -> bool:
    import torch

    try:
        f = torch.compile(lambda x: torch.nn.functional.silu(x) * 2)
        f(torch.ones(4))
        return True
    except Exception:  # noqa: BLE001 - any failure of the inductor toolchain means "not available"
        return False


def _torch_sampler(width: int, kind: str, steps: int, batch: int, size: int, compiled: bool):
    """A diffusers-style Python loop: one network call and one update per step."""
    import torch

    torch.manual_seed(0)
    net = torch_unet(width).eval()
    flax_count = _count(_flax_params(_unet(width), (1, size, size, 1)))
    torch_count = sum(p.numel() for p in net.parameters())
    if flax_count != torch_count:
        raise RuntimeError(
            f"the PyTorch twin has {torch_count} parameters, the genjax UNet {flax_count}"
        )
    model = torch.compile(net) if compiled else net
    s = linear_schedule(1000)
    betas = torch.tensor(np.asarray(s.betas))
    abar = torch.tensor(np.asarray(s.alphas_cumprod))
    x_T = torch.randn(batch, 1, size, size)

    def ddpm():
        x = x_T
        for t in range(999, -1, -1):
            eps = model(x, torch.full((batch,), t))
            a, a_prev = abar[t], abar[t - 1] if t > 0 else torch.tensor(1.0)
            x = (x - betas[t] / torch.sqrt(1 - a) * eps) / torch.sqrt(1 - betas[t])
            if t > 0:
                x = x + torch.sqrt(betas[t] * (1 - a_prev) / (1 - a)) * torch.randn_like(x)
        return x

    def ddim():
        x = x_T
        ts = dsamp.ddim_timesteps(1000, steps).tolist() + [-1]
        for t, tp in zip(ts[:-1], ts[1:], strict=True):
            eps = model(x, torch.full((batch,), t))
            a, a_prev = abar[t], abar[tp] if tp >= 0 else torch.tensor(1.0)
            x0 = (x - torch.sqrt(1 - a) * eps) / torch.sqrt(a)
            x = torch.sqrt(a_prev) * x0 + torch.sqrt(1 - a_prev) * eps
        return x

    sigmas = torch.tensor(np.asarray(karras_sigmas(steps)))

    def denoise(x, sigma):
        s, total = float(sigma), float(sigma) ** 2 + SIGMA_DATA**2
        c_skip, c_out, c_in = (
            SIGMA_DATA**2 / total,
            s * SIGMA_DATA / math.sqrt(total),
            1 / math.sqrt(total),
        )
        return c_skip * x + c_out * model(c_in * x, torch.full((batch,), math.log(s) / 4))

    def heun():
        x = sigmas[0] * x_T
        for i in range(steps):
            s, s_next = sigmas[i], sigmas[i + 1]
            d = (x - denoise(x, s)) / s
            x_next = x + (s_next - s) * d
            if s_next > 0:
                d2 = (x_next - denoise(x_next, s_next)) / s_next
                x_next = x + (s_next - s) * 0.5 * (d + d2)
            x = x_next
        return x

    run = {"ddpm": ddpm, "ddim": ddim, "heun": heun}[kind]

    def call():
        with torch.inference_mode():
            return run()

    return call


# ----------------------------------------------------------------------------- ours


def _eps_fn(net: UNet, params) -> Callable:
    return lambda x, t: net.apply({"params": params}, x, t.astype(jnp.float32))


def _edm_denoiser(net: UNet, params) -> Callable:
    def denoise(x, sigma):
        c = edm_scalings(sigma[:, None, None, None], SIGMA_DATA)
        return c.c_skip * x + c.c_out * net.apply(
            {"params": params}, c.c_in * x, jnp.log(sigma) / 4.0
        )

    return denoise


def _ours_sampler(
    width: int,
    kind: str,
    steps: int,
    batch: int,
    size: int,
    unroll: int = 1,
    python_loop: bool = False,
    compiler_options=None,
):
    net = _unet(width)
    shape = (batch, size, size, 1)
    params = _flax_params(net, shape)
    x_T = jax.random.normal(jax.random.PRNGKey(1), shape)
    key = jax.random.PRNGKey(2)
    s = linear_schedule(1000)
    if python_loop:
        if kind != "ddim":
            raise ValueError(f"the Python-loop variant is measured for 'ddim' only, got {kind!r}")
        ts = dsamp.ddim_timesteps(1000, steps).tolist() + [-1]
        eps = _eps_fn(net, params)

        @jax.jit
        def step(x, t, tp):
            return dsamp.ddim_step(x, eps(x, jnp.full((batch,), t, jnp.int32)), t, tp, s, 0.0, None)

        def loop():
            x = x_T
            for t, tp in zip(ts[:-1], ts[1:], strict=True):
                x = step(x, jnp.int32(t), jnp.int32(tp))
            return x

        return loop
    jit = functools.partial(jax.jit, compiler_options=compiler_options)
    if kind == "ddpm":
        fn = jit(lambda k, x: dsamp.sample_ddpm(k, _eps_fn(net, params), x, s, unroll=unroll))
    elif kind == "ddim":
        fn = jit(
            lambda k, x: dsamp.sample_ddim(k, _eps_fn(net, params), x, s, steps, unroll=unroll)
        )
    elif kind == "heun":
        sigmas = karras_sigmas(steps)
        fn = jit(
            lambda k, x: ode.sample_heun(
                k, _edm_denoiser(net, params), sigmas[0] * x, sigmas, unroll=unroll
            )
        )
    else:
        raise ValueError(f"unknown sampler {kind!r}; valid choices: ['ddpm', 'ddim', 'heun']")
    return lambda: fn(key, x_T)


_NFE = {"ddpm": lambda n: 1000, "ddim": lambda n: n, "heun": lambda n: 2 * n - 1}


def sampling_cases(quick: bool) -> list[harness.Case]:
    """Sampling rows; ``quick``: width 8, 8 x 8 images, batch 4, a few steps, ours only."""
    if quick:
        return [
            harness.Case(
                f"diffusion {kind} quick",
                4.0,
                "images",
                functools.partial(_ours_sampler, 8, kind, steps, 4, 8, 1),
                quick_ok=True,
            )
            for kind, steps in (("ddim", 5), ("heun", 3))
        ]
    batch, size = 64, 28
    compiled = _torch_compile_works()
    cases = []
    for width in (32, 8):
        net = _unet(width)
        per_eval = _forward_flops(
            net, _flax_params(net, (1, size, size, 1)), (batch, size, size, 1)
        )
        for kind, steps in (("ddpm", 1000), ("ddim", 50), ("heun", 18)):
            nfe = _NFE[kind](steps)
            name = f"diffusion {kind}-{nfe}nfe w{width} b{batch}"
            flops = per_eval * nfe if per_eval else None
            ours = functools.partial(_ours_sampler, width, kind, steps, batch, size)
            if width == 32 and kind == "heun":
                cases += [
                    harness.Case(
                        name + suffix, float(batch), "images",
                        functools.partial(ours, compiler_options=options),
                        functools.partial(_torch_sampler, width, kind, steps, batch, size, False),
                        "pytorch-eager", flops, quick_ok=False,
                    )
                    for suffix, options in harness.compiler_variants()[1:]
                ]
            for torch_compiled in (False, True) if compiled else (False,):
                cases.append(
                    harness.Case(
                        name,
                        float(batch),
                        "images",
                        ours,
                        functools.partial(
                            _torch_sampler, width, kind, steps, batch, size, torch_compiled
                        ),
                        "pytorch-compile" if torch_compiled else "pytorch-eager",
                        flops,
                        quick_ok=False,
                    )
                )
    ddim = functools.partial(_ours_sampler, 8, "ddim", 50, batch, size)
    cases.append(
        harness.Case(
            "diffusion ddim-50 w8: scan vs scan(unroll=5)",
            float(batch),
            "images",
            ddim,
            functools.partial(ddim, unroll=5),
            "scan-unroll5",
            quick_ok=False,
        )
    )
    cases.append(
        harness.Case(
            "diffusion ddim-50 w8: scan vs python loop of jit step",
            float(batch),
            "images",
            ddim,
            functools.partial(ddim, python_loop=True),
            "py-loop-jit",
            quick_ok=False,
        )
    )
    return cases


# ----------------------------------------------------------------------------- training


def _ours_train(width: int, batch: int, size: int, compiler_options=None):
    config = diffusion.DiffusionConfig(
        kind="edm",
        data_shape=(size, size, 1),
        base_channels=width,
        channel_mults=MULTS,
        attention_resolutions=ATTENTION,
        sigma_data=SIGMA_DATA,
        levels=0,
    )
    model = diffusion.make_diffusion(config)
    optimizer = optax.adam(1e-4)
    data = {
        "image": jax.random.uniform(
            jax.random.PRNGKey(0), (batch, size, size, 1), minval=-1, maxval=1
        )
    }
    return harness.train_step_call(
        model, optimizer, data, init_key=jax.random.PRNGKey(1), step_key=jax.random.PRNGKey(2),
        compiler_options=compiler_options,
    )


def _train_flops(width: int, batch: int, size: int) -> Optional[float]:
    config = diffusion.DiffusionConfig(
        kind="edm",
        data_shape=(size, size, 1),
        base_channels=width,
        channel_mults=MULTS,
        attention_resolutions=ATTENTION,
        levels=0,
    )
    model = diffusion.make_diffusion(config)
    data = {"image": jnp.zeros((batch, size, size, 1))}
    params = jax.jit(model.init)(jax.random.PRNGKey(0), data)["params"]
    grad = jax.jit(jax.grad(lambda p, k: model.loss(p, {}, data, k)[0]))
    cost = grad.lower(params, jax.random.PRNGKey(0)).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"]) if cost and "flops" in cost else None


def _torch_train(width: int, batch: int, size: int):
    import torch

    torch.manual_seed(0)
    net = torch_unet(width)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x0 = torch.rand(batch, 1, size, size) * 2 - 1

    def call():
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(batch))[:, None, None, None]
        total = sigma**2 + SIGMA_DATA**2
        c_skip, c_out, c_in = (
            SIGMA_DATA**2 / total,
            sigma * SIGMA_DATA / total.sqrt(),
            1 / total.sqrt(),
        )
        x = x0 + sigma * torch.randn_like(x0)
        d = c_skip * x + c_out * net(c_in * x, torch.log(sigma.flatten()) / 4)
        loss = ((total / (sigma * SIGMA_DATA) ** 2) * (d - x0) ** 2).sum((1, 2, 3)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return call


def train_step_cases(quick: bool) -> list[harness.Case]:
    """EDM UNet train steps per second; ``quick``: width 8, 8 x 8, batch 8, ours only."""
    if quick:
        return [
            harness.Case(
                "diffusion unet train quick", 1.0, "steps", functools.partial(_ours_train, 8, 8, 8)
            )
        ]
    width, batch, size = 32, 128, 28
    flops = _train_flops(width, batch, size)
    return [
        harness.Case(
            f"diffusion edm unet w{width} b{batch} {size}x{size}{suffix}",
            1.0,
            "steps",
            functools.partial(_ours_train, width, batch, size, options),
            functools.partial(_torch_train, width, batch, size),
            "pytorch-eager",
            flops,
            quick_ok=False,
        )
        for suffix, options in harness.compiler_variants()
    ]
