"""Training engine: train state, the one step body, its compilation (jit | pmap | shard),
orbax checkpoints and the ``fit`` loop. Knows the ``Model`` contract and no family."""

from genjax.training.averaging import (
    EMA_RAMPUP,
    WEIGHTS,
    ema_decay_at,
    initial_weight_share,
    update_ema,
    weights_for_evaluation,
)
from genjax.training.checkpoint import Checkpointer, CheckpointError, ConfigMismatchError
from genjax.training.loop import NonFiniteError, fit
from genjax.training.parallel import (
    CPU_EIGEN_CONVOLUTIONS,
    CPU_NO_YNNPACK,
    compile_step,
    replicate,
    unreplicate,
)
from genjax.training.preemption import PREEMPTED_EXIT_STATUS, Preempted, StopRequest
from genjax.training.step import make_train_step
from genjax.training.train_state import TrainState, create_train_state
from genjax.training.workdir import WorkdirError, WorkdirLock, WorkdirLockedError, check_writable

__all__ = [
    "TrainState",
    "create_train_state",
    "make_train_step",
    "EMA_RAMPUP",
    "WEIGHTS",
    "ema_decay_at",
    "update_ema",
    "initial_weight_share",
    "weights_for_evaluation",
    "compile_step",
    "CPU_EIGEN_CONVOLUTIONS",
    "CPU_NO_YNNPACK",
    "replicate",
    "unreplicate",
    "fit",
    "Checkpointer",
    "CheckpointError",
    "ConfigMismatchError",
    "NonFiniteError",
    "Preempted",
    "PREEMPTED_EXIT_STATUS",
    "StopRequest",
    "WorkdirError",
    "WorkdirLock",
    "WorkdirLockedError",
    "check_writable",
]
