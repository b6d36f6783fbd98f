"""The per-family studies (``*_quality.py``), the VAE diagnostics and the metric baselines, each
run as ``python -m experiments.studies.<name>`` with its report under ``runs/``; ``study.py`` holds
the flags and the report tail they share."""
