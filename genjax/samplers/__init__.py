"""Samplers as plain functions over plain callables: step kernels, builders and the one scan driver
(``genjax.samplers.driver.run``). Import the submodule you need."""
