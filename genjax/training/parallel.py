"""Compiling the one step body: ``jit`` on one device, ``pmap`` or sharded ``jit`` over many.

The step body never knows how it is compiled (docs/design.md, "Train step"); this module is the only
place that does. ``jax.pmap`` is in maintenance mode, so the sharded-``jit`` mode (a ``Mesh`` over
every process's devices, the batch sharded on its leading axis, the state replicated) is offered
from the same body and is the recommended data-parallel mode on new JAX.

Several processes (``jax.distributed.initialize`` first): each process holds its contiguous slice of
every global batch, and :func:`to_global` turns it into one global array on the mesh; under pmap
each process maps over its own devices and ``lax.pmean`` spans all of them.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from genjax.training.step import StepFn
from genjax.training.train_state import TrainState

__all__ = [
    "compile_step",
    "data_mesh",
    "to_global",
    "replicate",
    "unreplicate",
    "Mode",
    "DATA_AXIS",
    "CPU_EIGEN_CONVOLUTIONS",
    "CPU_NO_YNNPACK",
]

Mode = Literal["jit", "pmap", "shard"]
"""How ``compile_step`` compiles a step: one device, ``pmap`` or sharded ``jit``."""
DATA_AXIS = "data"
"""The mesh axis the batch is sharded on in ``'shard'`` mode."""
CPU_EIGEN_CONVOLUTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
}
"""``compiler_options`` that send XLA:CPU's convolutions to its Eigen kernels and keep YNNPACK for
dots and reductions (jaxlib 0.10; other backends ignore the option). YNNPACK's convolution kernel
gradient is the slow op of convolutional train steps on CPU: 3x3, batch 128, 28x28, 32 -> 32
channels, 166 ms against Eigen's 53 ms and PyTorch's 59 ms; forward and input gradient are within
25% of each other (2026-11-27, 2 cores; ``experiments/benchmarks/conv.py``). The convolutional
families' configs set it as ``train.compiler_options``."""
CPU_NO_YNNPACK = {"xla_cpu_experimental_ynn_fusion_type": ""}
"""``compiler_options`` that run every XLA:CPU dot, convolution and reduction on XLA's own (Eigen)
kernels, none on YNNPACK (jaxlib 0.10; other backends ignore the option). The diffusion families'
configs sample with it: Heun sampling of the width-32 UNet was 1.37x faster than under XLA's
default and 1.09x faster than under :data:`CPU_EIGEN_CONVOLUTIONS` (2026-11-28, 2 cores)."""


def _scan_steps(step: StepFn) -> StepFn:
    """Runs several steps per call over a leading ``[steps, ...]`` batch axis (one dispatch)."""

    def many(state, batches, key):
        return jax.lax.scan(lambda s, b: step(s, b, key), state, batches)

    many.axis_name = step.axis_name
    return many


def data_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
    """The one-axis data-parallel mesh (axis :data:`DATA_AXIS`) over ``devices``.

    Args:
      devices: the mesh's devices; defaults to ``jax.devices()``, every process's devices in
        process order, so that process ``p``'s slice of a global batch lands on its own devices.
    """
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (DATA_AXIS,))


