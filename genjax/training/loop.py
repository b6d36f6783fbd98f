"""``fit``: the only Python training loop, with checkpoints, resumption, logs and a NaN guard."""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh

from genjax.base import Model
from genjax.training.averaging import EMA_RAMPUP
from genjax.training.checkpoint import Checkpointer, ConfigMismatchError, config_differences
from genjax.training.logging import MetricWriter
from genjax.training.parallel import (
    Mode,
    compile_step,
    data_mesh,
    replicate,
    to_global,
    unreplicate,
)
from genjax.training.preemption import Preempted, StopRequest
from genjax.training.step import GRAD_NORM_KEY, make_train_step
from genjax.training.train_state import Optimizer, TrainState, create_train_state
from genjax.training.workdir import (
    WorkdirError,
    WorkdirLock,
    WorkdirLockedError,
    check_writable,
    refusal,
)
from genjax.typing import Batch, Metrics, PRNGKey

__all__ = ["fit", "NonFiniteError", "PMAP_AXIS", "Preempted"]

PMAP_AXIS = "batch"
"""The axis name ``fit`` gives the step's collectives in ``'pmap'`` mode."""


class NonFiniteError(FloatingPointError):
    """Training produced a non-finite loss term or gradient; the message names the step."""


def _describe_nonfinite(step: int, metrics: Mapping[str, float], model: Model) -> Optional[str]:
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if not bad:
        return None
    terms = [k for k in bad if not k.startswith(GRAD_NORM_KEY)]
    grads = [k[len(GRAD_NORM_KEY) + 1:] for k in bad if k.startswith(GRAD_NORM_KEY + "/")]
    if model.update_order is not None:
        order = list(dict.fromkeys(model.update_order))
        grads = sorted(grads, key=order.index)
        where = f"first params group with a non-finite gradient (update order {order}): {grads[0]!r}" if grads else ""
    else:
        where = f"params entries with non-finite gradients: {grads}" if grads else ""
    if not where and GRAD_NORM_KEY in bad:
        where = "the gradient is non-finite"
    return f"non-finite values at step {step}: loss terms {terms}" + (f"; {where}" if where else "")


def _check_window(
    pending: list[tuple[int, Metrics]], steps_per_call: int, mode: Mode, model: Model
) -> dict[str, float]:
    """Fetches the metrics of the calls since the last boundary, raises at the first non-finite
    step, and returns the last step's metrics as floats."""
    row: dict[str, float] = {}
    for first_step, metrics in jax.device_get(pending):
        if mode == "pmap":
            metrics = {k: v[0] for k, v in metrics.items()}
        for j in range(steps_per_call):
            row = {k: float(np.reshape(v, -1)[j]) for k, v in metrics.items()}
            problem = _describe_nonfinite(first_step + j + 1, row, model)
            if problem:
                raise NonFiniteError(problem)
    return row


