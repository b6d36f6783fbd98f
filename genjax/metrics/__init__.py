"""Evaluation of generated samples on arrays: FID/KID, IS, precision/recall, likelihood units."""
