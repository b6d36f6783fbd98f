"""The CLI end to end on a tiny run, and its one-line errors."""

import json
import pathlib
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments import optimizers, run
from experiments.configs import rbm_digits
from experiments.families import get_spec


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "experiments.main", *args], capture_output=True, text=True, cwd=cwd)


def test_train_sample_evaluate_on_a_tiny_rbm(tmp_path):
    config = rbm_digits.get_config()
    config.train.num_steps = 20
    config.model.sample_steps = 20
    config.model.ais_intermediate = 20
    config.model.ais_runs = 4
    config.eval.num_samples = 100
    run.train(config, str(tmp_path), progress=False)
    assert run.sample(config, str(tmp_path), n=10).endswith("samples.png")
    result = run.evaluate(config, str(tmp_path))
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["fid"] == pytest.approx(result["fid"]) and result["fid"] > 0
    assert result["likelihood"] == "estimate" and result["nfe"] == 20
    assert "100 generated vs 360 reference from digits/test" in result["fid_provenance"]


def test_cli_errors_are_one_line(tmp_path):
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    missing = _cli("--config", "experiments/configs/rbm_digits.py", "--workdir", str(tmp_path), "--mode", "sample",
                   cwd=root)
    assert missing.returncode == 2 and "error: no checkpoint" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_key = _cli("--config", "experiments/configs/rbm_digits.py", "--workdir", str(tmp_path),
                   "--config.train.nmu_steps=3", cwd=root)
    assert bad_key.returncode != 0 and "nmu_steps" in bad_key.stderr


def test_unknown_names_list_the_choices():
    config = rbm_digits.get_config()
    config.family = "boltzmann"
    with pytest.raises(ValueError, match="valid choices"):
        get_spec(config)
    with pytest.raises(ValueError, match="valid choices"):
        optimizers.make_optimizer({"name": "lion"})
    with pytest.raises(ValueError, match="unknown optimizer field"):
        optimizers.make_optimizer({"name": "adam", "lr": 1e-3})
    bad = rbm_digits.get_config()
    bad.dataset = "imagenet"
    with pytest.raises(run.RunError, match="unknown dataset"):
        run.load_split(bad, "train")
    assert isinstance(bad, ml_collections.ConfigDict)


def test_learning_rate_warms_up_linearly_then_decays_by_a_cosine_to_zero():
    """SGD's update of a unit gradient is minus the rate: against the closed form of Loshchilov &
    Hutter (2017) after a linear warmup."""
    peak, warmup, decay = 0.1, 4, 20
    tx = optimizers.make_optimizer({"name": "sgd", "learning_rate": peak, "warmup_steps": warmup,
                                    "decay_steps": decay})
    params = {"w": jnp.zeros(())}
    state = tx.init(params)
    rates = []
    for _ in range(decay + 2):
        updates, state = tx.update({"w": jnp.ones(())}, state, params)
        rates.append(-float(updates["w"]))
    t = np.arange(decay + 2)
    expected = np.where(
        t < warmup, peak * t / warmup,
        0.5 * peak * (1 + np.cos(np.pi * np.minimum(t - warmup, decay - warmup) / (decay - warmup))))
    np.testing.assert_allclose(rates, expected, atol=1e-7)
    with pytest.raises(ValueError, match="decay_steps"):
        optimizers.make_optimizer({"name": "adam", "warmup_steps": 10, "decay_steps": 10})


