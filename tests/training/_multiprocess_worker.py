"""One process of a multi-process ``fit`` run, for tests/training/test_multiprocess.py.

``python _multiprocess_worker.py OUT WORKDIR MODE NUM_STEPS PORT NUM_PROCESSES PROCESS_ID DIE_AT``
(with ``XLA_FLAGS`` giving the process its CPU devices): joins ``NUM_PROCESSES`` processes (none to
join when it is 1), trains :func:`make_model` with ``fit`` on global batches of
:data:`BATCH_SIZE`, and process 0 saves the final state's leaves to ``OUT`` (``.npz``). Process 1
kills itself (SIGKILL) when it reaches step ``DIE_AT`` (-1: never): a crash in the middle of a run.
"""

import os
import signal
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax import Model, training
from genjax.data import batching
from genjax.distributions import diag_gaussian_log_prob

DIM, BATCH_SIZE = 3, 32
OPTIMIZER = optax.adam(0.05)
EMA_DECAY = 0.9
X = np.random.default_rng(0).normal(size=(256, DIM)).astype(np.float32) * np.array([0.5, 1.0, 2.0], np.float32)


def make_model() -> Model:
    """A diagonal Gaussian fitted to noisy data: the noise uses the step key (per device under
    pmap), and the model state keeps a running mean of the batches each device saw, so that the
    rows of a pmap checkpoint's per-device state differ."""

    def init(key, batch):
        return {"params": {"mean": jnp.zeros(DIM), "log_var": jnp.zeros(DIM)}, "state": {"seen": jnp.zeros(DIM)}}

    def loss(params, state, batch, key):
        x = batch["x"] + 0.1 * jax.random.normal(key, batch["x"].shape)
        nll = -jnp.mean(diag_gaussian_log_prob(params["mean"], params["log_var"], x))
        return nll, ({"nll": nll}, {"seen": 0.9 * state["seen"] + 0.1 * jnp.mean(x, axis=0)})

    return Model(init, loss, lambda *a: None)


def main(argv: list[str]) -> None:
    out, workdir, mode, num_steps, port, num_processes, process_id, die_at = argv
    num_processes, process_id, die_at = int(num_processes), int(process_id), int(die_at)
    if num_processes > 1:
        jax.distributed.initialize(f"127.0.0.1:{port}", num_processes, process_id, initialization_timeout=120)
    batches = batching.epoch_batches(
        {"x": X}, BATCH_SIZE, seed=1, process_index=jax.process_index(), process_count=jax.process_count()
    )

    def data(step):
        if step == die_at and process_id == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return batches(step)

    state = training.fit(
        make_model(), OPTIMIZER, data, key=jax.random.PRNGKey(0), num_steps=int(num_steps), workdir=workdir,
        mode=mode, log_every=4, checkpoint_every=8, progress=False, ema_decay=EMA_DECAY,
    )
    if jax.process_index() == 0:
        np.savez(out, *jax.tree.leaves(state))


if __name__ == "__main__":
    main(sys.argv[1:])
