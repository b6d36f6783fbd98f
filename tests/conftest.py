"""Test set-up: 4 host CPU devices so pmap and sharded-jit paths run without accelerators.

The flag must be set before jax is imported anywhere, hence module level here.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
