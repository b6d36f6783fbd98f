"""RBM and DBM quality on binarized digits or Fashion-MNIST, measured with our AIS.

``python -m experiments.studies.rbm_quality [--dataset digits|fashion_mnist] [--epochs N] [--models a,b]
[--quick]`` (the flags every study shares: ``experiments/studies/study.py``)

Images are binarized at half intensity (threshold 0.5 on [0, 1]: level > 8 of 16 on digits, pixel >
127 of 255 on Fashion-MNIST), and every likelihood is on the binarized test images.

* An RBM with ``H`` hidden units trained by PCD-1 (learning rate 0.05, batch 10, the given epochs)
  with ``genjax.training.fit``, and scikit-learn's ``BernoulliRBM`` with the same hidden units,
  epochs, learning rate and batch size; every weight set evaluated by the same AIS estimate of
  ``log Z`` (``K`` intermediate distributions, ``M`` runs, base model from the training marginals),
  giving the average test log-likelihood in nats, over several seeds. Ours also with the learning
  rate decaying linearly from 0.05 to 0 (Tieleman, 2008: PCD needs a decaying rate to settle).
* A 2-layer DBM (``H``, ``H / 2`` hidden), greedily pretrained with doubled-unit RBMs (or not) then
  trained by mean-field + PCD (learning rate constant or decaying), with its AIS lower bound on the
  test log-likelihood.
* Sample grids (from noise and seeded with test images) as PNGs in the workdir.

Sizes: digits ``H`` = 64, 20 epochs, AIS K = 10,000, M = 100, 3 seeds; Fashion-MNIST ``H`` = 200,
3 epochs, K = 10,000, M = 100, 1 seed (about 15 minutes of CPU time, 6 of them scikit-learn's
epochs at 2 minutes each); ``--quick``: 1 epoch, K = 100, M = 10, 1 seed. Writes ``report.json`` and
``report.md``.
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.grids import save_gallery
from experiments.studies import study
from genjax import training
from genjax.models import dbm, rbm
from genjax.samplers import gibbs

LR = 0.05
BATCH = 10
HIDDEN = {"digits": 64, "fashion_mnist": 200}
DEFAULTS = {
    "digits": dict(epochs=20, ais_k=10000, ais_m=100, seeds=3),
    "fashion_mnist": dict(epochs=3, ais_k=10000, ais_m=100, seeds=1),
    "quick": dict(epochs=1, ais_k=100, ais_m=10, seeds=1),
}
RBM_RUNS = ("rbm_pcd_ours", "rbm_pcd_ours_lr_decay", "rbm_sklearn")
DBM_RUNS = ("dbm_pretrained_lr_decay", "dbm_pretrained_constant_lr", "dbm_no_pretraining_lr_decay")


def _batches(x: np.ndarray, batch: int):
    steps = x.shape[0] // batch
    stacked = jnp.asarray(x[: steps * batch].reshape(steps, batch, *x.shape[1:]))
    return steps, (lambda s: {"image": stacked[s % steps]})


def train_rbm(x: np.ndarray, hidden: int, epochs: int, key, decay: bool = False) -> tuple[dict, dict]:
    """PCD-1 with ``BATCH`` persistent chains and SGD at ``LR``, constant or decaying linearly to
    0."""
    config = rbm.RBMConfig(
        image_shape=x.shape[1:], num_hidden=hidden, persistent=True, num_chains=BATCH
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


def train_sklearn(x: np.ndarray, hidden: int, epochs: int, seed: int = 0) -> dict:
    from sklearn.neural_network import BernoulliRBM

    peer = BernoulliRBM(
        n_components=hidden, learning_rate=LR, batch_size=BATCH, n_iter=epochs, random_state=seed
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
    x: np.ndarray, hidden: tuple[int, int], pre_epochs: int, epochs: int, key, decay: bool = True
) -> tuple[dbm.DBMConfig, dict]:
    """Greedy pretraining (``pre_epochs`` per RBM; none when 0), then mean-field + PCD for
    ``epochs`` at learning rate ``LR / 2`` with momentum 0.5, decaying linearly to 0 if
    ``decay``."""
    config = dbm.DBMConfig(
        image_shape=x.shape[1:], hidden=hidden, num_chains=100, mf_damping=0.2
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
    rows = [(t, 2.0 * r.reshape(n, *x_test.shape[1:]) - 1.0) for t, r in rows]
    hidden = params["b_h"].shape[0]
    return save_gallery(rows, path, ncol=n, title=f"RBM {hidden} hidden, PCD: Gibbs samples")


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "rbm_quality", steps=False)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--ais_k", type=int, help="AIS intermediate distributions")
    parser.add_argument("--ais_m", type=int, help="AIS runs")
    parser.add_argument("--seeds", type=int, help="RBM trainings per setting")
    args = study.parse_args(parser, argv, DEFAULTS)
    names = study.select(args.models, RBM_RUNS + DBM_RUNS)
    data = study.data_from_args(args)
    # No early stopping here: every training image trains, the validation slice included.
    x_train, x_test = data.binary("train"), data.binary("test")
    hidden = HIDDEN[data.dataset]
    dbm_hidden = (hidden, hidden // 2)
    key = jax.random.PRNGKey(args.seed)
    out: dict = {
        **data.describe(),
        "epochs": args.epochs,
        "lr": LR,
        "batch": BATCH,
        "hidden": hidden,
        "dbm_hidden": list(dbm_hidden),
        "ais_k": args.ais_k,
        "ais_m": args.ais_m,
        "seeds": args.seeds,
    }
    # One AIS base model for every weight set: the training data marginals.
    base = rbm.base_logits_from_data(jnp.asarray(x_train.reshape(x_train.shape[0], -1).mean(0)))
    eval_key = jax.random.fold_in(key, 10)
    trainers = {
        "rbm_pcd_ours": lambda seed: train_rbm(x_train, hidden, args.epochs, jax.random.PRNGKey(seed))[0],
        "rbm_pcd_ours_lr_decay": lambda seed: train_rbm(
            x_train, hidden, args.epochs, jax.random.PRNGKey(seed), decay=True
        )[0],
        "rbm_sklearn": lambda seed: train_sklearn(x_train, hidden, args.epochs, seed),
    }
    runs: dict = {name: [] for name in RBM_RUNS if name in names}
    first_params: dict = {}
    for seed in range(args.seed, args.seed + args.seeds):
        for name in runs:
            params = trainers[name](seed)
            first_params.setdefault(name, params)
            runs[name].append(rbm_test_ll(eval_key, params, base, x_test, args.ais_k, args.ais_m))
    for name, rows in runs.items():
        lls = np.array([r["test_ll"] for r in rows])
        out[name] = {
            "test_ll_mean": float(lls.mean()),
            "test_ll_std": float(lls.std()),
            "runs": rows,
        }
        print(name, out[name], file=sys.stderr, flush=True)
    variants = {
        "dbm_pretrained_lr_decay": dict(pre_epochs=max(1, args.epochs // 2), decay=True),
        "dbm_pretrained_constant_lr": dict(pre_epochs=max(1, args.epochs // 2), decay=False),
        "dbm_no_pretraining_lr_decay": dict(pre_epochs=0, decay=True),
    }
    for name in (n for n in DBM_RUNS if n in names):
        config, dparams = train_dbm(
            x_train, dbm_hidden, epochs=args.epochs, key=jax.random.fold_in(key, 2), **variants[name]
        )
        out[name] = dbm_test_bound(eval_key, config, dparams, base, x_test, args.ais_k, args.ais_m)
        print(name, out[name], file=sys.stderr, flush=True)
    shown = next((n for n in ("rbm_pcd_ours_lr_decay", *RBM_RUNS) if n in first_params), None)
    if shown is not None:
        out["grid"] = rbm_grids(
            jax.random.fold_in(key, 3),
            first_params[shown],
            x_test,
            os.path.join(args.workdir, "rbm_samples.png"),
            40 if args.quick else 1000,
        )
        out["grid_params"] = shown
    return study.write_report(args, out)


if __name__ == "__main__":
    main(sys.argv[1:])
