"""Gibbs sampling and PCD training speed of the RBM against scikit-learn and a NumPy loop.

``python -m experiments.benchmarks.gibbs [--quick] [--repeats N]``

* Chain-steps per second: ``C = 1000`` chains, full sweeps (hidden then visible units sampled) of a
  64 x 256 RBM for 1,000 sweeps and of a 784 x 500 RBM for 200 sweeps (the throughput does not
  depend on the sweep count; 1,000 sweeps there take minutes per side on two cores). Peers, in the
  same process: scikit-learn ``BernoulliRBM.gibbs`` called once per sweep on the ``[C, D]`` chains,
  and a plain NumPy float32 loop doing the same sweeps (PCG64 uniforms, ``1 / (1 + exp(-x))``). At
  these sizes a sweep is bound by random numbers and elementwise work as much as by the products.
* PCD training examples per second against ``BernoulliRBM.fit`` with the same semantics (PCD-1,
  learning rate 0.05, 64 hidden units, 20 epochs over 1,700 binarized digits, batches in order) at
  batch 10 and 100. Ours scans a whole epoch inside one compiled call (``compile_step(...,
  steps_per_call=epoch)``) and, as ``fit``, computes no per-batch metrics
  (``train_metrics=False``). The pseudo-log-likelihood each reaches is printed before the table.

The BLAS the peers run on is in the final JSON line (``blas``, from threadpoolctl).
"""

from __future__ import annotations

import sys
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.benchmarks import harness
from genjax import training
from genjax.data import digits
from genjax.data.transforms import binarize
from genjax.models import rbm
from genjax.samplers import gibbs

CHAINS = 1000
LR = 0.05
EPOCHS = 20
HIDDEN = 64


def _weights(d: int, h: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "W": (0.1 * rng.standard_normal((d, h))).astype(np.float32),
        "b_v": (0.1 * rng.standard_normal(d)).astype(np.float32),
        "b_h": (0.1 * rng.standard_normal(h)).astype(np.float32),
    }


def _ours_gibbs(d: int, h: int, sweeps: int, chains: int) -> Callable[[], Callable[[], object]]:
    def setup():
        params = jax.tree.map(jnp.asarray, _weights(d, h))
        v0 = gibbs.noise_init(jax.random.PRNGKey(1), chains, (d,))
        layers = (v0, jnp.zeros((chains, h), jnp.float32))
        run = jax.jit(
            lambda key, layers: gibbs.run_chains(key, layers, rbm.conditionals(params), sweeps)[0]
        )
        key = jax.random.PRNGKey(0)
        return lambda: run(key, layers)

    return setup


def _sklearn_rbm(p: dict, batch_size: int = 10):
    from sklearn.neural_network import BernoulliRBM

    d, h = p["W"].shape
    model = BernoulliRBM(
        n_components=h, learning_rate=LR, batch_size=batch_size, n_iter=EPOCHS, random_state=0
    )
    model.components_ = p["W"].T.astype(np.float64)
    model.intercept_hidden_ = p["b_h"].astype(np.float64)
    model.intercept_visible_ = p["b_v"].astype(np.float64)
    model.random_state_ = np.random.RandomState(0)
    return model


def _sklearn_gibbs(d: int, h: int, sweeps: int, chains: int):
    def setup():
        model = _sklearn_rbm(_weights(d, h))
        v0 = (np.random.default_rng(1).random((chains, d)) < 0.5).astype(np.float64)

        def fn():
            v = v0
            for _ in range(sweeps):
                v = model.gibbs(v)
            return v

        return fn

    return setup


def _numpy_gibbs(d: int, h: int, sweeps: int, chains: int):
    def setup():
        p = _weights(d, h)
        w, wt, bv, bh = p["W"], np.ascontiguousarray(p["W"].T), p["b_v"], p["b_h"]
        v0 = (np.random.default_rng(1).random((chains, d)) < 0.5).astype(np.float32)

        def fn():
            rng = np.random.default_rng(0)
            v = v0
            for _ in range(sweeps):
                ph = 1.0 / (1.0 + np.exp(-(v @ w + bh)))
                hs = (rng.random(ph.shape, dtype=np.float32) < ph).astype(np.float32)
                pv = 1.0 / (1.0 + np.exp(-(hs @ wt + bv)))
                v = (rng.random(pv.shape, dtype=np.float32) < pv).astype(np.float32)
            return v

        return fn

    return setup


def binary_digits(n: int = 1700) -> np.ndarray:
    """The first ``n`` digits (``genjax.data.digits``, split 'all') binarized at half intensity:
    float32 [n, 8, 8, 1] in {0, 1}."""
    return np.asarray(binarize(digits.load_digits("all")["image"][:n], 8))


