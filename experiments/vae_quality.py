"""VAEs on the 8x8 digits: test negative ELBO and IWAE-K negative log-likelihood, sample,
reconstruction and interpolation grids.

``python -m experiments.vae_quality [--workdir runs/vae_quality] [--steps 3000] [--iwae 5000]``
(``--quick``: 200 steps, IWAE-100)

* ``binary_mlp``: binarized digits (pixel > 8 of 16), MLP 64-256-16 with a Bernoulli decoder.
* ``digits_mlp_logistic`` / ``digits_conv_logistic``: the 17-level digits in [-1, 1] with the
  discretized-logistic decoder (MLP, and the strided-conv encoder with its mirror decoder).

Each model is trained by ``genjax.training.fit`` (Adam 1e-3, batch 64, KL warm-up over the first
500 steps) on the 1,437 training digits and evaluated on the 360 test digits: the negative ELBO
(``recon + kl``, averaged over ``--elbo-draws`` draws per image) and ``-IWAE_K`` (Burda et al.,
2015), both in nats per image (an upper bound on the test NLL, tighter for IWAE) and in bits/dim.
The same numbers on the first ``--train-eval`` training images show the generalisation gap.
Grids go to ``--workdir``; one
JSON line with every number ends the output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.grids import save_grid
from genjax import training
from genjax.data import batching, digits, transforms
from genjax.models import vae

LEVELS = digits.NUM_LEVELS
BATCH = 64
DIMS = math.prod(digits.IMAGE_SHAPE)


def model_configs(iwae: int, chunk: int) -> dict[str, vae.VAEConfig]:
    """The evaluated models by name."""
    common = dict(
        latent_dim=16, kl_warmup_steps=500, iwae_samples=iwae, iwae_chunk=chunk, levels=LEVELS
    )
    return {
        "binary_mlp": vae.VAEConfig(hidden=(256,), likelihood="bernoulli", **common),
        "digits_mlp_logistic": vae.VAEConfig(hidden=(256,), likelihood="logistic", **common),
        "digits_conv_logistic": vae.VAEConfig(
            architecture="conv", channels=(32, 64), likelihood="logistic", **common
        ),
    }


def load_split(split: str, binary: bool) -> np.ndarray:
    """float32 [N, 8, 8, 1]: {0, 1} (threshold 8) or the 17-level grid in [-1, 1]."""
    images = digits.load_digits(split)["image"]
    out = transforms.binarize(images, 8) if binary else transforms.to_symmetric(images, LEVELS)
    return np.asarray(out, np.float32)


def evaluate(
    model, config: vae.VAEConfig, state, x: np.ndarray, key, elbo_draws: int, eval_batch: int
) -> dict:
    """Mean negative ELBO (with its two terms) and -IWAE_K over ``x``, in nats and bits/dim."""
    elbo_fn = jax.jit(
        jax.vmap(lambda k, xb: vae.elbo_terms(config, state.params, k, xb), in_axes=(0, None))
    )
    iwae_fn = jax.jit(
        lambda k, xb: model.log_prob(state.params, state.model_state, {"image": xb}, k)
    )
    recon, kl, iwae = [], [], []
    for i in range(0, len(x), eval_batch):
        xb = jnp.asarray(x[i : i + eval_batch])
        k_elbo, k_iwae = jax.random.split(jax.random.fold_in(key, i))
        log_px, kl_b = elbo_fn(jax.random.split(k_elbo, elbo_draws), xb)
        recon.append(-np.asarray(log_px).mean(0))
        kl.append(np.asarray(kl_b).mean(0))
        iwae.append(-np.asarray(iwae_fn(k_iwae, xb)))
    recon, kl, iwae = (float(np.concatenate(v).mean()) for v in (recon, kl, iwae))
    neg_elbo = recon + kl
    to_bpd = 1.0 / (DIMS * math.log(2.0))
    return {
        "neg_elbo": neg_elbo,
        "recon": recon,
        "kl": kl,
        "iwae_nll": iwae,
        "neg_elbo_bpd": neg_elbo * to_bpd,
        "iwae_nll_bpd": iwae * to_bpd,
    }


def _to_grid(x: np.ndarray, binary: bool) -> np.ndarray:
    return 2.0 * np.asarray(x) - 1.0 if binary else np.asarray(x)


def save_grids(
    model, config: vae.VAEConfig, state, test: np.ndarray, binary: bool, prefix: str
) -> list[str]:
    """Samples (8x8), test digits over their reconstructions, interpolations between test pairs."""
    key = jax.random.PRNGKey(1)
    samples = jax.jit(model.sample, static_argnums=3)(state.params, state.model_state, key, 64)
    recon = vae.reconstruct(config, state.params, jnp.asarray(test[:16]))
    pairs = np.concatenate([test[:8], np.asarray(recon[:8]), test[8:16], np.asarray(recon[8:16])])
    paths = [
        jnp.asarray(
            vae.interpolate(
                config, state.params, test[2 * i : 2 * i + 1], test[2 * i + 1 : 2 * i + 2], 10
            )
        )
        for i in range(6)
    ]
    return [
        save_grid(_to_grid(samples, binary), prefix + "_samples.png", ncol=8),
        save_grid(_to_grid(pairs, binary), prefix + "_reconstructions.png", ncol=8),
        save_grid(_to_grid(np.concatenate(paths), binary), prefix + "_interpolations.png", ncol=10),
    ]


def run(name: str, config: vae.VAEConfig, args) -> dict:
    binary = config.likelihood == "bernoulli"
    train, test = load_split("train", binary), load_split("test", binary)
    model = vae.make_vae(config)
    # XLA:CPU runs the kernel gradient of a convolution inside a while loop (lax.scan) 40-100x
    # slower than at top level, so conv models take one step per call.
    steps_per_call = 1 if config.architecture == "conv" else 100
    t0 = time.time()
    state = training.fit(
        model,
        optax.adam(1e-3),
        batching.epoch_batches({"image": train}, BATCH, 0),
        key=jax.random.PRNGKey(0),
        num_steps=args.steps,
        steps_per_call=steps_per_call,
        log_every=args.steps,
        checkpoint_every=args.steps,
        progress=False,
    )
    train_s = time.time() - t0
    eval_batch = 40 if config.architecture == "conv" else 120
    t0 = time.time()
    result = {
        "model": name,
        "likelihood": config.likelihood,
        "architecture": config.architecture,
        "steps": args.steps,
        "iwae_samples": config.iwae_samples,
        "test": evaluate(
            model, config, state, test, jax.random.PRNGKey(2), args.elbo_draws, eval_batch
        ),
        "train": evaluate(
            model,
            config,
            state,
            train[: args.train_eval],
            jax.random.PRNGKey(3),
            args.elbo_draws,
            eval_batch,
        ),
        "train_seconds": train_s,
    }
    result["eval_seconds"] = time.time() - t0
    result["grids"] = save_grids(
        model, config, state, test, binary, os.path.join(args.workdir, name)
    )
    t = result["test"]
    print(
        f"{name:<22} test -ELBO {t['neg_elbo']:7.2f} nats "
        f"(recon {t['recon']:.2f} + kl {t['kl']:.2f}), "
        f"-IWAE{config.iwae_samples} {t['iwae_nll']:7.2f} nats ({t['iwae_nll_bpd']:.3f} bits/dim); "
        f"train -ELBO {result['train']['neg_elbo']:.2f}, -IWAE {result['train']['iwae_nll']:.2f}; "
        f"{train_s:.0f}s train, {result['eval_seconds']:.0f}s eval",
        flush=True,
    )
    return result


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/vae_quality")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--iwae", type=int, default=5000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--elbo-draws", type=int, default=10)
    parser.add_argument(
        "--train-eval", type=int, default=120, help="training images evaluated (the gap)"
    )
    parser.add_argument("--models", default="", help="comma-separated subset of the model names")
    parser.add_argument("--quick", action="store_true", help="200 steps, IWAE-100")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.iwae, args.chunk = 200, 100, 50
    configs = model_configs(args.iwae, args.chunk)
    names = args.models.split(",") if args.models else list(configs)
    unknown = sorted(set(names) - set(configs))
    if unknown:
        raise ValueError(f"unknown models {unknown}; valid: {sorted(configs)}")
    os.makedirs(args.workdir, exist_ok=True)
    results = [run(name, configs[name], args) for name in names]
    print(json.dumps({"benchmark": "vae_quality", "results": results}))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