def test_cli_errors_for_what_fell_through_are_one_line(tmp_path):
    # Each: exit 2, one line naming the problem, no traceback. All are started at once (each costs a
    # process start-up) and always reaped.
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import _processes

    from genjax import training

    sys.path.insert(0, str(pathlib.Path(__file__).parent / "training"))
    import _gaussian

    model = _gaussian.make_gaussian()
    state = training.create_train_state(model, _gaussian.OPTIMIZER, jax.random.PRNGKey(0), {"x": _gaussian.dataset()})
    ckpt = training.Checkpointer(str(tmp_path / "damaged" / "checkpoints"))
    ckpt.save(state.replace(step=jax.numpy.asarray(5)), {})
    ckpt.close()
    for f in (tmp_path / "damaged" / "checkpoints" / "5").rglob("*"):
        if f.is_file() and f.name != "commit_success.txt":
            f.write_bytes(b"")  # truncated
    training.fit(model, _gaussian.OPTIMIZER, lambda s: {"x": _gaussian.dataset()}, key=jax.random.PRNGKey(0),
                 num_steps=1, workdir=str(tmp_path / "other"), config={"family": "vae"}, progress=False)
    (tmp_path / "a_file").write_text("")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (tmp_path / "locked").mkdir()
    lock = training.WorkdirLock(str(tmp_path / "locked"))  # held by this process while the CLI tries
    cli = ["-m", "experiments.main", "--config", "experiments/configs/rbm_digits.py"]
    port, locked_port = _processes.free_port(), _processes.free_port()
    cases = {
        "is a file, not a directory": [[*cli, "--workdir", str(tmp_path / "a_file")]],
        "checkpoints are of a 'vae' run and this config is 'rbm'": [[*cli, "--workdir", str(tmp_path / "other")]],
        "being trained by pid": [[*cli, "--workdir", str(tmp_path / "locked")]] + [
            # Both processes of a second run refuse, not only process 0, which holds the lock.
            [*cli, "--workdir", str(tmp_path / "locked"), "--coordinator_address", f"127.0.0.1:{locked_port}",
             "--num_processes=2", f"--process_id={i}"]
            for i in range(2)
        ],
        "missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]": [
            ["-m", "experiments.main", "--config", "experiments/configs/rbm_fashion_mnist.py", "--workdir",
             str(tmp_path / "e"), f"--config.data_dir={tmp_path / 'partial'}"]
        ],
        "corrupt or incomplete": [[*cli, "--workdir", str(tmp_path / "damaged"), "--mode", "sample"]],
        "num_steps must be >= 1, got -5": [[*cli, "--workdir", str(tmp_path / "a"), "--config.train.num_steps=-5"]],
        "global batch of 30 examples (batch['image']) does not divide among 4 devices": [
            [*cli, "--workdir", str(tmp_path / "b"), "--config.train.batch_size=30"]
        ],
        "batch_size 63 does not divide among 2 processes": [
            [*cli, "--workdir", str(tmp_path / "c"), "--config.train.batch_size=63", "--coordinator_address",
             f"127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}"]
            for i in range(2)
        ],
        # Nothing listens on this port: process 1 gives up after the timeout instead of waiting.
        "did not all join within 3 s": [
            [*cli, "--workdir", str(tmp_path / "d"), "--coordinator_address", f"127.0.0.1:{_processes.free_port()}",
             "--num_processes=2", "--process_id=1", "--distributed_timeout=3"]
        ],
    }
    with lock, _processes.started() as group:
        procs = {want: [group.start(args, devices=4) for args in commands] for want, commands in cases.items()}
        for want, started in procs.items():
            for proc in started:
                [finished] = group.wait(proc)
                errors = [line for line in finished.output.splitlines() if line.startswith("error:")]
                assert finished.returncode == 2, (want, finished.output[-2000:])
                assert len(errors) == 1 and want in errors[0], (want, finished.output[-2000:])
                assert "Traceback" not in finished.output


@pytest.mark.slow
def test_two_processes_train_and_evaluate_into_one_workdir(tmp_path):
    # Two processes of two CPU devices train (shard, over all four), then evaluate: each draws half
    # of the samples, process 0 writes the one eval.json; then one process samples from the run.
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import _processes

    cli = ["-m", "experiments.main", "--config", "experiments/configs/rbm_digits.py", "--workdir", str(tmp_path),
           "--config.train.num_steps=8", "--config.eval.num_samples=20", "--config.model.sample_steps=20",
           "--config.model.ais_intermediate=20", "--config.model.ais_runs=4"]
    for mode in ("train", "evaluate"):
        port = _processes.free_port()
        with _processes.started() as group:
            for i in range(2):
                group.start([*cli, f"--mode={mode}", f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                             f"--process_id={i}"], devices=2)
            for finished in group.wait():
                assert finished.returncode == 0, finished.output[-3000:]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["8"]
    result = json.loads((tmp_path / "eval.json").read_text())
    assert "20 generated vs 360 reference" in result["fid_provenance"]  # both halves gathered
    with _processes.started() as group:
        group.start([*cli, "--mode=sample"], devices=4)
        [finished] = group.wait()
    assert finished.returncode == 0, finished.output[-3000:]
    assert (tmp_path / "samples.png").exists()


