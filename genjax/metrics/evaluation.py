"""One call that scores generated images against reference images under a feature extractor."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from genjax.metrics import fid as fid_lib
from genjax.metrics import prdc as prdc_lib
from genjax.metrics.features import FeatureExtractor, digits_features
from genjax.metrics.inception_score import inception_score

__all__ = ["evaluate_images", "class_coverage"]


def class_coverage(probs: np.ndarray, min_share: float = 0.01) -> tuple[int, float]:
    """Classes the classifier assigns at least ``min_share`` of the samples to, and the entropy
    (nats) of the predicted-class histogram (log K for balanced classes): the mode-collapse
    signal."""
    counts = np.bincount(np.argmax(probs, -1), minlength=probs.shape[1]).astype(np.float64)
    share = counts / counts.sum()
    nz = share[share > 0]
    return int(np.sum(share >= min_share)), float(-np.sum(nz * np.log(nz)))


def evaluate_images(
    generated: np.ndarray,
    reference: np.ndarray,
    *,
    reference_name: str,
    extractor: Optional[FeatureExtractor] = None,
    k: int = 5,
    kid_subset_size: int = 1000,
) -> dict[str, Any]:
    """FID, KID, IS, precision/recall, density/coverage and class coverage of ``generated``.

    Args:
      generated, reference: float32 ``[N, H, W, C]`` images in [-1, 1].
      reference_name: which split the reference is (reported with the FID).
      extractor: features and class probabilities (default: the shipped digits classifier).
      k: neighbourhood size of precision/recall/density/coverage.

    Returns:
      A flat dict of floats plus ``fid_provenance`` (features, sample counts, reference).
    """
    extractor = extractor or digits_features()
    gen_feats, gen_probs = extractor.apply(generated)
    ref_feats, _ = extractor.apply(reference)
    result = fid_lib.fid(
        fid_lib.stats_from_features(gen_feats),
        fid_lib.stats_from_features(ref_feats),
        features=extractor.name,
        reference_name=reference_name,
    )
    kid = fid_lib.kid(gen_feats, ref_feats, subset_size=kid_subset_size, num_subsets=50)
    scores = prdc_lib.prdc(ref_feats, gen_feats, k=k)
    is_mean, is_std = inception_score(gen_probs, num_splits=min(10, len(gen_probs)))
    covered, entropy = class_coverage(gen_probs)
    return {
        "fid": result.value,
        "fid_provenance": str(result),
        "kid": kid.mean,
        "kid_std": kid.std,
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "precision": scores.precision,
        "recall": scores.recall,
        "density": scores.density,
        "coverage": scores.coverage,
        "classes_covered": covered,
        "class_entropy": entropy,
        "num_generated": int(len(generated)),
        "num_reference": int(len(reference)),
    }