def to_global(tree: Any, mesh: Mesh, batch_axis: Optional[int] = None) -> Any:
    """Turns this process's host arrays into global ``jax.Array``s on ``mesh``.

    Every process must call it with the same tree structure (it is collective in effect: the
    arrays it returns span all processes' devices).

    Args:
      tree: a pytree of arrays.
      mesh: from :func:`data_mesh`.
      batch_axis: ``None``: every process passes the whole value and the result is replicated
        (a train state). An axis: every process passes its contiguous slice ``[B / P, ...]`` of the
        global ``[B, ...]`` along that axis, which is sharded over the mesh (a batch; axis 1 for a
        ``[steps, B, ...]`` stack). The slice must divide among this process's devices.

    Returns:
      The tree of global arrays (``[B, ...]`` along ``batch_axis``).
    """
    spec = PartitionSpec() if batch_axis is None else PartitionSpec(*([None] * batch_axis), DATA_AXIS)
    sharding = NamedSharding(mesh, spec)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def compile_step(
    step: StepFn,
    mode: Mode = "jit",
    *,
    steps_per_call: int = 1,
    devices: Optional[Sequence[jax.Device]] = None,
    donate: bool = True,
    compiler_options: Optional[Mapping[str, Any]] = None,
):
    """Compiles a step from :func:`~genjax.training.step.make_train_step` once.

    Modes and the layouts they expect:
      * ``'jit'``: state as is, batch ``[B, ...]``.
      * ``'pmap'``: the step must be built with ``axis_name``; state replicated with a leading device
        axis (:func:`replicate`), batch ``[devices, B / devices, ...]`` (``genjax.data.batching.shard``).
      * ``'shard'``: the step must be built without ``axis_name``; state replicated and batch
        ``[B, ...]`` sharded on the mesh of ``devices`` (:func:`to_global`; one process may also
        pass host arrays), ``B`` divisible by the number of devices. The result equals ``'jit'`` on
        the same global batch up to float reduction order.

    With ``steps_per_call = S > 1`` every batch array gains a leading ``[S]`` axis (after the device
    axis under pmap) and the metrics come back stacked ``[S]``.

    Args:
      step: the step body.
      mode: ``'jit' | 'pmap' | 'shard'``.
      steps_per_call: steps scanned inside one compiled call.
      devices: the devices of pmap / shard (default: every process's). With several processes a
        pmap over one process's devices would reduce within that process only.
      donate: donate the input state's buffers (the caller must not reuse the state passed in).
      compiler_options: XLA options for this step alone (``jax.jit``'s ``compiler_options``), e.g.
        ``{'xla_cpu_experimental_ynn_fusion_type': ''}``, which on CPU runs convolutions through
        Eigen instead of YNNPACK (the width-32 UNet train step 1.3x faster on the 2-core machine
        of 2026-11-25; the width-8 UNet slower). ``'jit'`` and ``'shard'`` only.

    Returns:
      ``compiled(state, batch, key) -> (state, metrics)``.

    Raises:
      ValueError: for an unknown mode, a step built for another mode, or compiler options under
        pmap.
    """
    if steps_per_call < 1:
        raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
    if compiler_options and mode == "pmap":
        raise ValueError("compiler_options need mode 'jit' or 'shard'; jax.pmap takes none")
    axis_name = step.axis_name
    body = _scan_steps(step) if steps_per_call > 1 else step
    donate_argnums = (0,) if donate else ()
    if mode == "jit":
        if axis_name is not None:
            raise ValueError(f"mode 'jit' needs a step built with axis_name=None, got {axis_name!r}")
        return jax.jit(body, donate_argnums=donate_argnums, compiler_options=compiler_options)
    if mode == "pmap":
        if axis_name is None:
            raise ValueError("mode 'pmap' needs a step built with make_train_step(..., axis_name='batch')")
        return jax.pmap(
            body, axis_name=axis_name, in_axes=(0, 0, None), devices=devices, donate_argnums=donate_argnums
        )
    if mode == "shard":
        if axis_name is not None:
            raise ValueError(f"mode 'shard' needs a step built with axis_name=None, got {axis_name!r}")
        mesh = data_mesh(devices)
        replicated = NamedSharding(mesh, PartitionSpec())
        batch_axis = (None, DATA_AXIS) if steps_per_call > 1 else (DATA_AXIS,)
        sharded = NamedSharding(mesh, PartitionSpec(*batch_axis))
        return jax.jit(
            body,
            in_shardings=(replicated, sharded, replicated),
            out_shardings=(replicated, replicated),
            donate_argnums=donate_argnums,
            compiler_options=compiler_options,
        )
    raise ValueError(f"unknown mode {mode!r}; valid modes: 'jit', 'pmap', 'shard'")


def replicate(state: TrainState, devices: Optional[Sequence[jax.Device]] = None) -> TrainState:
    """Copies a state onto every device with a leading device axis (the pmap layout)."""
    n = len(devices) if devices is not None else jax.local_device_count()
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), state)


def unreplicate(tree: Any) -> Any:
    """Takes device 0's copy of a pmap-replicated pytree."""
    return jax.tree.map(lambda x: x[0], tree)