def _pcd_model(batch: int):
    config = rbm.RBMConfig(
        image_shape=(8, 8, 1), num_hidden=HIDDEN, persistent=True, num_chains=batch, cd_steps=1,
        train_metrics=False,
    )
    return rbm.make_rbm(config)


def train_ours(data: np.ndarray, batch: int, epochs: int = EPOCHS, seed: int = 0):
    """PCD-1 with plain SGD (learning rate 0.05), one compiled call per epoch; returns the final
    TrainState
    and a zero-argument function that repeats the whole run."""
    model = _pcd_model(batch)
    optimizer = optax.sgd(LR)
    steps = data.shape[0] // batch
    stacked = {"image": jnp.asarray(data[: steps * batch].reshape(steps, batch, *data.shape[1:]))}
    epoch = training.compile_step(
        training.make_train_step(model, optimizer), "jit", steps_per_call=steps
    )
    key = jax.random.PRNGKey(seed)

    def run():
        state = training.create_train_state(
            model, optimizer, jax.random.PRNGKey(seed), {"image": stacked["image"][0]}
        )
        for _ in range(epochs):
            state, _ = epoch(state, stacked, key)
        return state

    return run


def _ours_pcd(data: np.ndarray, batch: int, epochs: int):
    def setup():
        return train_ours(data, batch, epochs)

    return setup


def _sklearn_pcd(data: np.ndarray, batch: int, epochs: int):
    from sklearn.neural_network import BernoulliRBM

    x = data.reshape(data.shape[0], -1).astype(np.float64)

    def setup():
        return lambda: BernoulliRBM(
            n_components=HIDDEN, learning_rate=LR, batch_size=batch, n_iter=epochs, random_state=0
        ).fit(x)

    return setup


def pseudo_likelihoods(data: np.ndarray, batch: int) -> dict:
    """Mean pseudo-log-likelihood (nats per image, the one-flip estimator of both) of the data after
    training each side once."""
    from sklearn.neural_network import BernoulliRBM

    x = data.reshape(data.shape[0], -1)
    state = train_ours(data, batch)()
    ours = float(
        jnp.mean(rbm.pseudo_log_likelihood(jax.random.PRNGKey(7), state.params, jnp.asarray(x)))
    )
    peer = BernoulliRBM(
        n_components=HIDDEN, learning_rate=LR, batch_size=batch, n_iter=EPOCHS, random_state=0
    )
    peer.fit(x.astype(np.float64))
    return {
        "batch": batch,
        "ours_pll": ours,
        "sklearn_pll": float(np.mean(peer.score_samples(x.astype(np.float64)))),
    }


def cases(quick: bool) -> list[harness.Case]:
    if quick:
        d, h, sweeps, chains = 16, 8, 10, 16
        data = binary_digits(100)
        return [
            harness.Case(
                f"gibbs {d}x{h} C={chains} x{sweeps}",
                chains * sweeps,
                "chain-steps",
                _ours_gibbs(d, h, sweeps, chains),
            ),
            harness.Case(
                "pcd-1 digits b10 1 epoch", data.shape[0], "examples", _ours_pcd(data, 10, 1)
            ),
        ]
    out = []
    for d, h, sweeps in ((64, 256, 1000), (784, 500, 200)):
        work = CHAINS * sweeps
        name = f"gibbs {d}x{h} C={CHAINS} x{sweeps}"
        ours = _ours_gibbs(d, h, sweeps, CHAINS)
        out.append(
            harness.Case(
                name, work, "chain-steps", ours, _sklearn_gibbs(d, h, sweeps, CHAINS), "sklearn"
            )
        )
        out.append(
            harness.Case(
                name, work, "chain-steps", ours, _numpy_gibbs(d, h, sweeps, CHAINS), "numpy"
            )
        )
    data = binary_digits()
    for batch in (10, 100):
        out.append(
            harness.Case(
                f"pcd-1 digits b{batch} {EPOCHS} epochs",
                EPOCHS * data.shape[0],
                "examples",
                _ours_pcd(data, batch, EPOCHS),
                _sklearn_pcd(data, batch, EPOCHS),
                "sklearn",
            )
        )
    return out


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if "--quick" not in args:
        data = binary_digits()
        for batch in (10, 100):
            print(
                "pseudo-log-likelihood after PCD training:",
                pseudo_likelihoods(data, batch),
                flush=True,
            )
    return harness.main(cases, args, title="gibbs")


if __name__ == "__main__":
    main()
