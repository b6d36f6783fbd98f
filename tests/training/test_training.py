"""The training engine against closed forms, across compilation modes, and across restarts."""

import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import Model, training
from genjax.training.checkpoint import Checkpointer

sys.path.insert(0, os.path.dirname(__file__))
import _gaussian  # noqa: E402

KEY = jax.random.PRNGKey(0)


def test_fit_recovers_closed_form_mle():
    x = _gaussian.dataset()
    state = training.fit(
        _gaussian.make_gaussian(), _gaussian.OPTIMIZER, lambda s: {"x": x}, key=KEY, num_steps=600,
        progress=False,
    )
    # Full-batch Adam on a convex objective: 600 steps reach the MLE to 1e-3 (measured ~1e-5).
    np.testing.assert_allclose(state.params["mean"], x.mean(0), atol=1e-3)
    np.testing.assert_allclose(jnp.exp(state.params["log_var"]), x.var(0), rtol=1e-3)


def test_on_log_receives_the_metrics_of_every_logged_step():
    model, x = _gaussian.make_gaussian(), _gaussian.dataset()
    rows = []
    training.fit(
        model, _gaussian.OPTIMIZER, lambda s: {"x": x}, key=KEY, num_steps=12, log_every=4,
        progress=False, on_log=lambda step, row: rows.append((step, row)),
    )
    # The same run by hand: fit's init key, step key and compiled step.
    init_key, step_key = jax.random.split(KEY)
    state = training.create_train_state(model, _gaussian.OPTIMIZER, init_key, {"x": x})
    step = training.compile_step(training.make_train_step(model, _gaussian.OPTIMIZER), "jit")
    want = []
    for s in range(1, 13):
        state, metrics = step(state, {"x": x}, step_key)
        if s % 4 == 0:
            want.append((s, float(metrics["loss"])))
    assert [s for s, _ in rows] == [s for s, _ in want]
    np.testing.assert_allclose([r["loss"] for _, r in rows], [v for _, v in want], rtol=1e-6)
    assert all(r["steps_per_sec"] > 0 for _, r in rows)


