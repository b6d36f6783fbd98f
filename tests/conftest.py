"""Test set-up: 4 host CPU devices so pmap and sharded-jit paths run without accelerators, and
float32 matrix products at full precision, so that a run on a GPU (where JAX's default lets them
use TF32) checks the same tolerances against brute force and closed forms as a run on the CPU.

The settings must be made before jax is imported anywhere, hence module level here.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