def test_dbm_starts_from_a_trained_rbm_run_and_both_score_their_averaged_params(tmp_path):
    import jax
    import numpy as np

    from experiments.configs import dbm_digits
    from genjax import training

    rbm_config = rbm_digits.get_config()
    rbm_config.model.ais_intermediate, rbm_config.model.ais_runs = 20, 4
    # A saved RBM run whose averaged params differ from its params (no training step is compiled).
    rbm_spec = get_spec(rbm_config)
    train = rbm_spec.to_batch({k: v[:64] for k, v in run.load_split(rbm_config, "train").items()})
    optimizer = optimizers.make_optimizer(rbm_config.optimizer.to_dict())
    state = training.create_train_state(rbm_spec.model, optimizer, jax.random.PRNGKey(0), train,
                                        ema_decay=rbm_spec.ema_decay)
    state = state.replace(ema_params=jax.tree.map(lambda x: x + 0.1, state.params))
    ckpt = training.Checkpointer(str(tmp_path / "rbm" / "checkpoints"))
    ckpt.save(state, {"config": rbm_config.to_dict()})
    ckpt.close()
    config = dbm_digits.get_config()
    config.init_from_rbm, config.teacher_config = True, "rbm_digits"
    config.teacher_workdir = str(tmp_path / "rbm")
    spec = get_spec(config)
    batch = spec.to_batch({k: v[:4] for k, v in run.load_split(config, "train").items()})
    params = spec.model.init(jax.random.PRNGKey(0), batch)["params"]
    # The bottom layer is the RBM's averaged (EMA) params, the layer above starts near zero.
    np.testing.assert_array_equal(params["W"][0], state.ema_params["W"])
    np.testing.assert_array_equal(params["b"][1], state.ema_params["b_h"])
    assert float(np.abs(params["W"][1]).max()) < 0.1
    # The likelihood is the averaged params', as the samples are.
    test = rbm_spec.to_batch({k: v[:8] for k, v in run.load_split(rbm_config, "test").items()})
    lp = rbm_spec.log_prob(state, test, jax.random.PRNGKey(1))
    np.testing.assert_allclose(lp, rbm_spec.model.log_prob(state.ema_params, state.model_state, test,
                                                           jax.random.PRNGKey(1)))
    raw = rbm_spec.model.log_prob(state.params, state.model_state, test, jax.random.PRNGKey(1))
    assert not np.allclose(lp, raw)


def test_evaluate_searches_the_consistency_sigmas_on_training_images(tmp_path):
    import numpy as np

    from experiments import compare
    from experiments.configs import consistency_digits
    from genjax import training

    config = consistency_digits.get_config()
    config.model.objective, config.init_from_teacher = "ict", False  # no teacher run needed
    config.model.update(base_channels=8, channel_mults=(1,), attention_resolutions=())
    config.eval.update(num_samples=20, search_sigmas=2, search_candidates=(0.5, 5.0), search_samples=20,
                       search_reference=300)
    spec = get_spec(config)
    batch = spec.to_batch({k: v[:4] for k, v in run.load_split(config, "train").items()})
    state = training.create_train_state(spec.model, optimizers.make_optimizer(config.optimizer.to_dict()),
                                        jax.random.PRNGKey(0), batch, ema_decay=spec.ema_decay)
    ckpt = training.Checkpointer(str(tmp_path / "checkpoints"))
    ckpt.save(state, {"config": config.to_dict()})
    ckpt.close()
    result = run.evaluate(config, str(tmp_path))
    saved = json.loads((tmp_path / "eval.json").read_text())
    search = saved["sigma_search"]
    trials = {tuple(s): v for s, v in search["trials"]}
    # One one-step score, then both candidates below 80; the better one is kept.
    assert list(trials) == [(80.0,), (80.0, 5.0), (80.0, 0.5)]
    assert saved["sample_sigmas"] == list(min(list(trials)[1:], key=trials.get))
    assert search["prefix_fids"] == [trials[(80.0,)], min(trials[(80.0, 5.0)], trials[(80.0, 0.5)])]
    assert search["reference"] == "digits/train[-300:]" and result["nfe"] == 2
    assert "20 generated vs 360 reference from digits/test" in result["fid_provenance"]
    assert np.isfinite(result["fid"])
    assert compare.label(config) == "Consistency (ICT, 2 steps, greedy sigmas)"
    rbm = rbm_digits.get_config()
    rbm.eval.search_sigmas = 2
    with pytest.raises(run.RunError, match="sampled over noise levels"):
        run.search_sigmas(rbm, get_spec(rbm), None, None)


