"""RBM and DBM quality on binarized digits, measured with our AIS.

``python -m experiments.rbm_quality [--workdir runs/rbm_quality] [--epochs 20] [--quick]``

* An RBM with 64 hidden units trained by PCD-1 (learning rate 0.05, batch 10, the given epochs) with
  ``genjax.training.fit``, and scikit-learn's ``BernoulliRBM`` with the same hidden units, epochs,
  learning rate and batch size; every weight set evaluated by the same AIS estimate of ``log Z``
  (``K`` intermediate distributions, ``M`` runs, base model from the training marginals), giving the
  average test log-likelihood in nats, over several seeds. Ours also with the learning rate decaying
  linearly from 0.05 to 0 (Tieleman, 2008: PCD needs a decaying rate to settle).
* A 2-layer DBM (64, 32 hidden), greedily pretrained with doubled-unit RBMs (or not) then trained by
  mean-field + PCD (learning rate constant or decaying), with its AIS lower bound on the test
  log-likelihood.
* Sample grids (from noise and seeded with test images) as PNGs in the workdir.

Prints one JSON line with every number at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.grids import save_gallery
from genjax import training
from genjax.data import digits
from genjax.data.transforms import binarize
from genjax.models import dbm, rbm
from genjax.samplers import gibbs

LR = 0.05
BATCH = 10
HIDDEN = 64


def load_binary_digits() -> tuple[np.ndarray, np.ndarray]:
    """genjax's fixed digits train / test split (1,437 / 360) binarized at half intensity
    (grey level > 8): float32 [N, 8, 8, 1] in {0, 1}."""
    return tuple(
        np.asarray(binarize(digits.load_digits(split)["image"], 8)) for split in ("train", "test")
    )


def _batches(x: np.ndarray, batch: int):
    steps = x.shape[0] // batch
    stacked = jnp.asarray(x[: steps * batch].reshape(steps, batch, *x.shape[1:]))
    return steps, (lambda s: {"image": stacked[s % steps]})


def train_rbm(x: np.ndarray, epochs: int, key, decay: bool = False) -> tuple[dict, dict]:
    """PCD-1 with ``BATCH`` persistent chains and SGD at ``LR``, constant or decaying linearly to
    0."""
    config = rbm.RBMConfig(
        image_shape=x.shape[1:], num_hidden=HIDDEN, persistent=True, num_chains=BATCH
    )
    model = rbm.make_rbm(config)
    steps, data = _batches(x, BATCH)
    optimizer = optax.sgd(optax.linear_schedule(LR, 0.0, epochs * steps) if decay else LR)
    state = training.fit(
        model,
        optimizer,
        data,
        key=key,
        num_steps=epochs * steps,
        steps_per_call=steps,
        log_every=steps,
        checkpoint_every=steps * epochs,
        progress=False,
    )
    return state.params, state.model_state


def train_sklearn(x: np.ndarray, epochs: int, seed: int = 0) -> dict:
    from sklearn.neural_network import BernoulliRBM

    peer = BernoulliRBM(
        n_components=HIDDEN, learning_rate=LR, batch_size=BATCH, n_iter=epochs, random_state=seed
    )
    peer.fit(x.reshape(x.shape[0], -1).astype(np.float64))
    return {
        "W": jnp.asarray(peer.components_.T, jnp.float32),
        "b_v": jnp.asarray(peer.intercept_visible_, jnp.float32),
        "b_h": jnp.asarray(peer.intercept_hidden_, jnp.float32),
    }


def rbm_test_ll(key, params: dict, base: jax.Array, x_test: np.ndarray, k: int, m: int) -> dict:
    log_z, std = jax.jit(
        lambda key: rbm.ais_log_z(key, params, base, num_intermediate=k, num_runs=m)
    )(key)
    v = jnp.asarray(x_test.reshape(x_test.shape[0], -1))
    ll = rbm.log_likelihood(params, v, log_z)
    pll = rbm.pseudo_log_likelihood(jax.random.fold_in(key, 1), params, v)
    return {
        "test_ll": float(jnp.mean(ll)),
        "log_z": float(log_z),
        "log_z_std": float(std),
        "test_pll": float(jnp.mean(pll)),
    }


def train_dbm(
    x: np.ndarray, pre_epochs: int, epochs: int, key, decay: bool = True
) -> tuple[dbm.DBMConfig, dict]:
    """Greedy pretraining (``pre_epochs`` per RBM; none when 0), then mean-field + PCD for
    ``epochs`` at learning rate ``LR / 2`` with momentum 0.5, decaying linearly to 0 if
    ``decay``."""
    config = dbm.DBMConfig(
        image_shape=x.shape[1:], hidden=(HIDDEN, 32), num_chains=100, mf_damping=0.2
    )
    keys = jax.random.split(key, 4)
    layer_params, inputs = [], x.reshape(x.shape[0], -1)
    batch = 20
    for layer in range(2 if pre_epochs else 0):
        model = dbm.make_pretraining_rbm(config, layer)
        steps = inputs.shape[0] // batch
        stacked = jnp.asarray(inputs[: steps * batch].reshape(steps, batch, -1))
        field = "image" if layer == 0 else "x"
        shape = x.shape[1:] if layer == 0 else (inputs.shape[1],)
        data = lambda s, stacked=stacked, steps=steps, field=field, shape=shape: {
            field: stacked[s % steps].reshape((batch, *shape))
        }
        state = training.fit(
            model,
            optax.sgd(LR, momentum=0.5),
            data,
            key=keys[layer],
            num_steps=pre_epochs * steps,
            steps_per_call=steps,
            log_every=steps,
            checkpoint_every=steps * pre_epochs,
            progress=False,
        )
        layer_params.append(state.params)
        inputs = np.asarray(dbm.propagate_up(state.params, jnp.asarray(inputs), layer, config))
    model = dbm.make_dbm(config)
    steps, data = _batches(x, batch)
    rate = optax.linear_schedule(LR / 2, 0.0, epochs * steps) if decay else LR / 2
    optimizer = optax.sgd(rate, momentum=0.5)
    state = training.create_train_state(model, optimizer, keys[2], data(0))
    if pre_epochs:
        state = state.replace(params=dbm.from_pretrained(config, layer_params))
    step = training.compile_step(
        training.make_train_step(model, optimizer), "jit", steps_per_call=steps
    )
    stacked = {"image": jnp.stack([data(s)["image"] for s in range(steps)])}
    for _ in range(epochs):
        state, _ = step(state, stacked, keys[3])
    return config, state.params


def dbm_test_bound(key, config, params, base, x_test, k: int, m: int) -> dict:
    log_z, std = jax.jit(
        lambda key: dbm.ais_log_z(key, params, base, num_intermediate=k, num_runs=m)
    )(key)
    v = jnp.asarray(x_test.reshape(x_test.shape[0], -1))
    mus, _ = dbm.mean_field(
        params, v, max_iters=config.mf_max_iters, tol=config.mf_tol, damping=config.mf_damping
    )
    bound = dbm.elbo(params, v, mus) - log_z
    return {
        "test_lower_bound": float(jnp.mean(bound)),
        "log_z": float(log_z),
        "log_z_std": float(std),
    }


def rbm_grids(key, params, x_test, path: str, steps: int) -> str:
    """Gibbs chains from Bernoulli(0.5) noise and seeded with test images, shown after 1, 10, 100
    and ``steps`` sweeps (the visible samples; white = 1)."""
    n = 10
    k0, k1, k2 = jax.random.split(key, 3)
    noise = gibbs.noise_init(k0, n, (params["W"].shape[0],))
    seeds = jnp.asarray(x_test[:n].reshape(n, -1))
    rows = [("test images (seeds)", np.asarray(seeds))]
    h = jnp.zeros((n, params["b_h"].shape[0]))
    run = jax.jit(
        lambda k, v0: gibbs.run_chains(
            k, (v0, h), rbm.conditionals(params), steps, trace_fn=lambda s: s[0]
        )[1]
    )
    shown = sorted({i for i in (1, 10, 100) if i < steps} | {steps})
    for name, v0, k in (("from noise", noise, k1), ("seeded", seeds, k2)):
        trace = np.asarray(run(k, v0))
        rows.extend((f"{name}, sweep {i}", trace[:, i - 1]) for i in shown)
    rows = [(t, 2.0 * r.reshape(n, 8, 8, 1) - 1.0) for t, r in rows]
    return save_gallery(rows, path, ncol=n, title="RBM 64 hidden, PCD: Gibbs samples")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="runs/rbm_quality")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--ais_k", type=int, default=10000)
    parser.add_argument("--ais_m", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.ais_k, args.ais_m, args.seeds = 1, 100, 10, 1
    x_train, x_test = load_binary_digits()
    key = jax.random.PRNGKey(0)
    out: dict = {
        "train": int(x_train.shape[0]),
        "test": int(x_test.shape[0]),
        "epochs": args.epochs,
        "lr": LR,
        "batch": BATCH,
        "hidden": HIDDEN,
        "ais_k": args.ais_k,
        "ais_m": args.ais_m,
        "seeds": args.seeds,
    }
    # One AIS base model for every weight set: the training data marginals.
    base = rbm.base_logits_from_data(jnp.asarray(x_train.reshape(x_train.shape[0], -1).mean(0)))
    eval_key = jax.random.fold_in(key, 10)
    runs: dict = {"rbm_pcd_ours": [], "rbm_pcd_ours_lr_decay": [], "rbm_sklearn": []}
    for seed in range(args.seeds):
        ours, _ = train_rbm(x_train, args.epochs, jax.random.PRNGKey(seed))
        runs["rbm_pcd_ours"].append(
            rbm_test_ll(eval_key, ours, base, x_test, args.ais_k, args.ais_m)
        )
        decayed, _ = train_rbm(x_train, args.epochs, jax.random.PRNGKey(seed), decay=True)
        runs["rbm_pcd_ours_lr_decay"].append(
            rbm_test_ll(eval_key, decayed, base, x_test, args.ais_k, args.ais_m)
        )
        runs["rbm_sklearn"].append(
            rbm_test_ll(
                eval_key,
                train_sklearn(x_train, args.epochs, seed),
                base,
                x_test,
                args.ais_k,
                args.ais_m,
            )
        )
        if seed == 0:
            grid_params = decayed
    for name, rows in runs.items():
        lls = np.array([r["test_ll"] for r in rows])
        out[name] = {
            "test_ll_mean": float(lls.mean()),
            "test_ll_std": float(lls.std()),
            "runs": rows,
        }
    print(json.dumps(out), flush=True)
    variants = {
        "dbm_64_32_pretrained_lr_decay": dict(pre_epochs=max(1, args.epochs // 2), decay=True),
        "dbm_64_32_pretrained_constant_lr": dict(pre_epochs=max(1, args.epochs // 2), decay=False),
        "dbm_64_32_no_pretraining_lr_decay": dict(pre_epochs=0, decay=True),
    }
    for name, kwargs in variants.items():
        config, dparams = train_dbm(
            x_train, epochs=args.epochs, key=jax.random.fold_in(key, 2), **kwargs
        )
        out[name] = dbm_test_bound(eval_key, config, dparams, base, x_test, args.ais_k, args.ais_m)
        print(name, out[name], flush=True)
    os.makedirs(args.workdir, exist_ok=True)
    out["grid"] = rbm_grids(
        jax.random.fold_in(key, 3),
        grid_params,
        x_test,
        os.path.join(args.workdir, "rbm_samples.png"),
        40 if args.quick else 1000,
    )
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
