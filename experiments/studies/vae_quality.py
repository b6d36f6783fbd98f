"""VAEs on digits (8x8, 17 levels) or Fashion-MNIST (28x28, 256 levels): test negative ELBO and
IWAE-K negative log-likelihood, sample, reconstruction and interpolation grids.

``python -m experiments.studies.vae_quality [--dataset digits|fashion_mnist] [--steps N] [--iwae K]
[--models a,b] [--quick]`` (the flags every study shares: ``experiments/studies/study.py``)

* ``binary_mlp``: images binarized at half intensity (threshold 0.5 on [0, 1]: level > 8 of 16,
  pixel > 127 of 255), MLP encoder / decoder with a Bernoulli decoder.
* ``mlp_logistic`` / ``conv_logistic``: the images on their grid in [-1, 1] with the
  discretized-logistic decoder (MLP, and the strided-conv encoder with its mirror decoder).

Each model is trained by ``genjax.training.fit`` (Adam 1e-3, batch 64, KL warm-up) on the training
split less its validation slice; the validation negative ELBO (one draw per image) is scored every
``--eval-every`` steps and the best params are kept (early stopping). They are evaluated on the test
split: the negative ELBO (``recon + kl``, averaged over ``--elbo-draws`` draws per image) and
``-IWAE_K`` (Burda et al., 2015), both in nats per image (an upper bound on the test NLL, tighter for
IWAE) and in bits/dim. The same numbers on the first ``--train-eval`` training images show the
generalisation gap.

Sizes: digits latent 16, MLP 256, conv (32, 64), KL warm-up 500, 3,000 steps, IWAE-5000 on all 360
test images and 120 training images; Fashion-MNIST latent 32, MLP 512, conv (32, 64), KL warm-up
1,000, 3,000 steps, IWAE-200 on the first 1,000 test images and 200 training images (about 15
minutes on 2 idle CPU cores, two thirds of it the conv model: 0.15 s per step, and its IWAE); ``--quick``:
200 steps, IWAE-100. Grids go to the workdir with ``report.json`` and ``report.md``.
"""

from __future__ import annotations

import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.grids import save_grid
from experiments.studies import study
from experiments.validation import fit_early_stopped
from genjax.data import batching
from genjax.models import vae

BATCH = 64
SIZES = {
    "digits": dict(latent_dim=16, hidden=(256,), channels=(32, 64), kl_warmup_steps=500),
    "fashion_mnist": dict(latent_dim=32, hidden=(512,), channels=(32, 64), kl_warmup_steps=1000),
}
DEFAULTS = {
    "digits": dict(steps=3000, eval_every=500, iwae=5000, train_eval=120),
    "fashion_mnist": dict(steps=3000, eval_every=500, iwae=200, train_eval=200, max_test=1000),
    "quick": dict(steps=200, eval_every=100, iwae=100, chunk=50),
}


def model_configs(data: study.StudyData, iwae: int, chunk: int) -> dict[str, vae.VAEConfig]:
    """The evaluated models by name, shaped for ``data``."""
    sizes = SIZES[data.dataset]
    common = dict(
        data_shape=data.image_shape, latent_dim=sizes["latent_dim"],
        kl_warmup_steps=sizes["kl_warmup_steps"], iwae_samples=iwae, iwae_chunk=chunk, levels=data.levels,
    )
    return {
        "binary_mlp": vae.VAEConfig(
            hidden=sizes["hidden"], likelihood="bernoulli", sample_output="draw", **common
        ),
        "mlp_logistic": vae.VAEConfig(hidden=sizes["hidden"], likelihood="logistic", **common),
        "conv_logistic": vae.VAEConfig(
            architecture="conv", channels=sizes["channels"], likelihood="logistic", **common
        ),
    }