def test_likelihood_in_batches_equals_one_call(tmp_path):
    # PixelCNN's likelihood is exact and uses no randomness, so batching (with the last batch padded)
    # must not change a single example's figure.
    from experiments.configs import pixelcnn_digits

    config = pixelcnn_digits.get_config()
    config.train.num_steps = 10
    config.eval.num_samples = 20
    config.eval.likelihood_examples = 30
    run.train(config, str(tmp_path), progress=False)
    whole = run.evaluate(config, str(tmp_path))
    config.eval.likelihood_batch = 7
    batched = run.evaluate(config, str(tmp_path))
    assert batched["likelihood_examples"] == whole["likelihood_examples"] == 30
    assert batched["test_nll_nats"] == pytest.approx(whole["test_nll_nats"], rel=1e-5)


@pytest.mark.slow  # two processes train until one is killed, then the other must notice: about a minute
def test_a_dead_partner_stops_the_other_with_one_line(tmp_path):
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import _processes

    workdir = tmp_path / "run"
    port = _processes.free_port()
    cli = ["-m", "experiments.main", "--config", "experiments/configs/vae_digits.py", "--workdir", str(workdir),
           "--config.train.num_steps=100000", "--config.train.log_every=10", "--config.train.checkpoint_every=20",
           "--coordinator_address", f"127.0.0.1:{port}", "--num_processes=2", "--partner_timeout=10"]
    with _processes.started() as group:
        procs = [group.start([*cli, f"--process_id={i}"], devices=1) for i in range(2)]
        checkpoints = workdir / "checkpoints"
        deadline = time.monotonic() + _processes.TIMEOUT_S
        while not (checkpoints.is_dir() and any(d.name.isdigit() for d in checkpoints.iterdir())):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), group._outputs()
            time.sleep(0.5)
        group.kill(procs[1])
        killed_at = time.monotonic()
        [survivor] = group.wait(procs[0])
        waited = time.monotonic() - killed_at
    # Within the watcher's 10 s and the time to exit, not JAX's 100 s heartbeat timeout.
    assert waited < 60, (waited, survivor.output[-3000:])
    latest = max(int(d.name) for d in checkpoints.iterdir() if d.name.isdigit())
    errors = [line for line in survivor.output.splitlines() if line.startswith("error:")]
    assert survivor.returncode == 4, survivor.output[-3000:]
    # The watcher named the dead process (not the coordination service's abort at its 100 s heartbeat
    # timeout, status -6 with a stack dump).
    assert len(errors) == 1 and "process 1 of 2 stopped (no sign of life for 10 s)" in errors[0], (waited, errors)
    assert errors[0].endswith(f"training resumes from step {latest}"), errors
    assert "Check failure stack trace" not in survivor.output and "Traceback" not in survivor.output


@pytest.mark.slow  # two processes train until one is sent the signal: about a minute each
@pytest.mark.parametrize("signame, target", [("SIGTERM", 1), ("SIGINT", 0)], ids=["sigterm", "sigint"])
def test_a_signal_to_one_process_stops_both_at_one_checkpointed_step(tmp_path, signame, target):
    """SIGTERM reaches JAX's preemption notifier directly; SIGINT (Ctrl-C) is forwarded to it."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import signal

    import _processes

    workdir = tmp_path / "run"
    port = _processes.free_port()
    cli = ["-m", "experiments.main", "--config", "experiments/configs/vae_digits.py", "--workdir", str(workdir),
           "--config.train.num_steps=100000", "--config.train.log_every=10", "--config.train.checkpoint_every=100000",
           "--coordinator_address", f"127.0.0.1:{port}", "--num_processes=2"]
    with _processes.started() as group:
        procs = [group.start([*cli, f"--process_id={i}"], devices=1) for i in range(2)]
        metrics = workdir / "metrics.jsonl"
        deadline = time.monotonic() + _processes.TIMEOUT_S
        while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), group._outputs()
            time.sleep(0.5)
        procs[target].send_signal(getattr(signal, signame))
        finished = group.wait()
    steps = set()
    for done in finished:
        lines = [line for line in done.output.splitlines() if line.startswith("preempted:")]
        assert done.returncode == 75 and len(lines) == 1, done.output[-3000:]
        steps.add(int(lines[0].split("at step ")[1].split(" ")[0]))
    [step] = steps  # both stopped at the same step, and it is the one checkpointed
    assert [int(d.name) for d in (workdir / "checkpoints").iterdir() if d.name.isdigit()] == [step]
