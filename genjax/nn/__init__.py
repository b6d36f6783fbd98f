"""Flax Linen networks. Import the submodule you need (``from genjax.nn import unet``)."""