def evaluate(
    model, config: vae.VAEConfig, params, state, x: np.ndarray, key, elbo_draws: int, eval_batch: int
) -> dict:
    """Mean negative ELBO (with its two terms) and -IWAE_K over ``x``, in nats and bits/dim."""
    elbo_fn = jax.jit(
        jax.vmap(lambda k, xb: vae.elbo_terms(config, params, k, xb), in_axes=(0, None))
    )
    iwae_fn = jax.jit(
        lambda k, xb: model.log_prob(params, state.model_state, {"image": xb}, k)
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
    to_bpd = 1.0 / (math.prod(config.data_shape) * math.log(2.0))
    return {
        "neg_elbo": neg_elbo,
        "recon": recon,
        "kl": kl,
        "iwae_nll": iwae,
        "neg_elbo_bpd": neg_elbo * to_bpd,
        "iwae_nll_bpd": iwae * to_bpd,
    }


def validation_neg_elbo(config: vae.VAEConfig, x: np.ndarray, eval_batch: int):
    """``params -> mean one-draw negative ELBO over x`` (the early-stopping score; fixed key)."""
    fn = jax.jit(lambda p, xb: -jnp.subtract(*vae.elbo_terms(config, p, jax.random.PRNGKey(5), xb)))
    return lambda params: float(
        np.mean(study.map_batches(lambda xb: fn(params, jnp.asarray(xb)), x, eval_batch))
    )


def _to_grid(x: np.ndarray, binary: bool) -> np.ndarray:
    return 2.0 * np.asarray(x) - 1.0 if binary else np.asarray(x)


def save_grids(
    model, config: vae.VAEConfig, params, state, test: np.ndarray, binary: bool, prefix: str
) -> list[str]:
    """64 samples, test images over their reconstructions, interpolations between test pairs."""
    key = jax.random.PRNGKey(1)
    samples = jax.jit(model.sample, static_argnums=3)(params, state.model_state, key, 64)
    recon = vae.reconstruct(config, params, jnp.asarray(test[:16]))
    pairs = np.concatenate([test[:8], np.asarray(recon[:8]), test[8:16], np.asarray(recon[8:16])])
    paths = [
        jnp.asarray(
            vae.interpolate(
                config, params, test[2 * i : 2 * i + 1], test[2 * i + 1 : 2 * i + 2], 10
            )
        )
        for i in range(6)
    ]
    return [
        save_grid(_to_grid(samples, binary), prefix + "_samples.png", ncol=8),
        save_grid(_to_grid(pairs, binary), prefix + "_reconstructions.png", ncol=8),
        save_grid(_to_grid(np.concatenate(paths), binary), prefix + "_interpolations.png", ncol=10),
    ]


def run(name: str, config: vae.VAEConfig, data: study.StudyData, args) -> dict:
    binary = config.likelihood == "bernoulli"
    fit, val, test = ((data.binary if binary else data.symmetric)(s) for s in ("fit", "validation", "test"))
    model = vae.make_vae(config)
    # XLA:CPU runs the kernel gradient of a convolution inside a while loop (lax.scan) 40-100x
    # slower than at top level, so conv models take one step per call.
    steps_per_call = 1 if config.architecture == "conv" else min(100, args.eval_every)
    eval_batch = 40 if config.architecture == "conv" else 120
    t0 = time.time()
    state, best = fit_early_stopped(
        model,
        optax.adam(1e-3),
        batching.epoch_batches({"image": fit}, BATCH, 0),
        key=jax.random.PRNGKey(args.seed),
        num_steps=args.steps,
        eval_every=args.eval_every,
        score=validation_neg_elbo(config, val, 500),
        name="val_neg_elbo",
        steps_per_call=steps_per_call,
    )
    train_s = time.time() - t0
    params = best.params
    t0 = time.time()
    result = {
        "likelihood": config.likelihood,
        "architecture": config.architecture,
        "steps": args.steps,
        "best_step": best.step,
        "best_val_neg_elbo": best.value,
        "val_curve": best.curve,
        "iwae_samples": config.iwae_samples,
        "test": evaluate(
            model, config, params, state, test, jax.random.PRNGKey(2), args.elbo_draws, eval_batch
        ),
        "train": evaluate(
            model, config, params, state, fit[: args.train_eval], jax.random.PRNGKey(3), args.elbo_draws,
            eval_batch,
        ),
        "train_seconds": train_s,
    }
    result["eval_seconds"] = time.time() - t0
    result["grids"] = save_grids(
        model, config, params, state, test, binary, os.path.join(args.workdir, name)
    )
    t = result["test"]
    print(
        f"{name:<22} test -ELBO {t['neg_elbo']:7.2f} nats "
        f"(recon {t['recon']:.2f} + kl {t['kl']:.2f}), "
        f"-IWAE{config.iwae_samples} {t['iwae_nll']:7.2f} nats ({t['iwae_nll_bpd']:.3f} bits/dim); "
        f"train -ELBO {result['train']['neg_elbo']:.2f}, -IWAE {result['train']['iwae_nll']:.2f}; "
        f"best step {best.step}; {train_s:.0f}s train, {result['eval_seconds']:.0f}s eval",
        file=sys.stderr,
        flush=True,
    )
    return result


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "vae_quality")
    parser.add_argument("--eval-every", type=int, help="steps between validation scores")
    parser.add_argument("--iwae", type=int, help="K of the IWAE bound")
    parser.add_argument("--chunk", type=int, default=100, help="IWAE draws per chunk")
    parser.add_argument("--elbo-draws", type=int, default=10)
    parser.add_argument("--train-eval", type=int, help="training images evaluated (the gap)")
    args = study.parse_args(parser, argv, DEFAULTS)
    data = study.data_from_args(args)
    configs = model_configs(data, args.iwae, args.chunk)
    names = study.select(args.models, list(configs))
    results = {**data.describe(), **{name: run(name, configs[name], data, args) for name in names}}
    return study.write_report(args, results)


if __name__ == "__main__":
    main(sys.argv[1:])
