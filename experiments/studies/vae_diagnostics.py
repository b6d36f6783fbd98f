"""Why a VAE's prior samples score what they score: latent usage, prior hole, decoder output.

``python -m experiments.studies.vae_diagnostics --workdir DIR [--dataset digits|fashion_mnist]
[--budget quick] [--steps N] [--set model.key=value ...] [--num-samples 1000]``

Trains ``experiments/configs/vae_<dataset>.py`` through ``experiments.run.train`` with the steps of
``experiments.compare``'s ``--budget`` (or ``--steps``; a rerun resumes from the checkpoint), then
measures, under the dataset's shipped classifier against the whole test split:

* latent usage on the test images: ``KL(q(z_d | x) || N(0, 1))`` per dimension and the active units
  ``Cov_x(E_q[z_d | x]) > 0.01`` (Burda et al., 2015);
* the aggregate posterior ``q(z) = mean_x q(z | x)`` over the training images against the model's
  prior (``N(0, I)`` or the fitted one), in the prior's whitened coordinates: the KL of its
  moment-matched Gaussian from ``N(0, I)``, its mean's norm and the range of its covariance
  eigenvalues (a prior hole shows as eigenvalues far below 1 or a large KL);
* FID / precision / recall of ``--num-samples`` images from each of: the prior decoded to the
  decoder's mean ``E[x | z]``, to its location clipped to [-1, 1] (what ``Model.sample`` returned
  before the mean was computed), and to a draw ``x ~ p(x | z)``; posterior draws ``z ~ q(z | x)`` of
  the (held-out) test images decoded to the mean (the test images cycled: a reconstruction, so it
  sees the reference and bounds what a better prior could reach); the moment-matched aggregate
  posterior decoded to the mean; and one full-covariance Gaussian fitted to the training pixels
  (the baseline of ``experiments/studies/metrics_baselines.py``).

Writes ``report.json``, ``report.md`` and ``samples.png`` (ten images per row) to the workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from experiments import compare, grids, run
from experiments.families.vae import vae_config
from experiments.studies.metrics_baselines import gaussian_fit
from genjax.metrics import fid as fid_lib
from genjax.metrics import prdc as prdc_lib
from genjax.models import vae

BATCH = 250


def _batched(fn, x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(fn(jnp.asarray(x[i:i + BATCH]))) for i in range(0, len(x), BATCH)])


def latent_report(config: vae.VAEConfig, params, test: np.ndarray, train: np.ndarray) -> dict:
    """KL per dimension and active units on ``test``; the aggregate posterior of ``train`` against
    the prior, with its moment-matched mean and covariance (for :func:`image_sets`)."""
    enc = jax.jit(lambda x: jnp.concatenate(vae.encode(config, params, x), -1))
    z_dim = config.latent_dim
    test_q = _batched(enc, test)
    mean, log_var = test_q[:, :z_dim], test_q[:, z_dim:]
    kl = np.asarray(vae.kl_per_dimension(jnp.asarray(mean), jnp.asarray(log_var)))
    active = np.asarray(vae.active_units(jnp.asarray(mean)))
    train_q = _batched(enc, train)
    # Moments of the mixture mean_x N(m_x, diag(v_x)): the covariance adds the mean of diag(v_x).
    m, v = train_q[:, :z_dim].astype(np.float64), np.exp(train_q[:, z_dim:].astype(np.float64))
    agg_mean = m.mean(0)
    agg_cov = np.cov(m, rowvar=False) + np.diag(v.mean(0))
    # Measured in the prior's whitened coordinates u = L^-1 (z - mu), where the prior is N(0, I).
    mu, tril = (np.asarray(a, np.float64) for a in vae.prior_params(config, params))
    inv = np.linalg.inv(tril)
    w_mean, w_cov = inv @ (agg_mean - mu), inv @ agg_cov @ inv.T
    eig = np.linalg.eigvalsh(w_cov)
    kl_agg = 0.5 * (np.trace(w_cov) + w_mean @ w_mean - z_dim - np.sum(np.log(eig)))
    order = np.argsort(-kl)
    return {
        "kl_total": float(kl.sum()),
        "kl_per_dim_sorted": [round(float(k), 3) for k in kl[order]],
        "posterior_mean_variance_sorted": [round(float(a), 4) for a in np.var(mean, 0, ddof=1)[order]],
        "mean_posterior_std_sorted": [round(float(a), 3) for a in np.exp(0.5 * log_var).mean(0)[order]],
        "active_units": int(active.sum()),
        "latent_dim": z_dim,
        "aggregate_kl_from_prior": float(kl_agg),
        "aggregate_cov_eigenvalues": [float(eig.min()), float(np.median(eig)), float(eig.max())],
        "aggregate_mean_norm": float(np.linalg.norm(w_mean)),
        "_agg": (agg_mean, agg_cov),
    }


def image_sets(
    config: vae.VAEConfig, params, seed: int, n: int, test: np.ndarray, train: np.ndarray, agg
) -> dict[str, np.ndarray]:
    """The scored image sets by name, each float32 ``[n, *data_shape]`` in [-1, 1]."""
    k_prior, k_draw, k_post = jax.random.split(jax.random.PRNGKey(seed), 3)
    rng = np.random.default_rng(seed)
    dec = jax.jit(lambda z: vae.decode_params(config, params, z))
    mean_of = jax.jit(lambda z: vae.observation_mean(config, dec(z)))
    mu, tril = vae.prior_params(config, params)
    z_prior = np.asarray(mu + jax.random.normal(k_prior, (n, config.latent_dim)) @ tril.T)
    out_prior = _batched(dec, z_prior)
    loc = out_prior[..., : config.data_shape[-1]]
    x = np.asarray(test[np.arange(n) % len(test)])
    post = jax.jit(lambda k, x: (lambda m, lv: m + jnp.exp(0.5 * lv) * jax.random.normal(k, m.shape))(
        *vae.encode(config, params, x)))
    z_post = np.concatenate([np.asarray(post(jax.random.fold_in(k_post, i), jnp.asarray(x[i:i + BATCH])))
                             for i in range(0, n, BATCH)])
    agg_mean, agg_cov = agg
    z_agg = rng.multivariate_normal(agg_mean, agg_cov, size=n)
    return {
        "prior, decoder mean E[x|z]": _batched(mean_of, z_prior),
        "prior, decoder location clipped": np.clip(loc, -1.0, 1.0),
        "prior, decoder mode": np.asarray(vae.observation_mode(config, jnp.asarray(out_prior))),
        "prior, draw x~p(x|z)": np.asarray(vae.observation_draw(config, k_draw, jnp.asarray(out_prior))),
        "posterior z~q(z|x_test), decoder mean": _batched(mean_of, z_post),
        "aggregate posterior (Gaussian fit), decoder mean": _batched(mean_of, z_agg.astype(np.float32)),
        "gaussian fit to the pixels (baseline)": gaussian_fit(train, n, rng),
    }


def score(sets: dict[str, np.ndarray], reference: np.ndarray, extractor) -> dict[str, dict]:
    """FID, precision and recall of each set against ``reference`` (features computed once)."""
    ref_feats, _ = extractor.apply(reference)
    ref_stats = fid_lib.stats_from_features(ref_feats)
    rows = {}
    for name, images in sets.items():
        feats, _ = extractor.apply(images)
        pr = prdc_lib.prdc(ref_feats, feats, k=5)
        rows[name] = {
            "fid": fid_lib.frechet_distance(fid_lib.stats_from_features(feats), ref_stats),
            "precision": float(pr.precision),
            "recall": float(pr.recall),
            "n": len(images),
        }
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--dataset", choices=compare.DATASETS, default="digits")
    parser.add_argument("--budget", choices=sorted(compare.BUDGETS), default="quick")
    parser.add_argument("--steps", type=int, help="training steps (overrides the budget's)")
    parser.add_argument("--set", action="append", default=[], metavar="model.KEY=VALUE",
                        help="a config override, parsed as JSON when it parses (repeatable)")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--max-train", type=int, default=10000, help="training images encoded")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = compare.family_config("vae", args.dataset, args.budget, args.workdir)
    if args.steps:
        config.train.num_steps = args.steps
        config.train.checkpoint_every = max(args.steps // 10, 10)
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
        section, field = key.split(".", 1)
        config[section][field] = value
    run.train(config, args.workdir, progress=False)
    spec, state = run.restore(config, args.workdir)
    mc = vae_config(config)
    params = state.params
    if mc.prior == "gaussian":
        params = {**params, "prior": state.model_state["prior"]}
    to_batch = spec.to_batch
    test = np.asarray(to_batch(run.load_split(config, "test"))["image"])
    train = np.asarray(to_batch(run.load_split(config, "train"))["image"])
    train = train[np.random.default_rng(args.seed).permutation(len(train))[: args.max_train]]
    latents = latent_report(mc, params, test, train)
    sets = image_sets(mc, params, args.seed, args.num_samples, test, train,
                      latents.pop("_agg"))
    rows = score(sets, run.reference_images(spec, run.load_split(config, "test")), run.features_for(config))
    report = {"dataset": args.dataset, "steps": config.train.num_steps, "model": config.model.to_dict(),
              "latents": latents, "fid": rows}
    with open(os.path.join(args.workdir, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=float)
    lines = [f"VAE diagnostics, {args.dataset}, {config.train.num_steps} steps, {len(test)} test images "
             f"as FID reference ({run.features_for(config).name} features)\n",
             f"active units {latents['active_units']} / {latents['latent_dim']}; KL {latents['kl_total']:.2f} "
             f"nats; per dim (sorted) {latents['kl_per_dim_sorted']}",
             f"aggregate posterior vs prior: KL {latents['aggregate_kl_from_prior']:.2f} nats, covariance "
             f"eigenvalues min/median/max {np.round(latents['aggregate_cov_eigenvalues'], 3).tolist()}, "
             f"|mean| {latents['aggregate_mean_norm']:.3f}\n",
             "| set | n | FID | precision | recall |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {r['n']} | {r['fid']:.1f} | {r['precision']:.3f} | {r['recall']:.3f} |" for k, r in rows.items()]
    with open(os.path.join(args.workdir, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    grids.save_gallery([(k, v[:10]) for k, v in sets.items()], os.path.join(args.workdir, "samples.png"))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
