"""Command line: ``python -m experiments.main --config experiments/configs/<family>_<dataset>.py
--workdir DIR --mode train|sample|evaluate [--config.key=value ...]``.

The only place flags are read. Multi-host: give ``--coordinator_address host:port``,
``--num_processes`` and ``--process_id`` and every host runs the same command; each feeds its own
shard of every global batch.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "path to a config file in experiments/configs", lock_config=True)
flags.DEFINE_string("workdir", None, "directory for checkpoints, logs, samples and eval.json")
flags.DEFINE_enum("mode", "train", ["train", "sample", "evaluate"], "what to do")
flags.DEFINE_string("coordinator_address", None, "multi-host: host:port of process 0")
flags.DEFINE_integer("num_processes", None, "multi-host: number of processes")
flags.DEFINE_integer("process_id", None, "multi-host: index of this process")
flags.mark_flags_as_required(["config", "workdir"])


def _run(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every file operation at INFO
    import jax

    if FLAGS.coordinator_address:
        jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)

    from experiments import run

    try:
        if FLAGS.mode == "train":
            run.train(FLAGS.config, FLAGS.workdir)
            print(f"trained: checkpoints in {FLAGS.workdir}/checkpoints")
        elif FLAGS.mode == "sample":
            print(f"samples: {run.sample(FLAGS.config, FLAGS.workdir)}")
        else:
            result = run.evaluate(FLAGS.config, FLAGS.workdir)
            print(f"evaluation: {FLAGS.workdir}/eval.json " + " ".join(
                f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float)))
    except (run.RunError, ValueError) as err:
        # User-facing errors are one line; programming errors keep their traceback.
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    try:
        app.run(_run)
    except AttributeError as err:  # ml_collections' message for an unknown --config.key
        print(f"error: bad config key: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