def test_compiler_options_reach_xla_and_leave_the_result_unchanged():
    # A debug option that changes what XLA:CPU emits (no YNNPACK fusions) must show in the compiled
    # program and must not change the numbers; pmap, which takes no options, is refused by name.
    x = jax.random.normal(KEY, (4, 16, 16, 32))  # big enough for XLA:CPU to pick YNNPACK
    w = 0.1 * jax.random.normal(jax.random.PRNGKey(1), (3, 3, 32, 32))

    def step(state, batch, key):
        y = jax.lax.conv_general_dilated(batch, state, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return state, {"out": y}

    step.axis_name = None
    plain = training.compile_step(step, "jit", donate=False)
    eigen = training.compile_step(step, "jit", donate=False, compiler_options={"xla_cpu_experimental_ynn_fusion_type": ""})
    if jax.default_backend() == "cpu":
        assert "ynn" in plain.lower(w, x, KEY).compile().as_text()
        assert "ynn" not in eigen.lower(w, x, KEY).compile().as_text()
    np.testing.assert_allclose(eigen(w, x, KEY)[1]["out"], plain(w, x, KEY)[1]["out"], rtol=1e-5, atol=1e-5)
    step.axis_name = "batch"
    with pytest.raises(ValueError, match="compiler_options"):
        training.compile_step(step, "pmap", compiler_options={"xla_cpu_experimental_ynn_fusion_type": ""})


def test_compiled_step_does_not_retrace():
    model, x = _gaussian.make_gaussian(), _gaussian.dataset()
    data = _gaussian.minibatches(x, 32)
    state = training.create_train_state(model, _gaussian.OPTIMIZER, KEY, data(0))
    step = training.make_train_step(model, _gaussian.OPTIMIZER)
    step = jax.jit(chex.assert_max_traces(step, n=1), donate_argnums=0)
    for s in range(5):
        state, _ = step(state, data(s), KEY)
    assert int(state.step) == 5


@pytest.mark.parametrize("mode", ["pmap", "shard"])
def test_data_parallel_step_equals_jit_step(mode):
    model, x = _gaussian.make_gaussian(), _gaussian.dataset()
    batch = {"x": x[:64]}
    n = jax.local_device_count()
    if n < 2:  # conftest forces 4 CPU devices; a one-GPU machine has one
        pytest.skip("the data-parallel path needs 2 or more devices")
    state = training.create_train_state(model, _gaussian.OPTIMIZER, KEY, batch, ema_decay=0.9)
    jit_step = training.compile_step(
        training.make_train_step(model, _gaussian.OPTIMIZER, ema_decay=0.9), "jit", donate=False
    )
    want, want_metrics = jit_step(state, batch, KEY)
    if mode == "pmap":
        step = training.compile_step(
            training.make_train_step(model, _gaussian.OPTIMIZER, ema_decay=0.9, axis_name="batch"), "pmap"
        )
        sharded = {"x": x[:64].reshape(n, 16, -1)}
        got, metrics = step(training.replicate(state), sharded, KEY)
        got, metrics = training.unreplicate(got), training.unreplicate(metrics)
    else:
        step = training.compile_step(training.make_train_step(model, _gaussian.OPTIMIZER, ema_decay=0.9), "shard")
        got, metrics = step(state, batch, KEY)
    # Float32 means over 64 examples reduced in another order: agree to 1e-6 relative.
    chex.assert_trees_all_close(got.params, want.params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(got.ema_params, want.ema_params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(metrics["loss"], want_metrics["loss"], rtol=1e-5)


def test_fixed_decay_ema_is_the_exponential_average_of_params():
    model, x = _gaussian.make_gaussian(), _gaussian.dataset()
    state = training.create_train_state(model, _gaussian.OPTIMIZER, KEY, {"x": x}, ema_decay=0.8)
    step = jax.jit(training.make_train_step(model, _gaussian.OPTIMIZER, ema_decay=0.8, ema_rampup=None))
    ema = state.params
    for _ in range(4):
        state, _ = step(state, {"x": x}, KEY)
        ema = jax.tree.map(lambda e, p: 0.8 * e + 0.2 * p, ema, state.params)
    chex.assert_trees_all_close(state.ema_params, ema, rtol=1e-6)
    chex.assert_trees_all_close(state.eval_params, ema, rtol=1e-6)  # what evaluation uses
    without = training.create_train_state(model, _gaussian.OPTIMIZER, KEY, {"x": x})
    assert without.ema_params is None and without.eval_params is without.params


def _two_player() -> Model:
    """Group 'a' minimises (a - 1)^2; group 'b' minimises (b - a)^2, so b's first update moves toward
    the already-updated a only if the order is real."""

    def init(key, batch):
        return {"params": {"a": jnp.zeros(()), "b": jnp.zeros(())}, "state": {}}

    def loss(params, state, batch, key):
        la, lb = (params["a"] - 1.0) ** 2, (params["b"] - params["a"]) ** 2
        return {"a": la, "b": lb}, ({"a": params["a"]}, state)

    return Model(init, loss, lambda *a: None, update_order=("a", "a", "b"))


def test_multi_player_updates_run_in_declared_order():
    model = _two_player()
    sgd = optax.sgd(0.25)
    state = training.create_train_state(model, {"a": sgd, "b": optax.sgd(0.5)}, KEY, {})
    state, metrics = jax.jit(training.make_train_step(model, {"a": sgd, "b": optax.sgd(0.5)}))(state, {}, KEY)
    a1 = 0.0 - 0.25 * 2 * (0.0 - 1.0)  # 0.5
    a2 = a1 - 0.25 * 2 * (a1 - 1.0)  # 0.75
    b1 = 0.0 - 0.5 * 2 * (0.0 - a2)  # b jumps to the updated a
    np.testing.assert_allclose([state.params["a"], state.params["b"]], [a2, b1], rtol=1e-6)
    np.testing.assert_allclose(metrics["loss/b"], a2**2, rtol=1e-6)


def test_nan_guard_names_step_term_and_group_and_keeps_last_checkpoint(tmp_path):
    model, x = _gaussian.make_gaussian(nan_at_step=7), _gaussian.dataset()
    with pytest.raises(training.NonFiniteError, match=r"step 7: loss terms \['loss', 'nll'\].*log_var"):
        training.fit(model, _gaussian.OPTIMIZER, lambda s: {"x": x}, key=KEY, num_steps=10,
                     workdir=str(tmp_path), checkpoint_every=5, progress=False)
    ckpt = Checkpointer(str(tmp_path / "checkpoints"))
    assert ckpt.latest_step() == 5
    template = training.create_train_state(model, _gaussian.OPTIMIZER, KEY, {"x": x})
    restored, _ = ckpt.restore(template)
    assert all(np.isfinite(v).all() for v in jax.tree.leaves(restored.params))


def test_corrupt_checkpoint_is_an_error_not_garbage(tmp_path):
    model, x = _gaussian.make_gaussian(), _gaussian.dataset()
    kwargs = dict(key=KEY, workdir=str(tmp_path), checkpoint_every=5, progress=False)
    training.fit(model, _gaussian.OPTIMIZER, lambda s: {"x": x}, num_steps=5, **kwargs)
    state_dir = tmp_path / "checkpoints" / "5" / "state"
    for root, _, files in os.walk(state_dir):
        for f in files:
            if f not in ("commit_success.txt",):
                open(os.path.join(root, f), "wb").close()  # truncate every data and metadata file
    with pytest.raises(training.CheckpointError, match="corrupt or incomplete"):
        training.fit(model, _gaussian.OPTIMIZER, lambda s: {"x": x}, num_steps=10, **kwargs)


def test_resume_with_a_different_config_names_the_keys(tmp_path):
    model, x = _gaussian.make_gaussian(), _gaussian.dataset()
    kwargs = dict(key=KEY, workdir=str(tmp_path), checkpoint_every=5, progress=False)
    training.fit(model, _gaussian.OPTIMIZER, lambda s: {"x": x}, num_steps=5,
                 config={"lr": 0.05, "model": {"dim": 3}, "num_steps": 5}, **kwargs)
    # An evaluation setting (the consistency sigma search) is not a difference.
    with pytest.raises(training.ConfigMismatchError, match=r"\['lr', 'model.dim'\]"):
        training.fit(model, _gaussian.OPTIMIZER, lambda s: {"x": x}, num_steps=10,
                     config={"lr": 0.1, "model": {"dim": 4}, "num_steps": 10, "eval": {"search_sigmas": 2}},
                     **kwargs)


_RESUME_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    sys.path.insert(0, {here!r})
    import jax, numpy as np, _gaussian
    from genjax import training
    x = _gaussian.dataset()
    state = training.fit(_gaussian.make_gaussian(), _gaussian.OPTIMIZER, _gaussian.minibatches(x, 32),
                         key=jax.random.PRNGKey(0), num_steps={steps}, workdir={workdir!r},
                         checkpoint_every=10, mode={mode!r}, progress=False, ema_decay=0.9)
    np.savez({out!r}, *jax.tree.leaves(state))
    """
)


@pytest.mark.parametrize("mode", ["jit", "pmap"])
def test_resume_in_a_fresh_process_equals_an_uninterrupted_run(tmp_path, mode):
    here = os.path.dirname(__file__)

    def run(workdir, steps, out):
        script = _RESUME_SCRIPT.format(here=here, steps=steps, workdir=str(workdir), out=str(out), mode=mode)
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
        with np.load(out) as f:
            return [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]

    straight = run(tmp_path / "straight", 40, tmp_path / "a.npz")
    run(tmp_path / "resumed", 20, tmp_path / "b.npz")
    resumed = run(tmp_path / "resumed", 40, tmp_path / "c.npz")
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a, b)  # same data order and keys: bit-identical
