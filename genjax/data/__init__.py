"""Data: built-in digits and 2-D toys (offline), tfds sets by name, transforms with inverses, and
deterministic step-indexed batching.

Import the submodule you need (``from genjax.data import digits``); nothing is imported here.
"""
