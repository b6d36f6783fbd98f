"""Experiments on top of genjax: the entry points (``main``, ``compare``), the per-family
``studies``, the ``tools`` that make evaluation weights, the ``benchmarks``, and the glue they share
(``run``, ``families``, ``optimizers``, ``validation``, ``grids``) over the ``configs``; see
experiments/README.md for what each does and how long it takes."""
