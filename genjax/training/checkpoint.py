"""Orbax checkpoints of a :class:`~genjax.training.train_state.TrainState` plus the run's config,
restored exactly or not at all.

Orbax writes each step to a temporary directory and renames it when complete, so a crash mid-save
leaves no directory that looks finished. In a run of several processes every process constructs the
``Checkpointer`` on the shared directory and takes part in every save and restore. A directory that is finished but damaged (truncated or
deleted files) raises :class:`CheckpointError`; it is never skipped silently.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping, Optional

import jax
import numpy as np

from genjax.training.train_state import TrainState

__all__ = [
    "CheckpointError",
    "ConfigMismatchError",
    "Checkpointer",
    "config_differences",
    "RESUMABLE_KEYS",
]

RESUMABLE_KEYS = frozenset(
    {"num_steps", "log_every", "checkpoint_every", "keep", "workdir", "progress", "eval_every",
     "search_sigmas", "search_candidates", "search_samples", "search_reference",
     "num_samples", "likelihood_examples", "likelihood_batch", "likelihood_tolerance", "teacher_likelihood",
     "compiler_options"}
)
"""Config keys that may change between a run and its resumption (they change neither shapes nor
the objective; the ``search_*`` keys choose a consistency model's sampling sigmas and the others
size the evaluation, all after training; ``compiler_options`` choose how XLA compiles the step)."""


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be restored (corrupt, truncated, or of another structure)."""


class ConfigMismatchError(ValueError):
    """The run being resumed was started with a config that changes shapes or the objective."""


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in config.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            flat.update(_flatten(v, name + "."))
        else:
            flat[name] = v
    return flat


def _jsonable(config: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, default=str))


def config_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], ignore: Iterable[str] = RESUMABLE_KEYS
) -> list[str]:
    """Dotted keys whose values differ between two (nested) configs, ignoring resumable keys.

    Both configs are compared after a JSON round trip, so tuples and lists compare equal.
    """
    a, b = _flatten(_jsonable(saved)), _flatten(_jsonable(current))
    ignore = set(ignore)
    keys = sorted(set(a) | set(b))
    return [k for k in keys if k.split(".")[-1] not in ignore and a.get(k, "<absent>") != b.get(k, "<absent>")]


def _shapes(tree: Any) -> dict[str, tuple]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): (tuple(np.shape(x)), str(np.asarray(x).dtype)) for p, x in leaves}


class Checkpointer:
    """Saves and restores train states under ``directory`` (one subdirectory per step).

    Args:
      directory: the checkpoint directory (created when missing).
      max_to_keep: keep the newest N checkpoints.
    """

    def __init__(self, directory: str, *, max_to_keep: int = 3):
        import orbax.checkpoint as ocp  # imported here so that importing genjax stays fast

        self._ocp = ocp
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_step(self) -> Optional[int]:
        """The newest finished checkpoint's step, or ``None``."""
        return self._manager.latest_step()

    def save(self, state: TrainState, meta: Mapping[str, Any]) -> None:
        """Saves ``state`` (unreplicated) and JSON ``meta`` at ``state.step``; blocks until written.

        Several processes: every process calls it with the same host (numpy) state; orbax writes
        one checkpoint from process 0 and finalises it once all have arrived."""
        ocp = self._ocp
        step = int(jax.device_get(state.step))
        meta = {**_jsonable(meta), "shapes": {k: list(v[0]) for k, v in _shapes(state).items()}}
        self._manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
            force=True,
        )
        self._manager.wait_until_finished()

    def restore_meta(self, step: int) -> dict[str, Any]:
        """The JSON metadata of checkpoint ``step``.

        Raises:
          CheckpointError: when it cannot be read.
        """
        ocp = self._ocp
        try:
            out = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        except Exception as err:  # orbax raises many types; all mean the same thing to the user
            raise CheckpointError(self._broken(step, err)) from err
        return dict(out["meta"])

    def restore(self, target: TrainState, step: Optional[int] = None) -> tuple[TrainState, dict[str, Any]]:
        """Restores checkpoint ``step`` (default: the latest) into the structure of ``target``, as
        host (numpy) arrays.

        Raises:
          CheckpointError: when there is no checkpoint, it is damaged, or its array shapes differ from
            ``target``'s (the message names the differing entries).
        """
        ocp = self._ocp
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        meta = self.restore_meta(step)
        saved_shapes = {k: tuple(v) for k, v in meta.get("shapes", {}).items()}
        want = {k: v[0] for k, v in _shapes(target).items()}
        differing = sorted(k for k in set(saved_shapes) | set(want) if saved_shapes.get(k) != want.get(k))
        if differing:
            detail = ", ".join(f"{k}: saved {saved_shapes.get(k)} vs now {want.get(k)}" for k in differing[:8])
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} has another structure than this run: {detail}"
            )
        # Host arrays as the template: orbax restores numpy on every process, whatever the process
        # count or device layout of the run that saved it; the caller places them.
        template = jax.device_get(target)
        try:
            out = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(template)))
        except Exception as err:
            raise CheckpointError(self._broken(step, err)) from err
        return out["state"], meta

    def _broken(self, step: int, err: Exception) -> str:
        path = os.path.join(self.directory, str(step))
        return (
            f"checkpoint {path} is corrupt or incomplete and cannot be restored "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Delete that "
            "directory to resume from an earlier checkpoint, or start in a new workdir."
        )

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
