"""Configs: ``<family>_<dataset>.py`` each with ``get_config() -> ml_collections.ConfigDict``."""
