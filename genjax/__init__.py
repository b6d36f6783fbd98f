"""genjax: deep generative models as pure JAX/Flax functions.

Importing genjax is cheap: it defines the contracts and nothing is compiled or loaded. Families live
in ``genjax.models.<family>``, samplers in ``genjax.samplers.<name>``, training in
``genjax.training`` and metrics in ``genjax.metrics``.
"""

from genjax.base import Likelihood, Model, Sampler

__all__ = ["Likelihood", "Model", "Sampler"]
__version__ = "0.1.0"
