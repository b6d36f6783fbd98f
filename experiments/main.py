"""Command line: ``python -m experiments.main --config experiments/configs/<family>_<dataset>.py
--workdir DIR --mode train|sample|evaluate|rescore [--config.key=value ...]``.

``rescore`` recomputes the image metrics of an evaluation's saved samples under today's feature
extractor (after a classifier is retrained), without training or sampling again.

The only place flags are read. Several processes (hosts, or processes on one host) run the same
command into one shared workdir: with ``--distributed`` alone on a cluster JAX detects (SLURM, TPU
pod slices, Open MPI), or with ``--coordinator_address host:port --num_processes N --process_id i``
anywhere else. Each process feeds its own slice of every global batch.

Exit statuses: 0 done; 2 bad input (one line: a bad flag or config key, an unusable workdir, a
workdir another run is training, a config of another family); 75 preempted (SIGTERM or SIGINT: the
step reached is checkpointed, rerun the same command to resume); 4 a partner of a multi-process run
died (one line naming it and the step a rerun of all processes resumes from).
"""

from __future__ import annotations

import os
import sys
import threading

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "path to a config file in experiments/configs", lock_config=True)
flags.DEFINE_string("workdir", None, "directory for checkpoints, logs, samples and eval.json")
flags.DEFINE_enum("mode", "train", ["train", "sample", "evaluate", "rescore"], "what to do")
flags.DEFINE_bool("distributed", False, "several processes: call jax.distributed.initialize(), which "
                  "detects the cluster (SLURM, TPU pods) unless the three flags below are given")
flags.DEFINE_string("coordinator_address", None, "several processes: host:port of process 0")
flags.DEFINE_integer("num_processes", None, "several processes: how many")
flags.DEFINE_integer("process_id", None, "several processes: the index of this one, 0 .. N-1")
flags.DEFINE_integer("distributed_timeout", 300, "several processes: seconds to wait for all to join")
flags.DEFINE_integer("partner_timeout", 20, "several processes: seconds without a sign of life after "
                     "which a partner is dead and this process stops")
flags.mark_flags_as_required(["config", "workdir"])


PARTNER_DIED_EXIT_STATUS = 4
"""The exit status of a process whose partner in a multi-process run died."""


def _fail(message: str) -> None:
    print("error: " + " ".join(message.split("\n")), file=sys.stderr, flush=True)
    sys.exit(2)


def _start_distributed() -> None:
    """Joins the run's processes, or exits with one line when they cannot all join in time."""
    explicit = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    if any(v is not None for v in explicit) and any(v is None for v in explicit):
        _fail("--coordinator_address, --num_processes and --process_id go together: give all three, "
              "or --distributed alone on a cluster that JAX detects (SLURM, TPU pods)")
    if not (FLAGS.distributed or FLAGS.coordinator_address):
        return
    import jax

    timeout = FLAGS.distributed_timeout
    where = FLAGS.coordinator_address or "the coordinator that JAX detected"
    count = f"all {FLAGS.num_processes}" if FLAGS.num_processes else "all"

    def give_up() -> None:
        print(f"error: the processes did not all join within {timeout} s (--distributed_timeout): "
              f"{where} cannot be reached, or not {count} processes started", file=sys.stderr, flush=True)
        os._exit(2)

    # jax.distributed ends the process with a C++ fatal error, not an exception, when the processes
    # do not join within its timeout; this watchdog gives up first, with one line.
    watchdog = threading.Timer(timeout, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        # JAX's own heartbeat timeout stays well above --partner_timeout: when it fires, JAX aborts.
        jax.distributed.initialize(*explicit, initialization_timeout=timeout + 60,
                                   heartbeat_timeout_seconds=max(100, 3 * FLAGS.partner_timeout))
    except (ValueError, RuntimeError) as err:  # e.g. --distributed where no cluster is detected
        _fail(f"cannot start the distributed runtime: {str(err).splitlines()[0] if str(err) else err!r}")
    finally:
        watchdog.cancel()
    from jax._src import distributed

    from experiments import partners

    global _PARTNERS
    _PARTNERS = partners.PartnerWatch(distributed.global_state.client, jax.process_index(),
                                      jax.process_count(), _partner_died,
                                      timeout_s=FLAGS.partner_timeout).start()


_PARTNERS = None
"""The dead-partner watcher of a multi-process run (``experiments.partners.PartnerWatch``)."""


def _partner_died(index: int) -> None:
    """One line naming the dead process and how to resume, then an exit that skips JAX's shutdown
    barrier (which would wait for the dead process until the heartbeat timeout, then abort)."""
    import jax

    count = jax.process_count()
    print(f"error: process {index} of {count} stopped (no sign of life for {FLAGS.partner_timeout} s); "
          f"rerun all {count} processes with the same command{_resume_point()}", file=sys.stderr, flush=True)
    os._exit(PARTNER_DIED_EXIT_STATUS)


def _resume_point() -> str:
    """Where a rerun of a training command starts: the latest checkpoint of the workdir, if any."""
    if FLAGS.mode != "train":
        return ""
    directory = os.path.join(FLAGS.workdir, "checkpoints")
    steps = [int(d) for d in os.listdir(directory) if d.isdigit()] if os.path.isdir(directory) else []
    return f": training resumes from step {max(steps)}" if steps else ": training starts again (no checkpoint yet)"


def _run(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every file operation at INFO
    _start_distributed()

    from experiments import run
    from genjax import training

    try:
        if FLAGS.mode == "train":
            run.train(FLAGS.config, FLAGS.workdir)
            print(f"trained: checkpoints in {FLAGS.workdir}/checkpoints")
        elif FLAGS.mode == "sample":
            print(f"samples: {run.sample(FLAGS.config, FLAGS.workdir)}")
        else:
            evaluate = run.rescore if FLAGS.mode == "rescore" else run.evaluate
            result = evaluate(FLAGS.config, FLAGS.workdir)
            print(f"evaluation: {FLAGS.workdir}/eval.json " + " ".join(
                f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float)))
    except training.Preempted as stop:
        print(f"preempted: {stop}", file=sys.stderr, flush=True)
        sys.exit(training.PREEMPTED_EXIT_STATUS)
    except Exception as err:
        if _PARTNERS is not None:
            # A collective with a dead partner fails too (gloo: "connection reset by peer"), or
            # with an error of its own: the dead partner is the line to print, so the watcher has
            # its say first. It returns at once when every partner is alive.
            _PARTNERS.confirm()
        if isinstance(err, (run.RunError, ValueError, training.CheckpointError, training.NonFiniteError,
                            training.WorkdirLockedError)):
            # User-facing errors are one line; programming errors keep their traceback.
            _fail(str(err))
        raise


def main() -> None:
    try:
        app.run(_run)
    except AttributeError as err:  # ml_collections' message for an unknown --config.key
        _fail(f"bad config key: {err}")


if __name__ == "__main__":
    main()