def _gather(
    data: Callable[[int], Batch], step: int, steps_per_call: int, mode: Mode, n_local: int, mesh: Optional[Mesh]
) -> Batch:
    """The batch (or stack of batches) of one compiled call starting at ``step``, in the compiled
    step's layout: as is (jit), ``[n_local, B / devices, ...]`` (pmap) or a global array on
    ``mesh`` (shard); ``n_local`` is the number of this process's devices."""

    def one(s):
        batch = data(s)
        if mode == "jit":
            return batch
        out = {}
        for k, v in batch.items():
            v = np.asarray(v)
            if v.ndim == 0 or v.shape[0] % n_local:
                processes = jax.process_count()
                raise ValueError(
                    f"the global batch of {v.shape[0] * processes if v.ndim else 0} examples "
                    f"(batch[{k!r}]) does not divide among {n_local * processes} devices; use a "
                    f"batch size that is a multiple of {n_local * processes}"
                )
            if mode == "pmap":
                v = v.reshape((n_local, v.shape[0] // n_local) + v.shape[1:])
            out[k] = v
        return out

    if steps_per_call == 1:
        batch = one(step)
    else:
        batches = [one(step + j) for j in range(steps_per_call)]
        axis = 1 if mode == "pmap" else 0
        batch = {k: np.stack([np.asarray(b[k]) for b in batches], axis=axis) for k in batches[0]}
    if mode == "shard":
        return to_global(batch, mesh, batch_axis=1 if steps_per_call > 1 else 0)
    return batch


def _to_host(state: TrainState, mode: Mode) -> TrainState:
    """The checkpoint layout, on the host under pmap and shard: unreplicated, except that under
    pmap the model state keeps a leading axis over every process's devices (persistent chains differ
    between devices, and a resumed run must get each one back). Collective under pmap: every
    process calls it at the same step."""
    if mode == "jit":
        return state
    if mode == "shard":
        return jax.device_get(state)
    from jax.experimental import multihost_utils  # the one gather across processes

    host = jax.device_get(unreplicate(state.replace(model_state=None)))
    return host.replace(model_state=multihost_utils.process_allgather(state.model_state, tiled=True))


def _to_devices(
    state: TrainState, mode: Mode, devices: Sequence[jax.Device], mesh: Optional[Mesh]
) -> TrainState:
    """The compiled step's layout from the checkpoint layout (:func:`_to_host`)."""
    if mode == "jit":
        return jax.device_put(state)
    if mode == "shard":
        return to_global(jax.device_get(state), mesh)
    # pmap: each of this process's devices takes the model state's row of its position in
    # ``devices``, which is its axis_index (global across processes).
    rows = [i for i, d in enumerate(devices) if d.process_index == jax.process_index()]
    return replicate(jax.device_get(state.replace(model_state=None)), [devices[i] for i in rows]).replace(
        model_state=jax.tree.map(lambda x: np.asarray(x)[rows], state.model_state)
    )


def _claim_workdir(workdir: str, resources: contextlib.ExitStack) -> None:
    """Checks that ``workdir`` can be written (every process) and takes its lock (process 0) into
    ``resources``. Several processes agree: when any of them fails, every one raises, its own error
    or one naming the process that failed, so that none goes on to wait for the others."""
    error: Optional[Exception] = None
    try:
        check_writable(workdir)
        if jax.process_index() == 0:
            resources.enter_context(WorkdirLock(workdir))
    except (WorkdirError, WorkdirLockedError) as err:
        error = err
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        code = 0 if error is None else 2 if isinstance(error, WorkdirLockedError) else 1
        codes = np.asarray(multihost_utils.process_allgather(np.int32(code))).reshape(-1)
        if error is None and codes.any():
            failed = int(np.flatnonzero(codes)[0])
            if codes[failed] == 2:
                error = WorkdirLockedError(refusal(workdir))
            else:
                error = WorkdirError(f"process {failed} of this run cannot write workdir {workdir} (its error says why)")
    if error is not None:
        raise error


def fit(
    model: Model,
    optimizer: Optimizer,
    data: Callable[[int], Batch],
    *,
    key: PRNGKey,
    num_steps: int,
    workdir: Optional[str] = None,
    init_batch: Optional[Batch] = None,
    ema_decay: Optional[float] = None,
    ema_rampup: Optional[float] = EMA_RAMPUP,
    mode: Mode = "jit",
    steps_per_call: int = 1,
    devices: Optional[Sequence[jax.Device]] = None,
    log_every: int = 50,
    checkpoint_every: int = 1000,
    keep: int = 3,
    config: Optional[Mapping[str, Any]] = None,
    eval_fn: Optional[Callable[[TrainState], Metrics]] = None,
    eval_every: int = 0,
    progress: bool = True,
    on_log: Optional[Callable[[int, Mapping[str, float]], None]] = None,
    compiler_options: Optional[Mapping[str, Any]] = None,
    preemption: bool = True,
) -> TrainState:
    """Trains ``model`` for ``num_steps`` steps, resuming from ``workdir`` when it has a checkpoint.

    Step ``s`` uses the batch ``data(s)`` and the key ``fold_in(train_key, s)``, so a resumed run
    repeats an uninterrupted one exactly: the data position and the randomness are functions of the
    step, restored with the params, optimizer state, EMA and model state.

    Args:
      model: the family's ``Model``.
      optimizer: one optax transformation, or ``{group: transformation}``.
      data: ``step -> batch``, deterministic (``genjax.data.batching.epoch_batches``); under
        ``pmap`` and ``shard`` it returns this process's contiguous slice of the global batch of
        step ``s`` (the whole batch in a single process), e.g. ``epoch_batches(...,
        process_index=jax.process_index(), process_count=jax.process_count())``.
      key: the run's PRNG key (split into the init key and the base step key).
      num_steps: the total number of steps of the run (not of this call), >= 1.
      workdir: where ``checkpoints/``, ``metrics.jsonl`` and ``tensorboard/`` go; ``None`` keeps
        everything in memory.
      init_batch: the batch given to ``model.init`` (default ``data(0)``).
      ema_decay: keep an average of the params whose decay ramps up to this one
        (:func:`genjax.training.ema_decay_at`).
      ema_rampup: the average's half-life as a fraction of the steps taken; ``None`` for a fixed
        decay.
      mode: ``'jit'``, ``'pmap'`` or ``'shard'`` (see ``genjax.training.compile_step``).
      steps_per_call: steps scanned in one compiled call; must divide ``num_steps``,
        ``log_every`` and ``checkpoint_every``.
      devices: the devices of pmap / shard over all processes, in process order (default:
        ``jax.devices()``). Under pmap they must be every process's devices: a pmap over this
        process's devices alone would average gradients within the process only.
      log_every: write metrics every this many steps. Only process 0 writes metrics, TensorBoard
        events and the progress bar; every process takes part in the checkpoint saves.
      checkpoint_every: save every this many steps (and at the end).
      keep: checkpoints kept.
      config: the run's config, saved with each checkpoint; resuming with a config that differs in a
        key outside ``genjax.training.checkpoint.RESUMABLE_KEYS`` raises ``ConfigMismatchError``.
      eval_fn: ``state -> metrics`` run every ``eval_every`` steps (e.g. mode coverage), logged
        with the training metrics under ``eval/``.
      eval_every: 0 disables ``eval_fn``.
      progress: show a tqdm bar with the loss and steps per second.
      on_log: called as ``on_log(step, row)`` with every row that is logged (the metrics of step
        ``step``, ``steps_per_sec`` and any ``eval/`` entries, as floats): an in-memory history for
        notebooks, e.g. ``rows = []; fit(..., on_log=lambda s, r: rows.append((s, r)))``.
      compiler_options: XLA options of the compiled step (see ``genjax.training.compile_step``).
      preemption: with a ``workdir``, stop cleanly on SIGTERM or SIGINT (several processes: on
        SIGTERM to any of them, at one step for all, through JAX's preemption sync point): finish
        the call in flight, checkpoint its step, flush the logs and raise :class:`Preempted`.

    The workdir: created if missing; one that is a file or cannot be written raises
    ``WorkdirError`` before anything is built. Process 0 holds the workdir's lock
    (:class:`genjax.training.workdir.WorkdirLock`) while it trains, so a second run into the same
    workdir is refused (``WorkdirLockedError``, naming the holder) while reading it stays free.

    Several processes (after ``jax.distributed.initialize``): every process calls ``fit`` with the
    same arguments and ``mode='shard'`` or ``'pmap'``; the run trains the same model as one process
    with all the devices and the same global batches (up to float reduction order), and its
    checkpoints, one per step in the shared ``workdir``, restore in a run of any process count
    (pmap: of the same total device count).

    Returns:
      The final state in checkpoint layout (unreplicated, on the host under pmap and shard; under
      pmap the model state keeps a leading axis over every process's devices).

    Raises:
      ValueError: for a ``num_steps``, ``log_every`` or ``checkpoint_every`` below 1 or not a
        multiple of ``steps_per_call``, a batch that does not divide among the devices, or mode
        ``'jit'`` in a run of several processes.
      NonFiniteError: a loss term or gradient became non-finite; the message names the step, the
        loss terms and the params group. The last checkpoint written before it stays valid.
      ConfigMismatchError: resuming with an incompatible config (the message names the keys).
      CheckpointError: the latest checkpoint is damaged or of another structure.
      Preempted: a stop was requested; the message names the step checkpointed.
      WorkdirError: the workdir is a file or cannot be written (any process of the run).
      WorkdirLockedError: another live run is training into the workdir (the message names it).
    """
    for name, every in (("log_every", log_every), ("checkpoint_every", checkpoint_every), ("num_steps", num_steps)):
        if every < 1:
            raise ValueError(f"{name} must be >= 1, got {every}")
        if every % steps_per_call:
            raise ValueError(f"{name}={every} must be a multiple of steps_per_call={steps_per_call}")
    if mode == "jit" and jax.process_count() > 1:
        raise ValueError(
            f"mode 'jit' trains on one device, but this run has {jax.process_count()} processes; "
            "use 'shard' or 'pmap'"
        )
    with contextlib.ExitStack() as resources:
        if workdir is not None:
            _claim_workdir(workdir, resources)
        stop = resources.enter_context(StopRequest(preemption and workdir is not None))
        devices = list(devices) if devices is not None else jax.devices()
        mesh = data_mesh(devices) if mode == "shard" else None
        n_local = sum(d.process_index == jax.process_index() for d in devices)
        # Devices over all processes: the checkpoint layout's device axis (pmap) and the resume check.
        n_devices = 1 if mode == "jit" else len(devices)
        init_key, step_key = jax.random.split(key)
        state = create_train_state(
            model, optimizer, init_key, init_batch if init_batch is not None else data(0), ema_decay=ema_decay
        )
        if mode == "pmap":
            state = state.replace(
                model_state=jax.tree.map(lambda x: np.broadcast_to(x, (n_devices,) + np.shape(x)), state.model_state)
            )
        meta = {"config": dict(config or {}), "mode": mode, "num_devices": n_devices}
        checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=keep) if workdir else None
        if checkpointer is not None and checkpointer.latest_step() is not None:
            saved = checkpointer.restore_meta(checkpointer.latest_step())
            diffs = config_differences(saved.get("config", {}), meta["config"])
            for k in ("mode", "num_devices"):
                if saved.get(k) != meta[k] and (k == "mode" or mode == "pmap"):
                    diffs.append(k)
            families = (saved.get("config", {}).get("family"), meta["config"].get("family"))
            if "family" in diffs and None not in families:
                raise ConfigMismatchError(
                    f"cannot resume {workdir}: its checkpoints are of a {families[0]!r} run and this config "
                    f"is {families[1]!r}; use another workdir"
                )
            if diffs:
                raise ConfigMismatchError(
                    f"cannot resume {workdir}: the config differs from the checkpointed run in {diffs} "
                    "(these change shapes or the objective); use a new workdir or the original values"
                )
            state, _ = checkpointer.restore(state)
        state = _to_devices(state, mode, devices, mesh)
        if mode == "shard":
            step_key = to_global(step_key, mesh)

        step_fn = make_train_step(
            model, optimizer, ema_decay=ema_decay, ema_rampup=ema_rampup,
            axis_name=PMAP_AXIS if mode == "pmap" else None,
        )
        compiled = compile_step(
            step_fn, mode, steps_per_call=steps_per_call, devices=devices if mode != "jit" else None,
            compiler_options=compiler_options,
        )
        step = int(np.asarray(jax.device_get(state.step)).reshape(-1)[0])
        lead = jax.process_index() == 0  # the one process that logs
        writer = MetricWriter(workdir if lead else None)
        from tqdm.auto import tqdm  # progress bars only when training, not at import

        bar = tqdm(total=num_steps, initial=step, disable=not (progress and lead), dynamic_ncols=True)
        window_start, window_steps = time.perf_counter(), 0
        # Metrics stay on the device until a log or checkpoint boundary, so steps are dispatched without
        # a host round trip each; the boundary then checks every step of the window in order, names the
        # first non-finite one, and nothing after it is ever checkpointed.
        pending: list[tuple[int, Metrics]] = []
        # XLA's CPU collectives can deadlock when two multi-device executions overlap on the host thread
        # pool (seen with 4 forced host devices), so on CPU a data-parallel call waits for the previous one.
        serialize = n_devices > 1 and devices[0].platform == "cpu"
        try:
            while step < num_steps:
                batch = _gather(data, step, steps_per_call, mode, n_local, mesh)
                state, metrics = compiled(state, batch, step_key)
                if serialize:
                    jax.block_until_ready(state.step)
                pending.append((step, metrics))
                step += steps_per_call
                window_steps += steps_per_call
                bar.update(steps_per_call)
                stopping = stop.requested() and step < num_steps
                log_now = step % log_every == 0 or step == num_steps or stopping
                save_now = checkpointer is not None and (step % checkpoint_every == 0 or step == num_steps or stopping)
                if not (log_now or save_now):
                    continue
                row = _check_window(pending, steps_per_call, mode, model)
                pending = []
                if log_now:
                    elapsed = time.perf_counter() - window_start
                    row["steps_per_sec"] = window_steps / max(elapsed, 1e-9)
                    window_start, window_steps = time.perf_counter(), 0
                    if eval_fn is not None and eval_every and step % eval_every == 0:
                        row.update({f"eval/{k}": float(v) for k, v in eval_fn(_to_host(state, mode)).items()})
                    writer.write(step, row)
                    if on_log is not None:
                        on_log(step, row)
                    bar.set_postfix(loss=row.get("loss", next(iter(row.values()))), steps_s=f"{row['steps_per_sec']:.1f}")
                if save_now:
                    checkpointer.save(_to_host(state, mode), meta)
                if stopping:
                    raise Preempted(step, num_steps, os.path.join(workdir, "checkpoints"))
        finally:
            bar.close()
            writer.close()
            if checkpointer is not None:
                checkpointer.close()
        return _to_host(state, mode)
