"""Top-k accuracy."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import as_labels, check_nonempty, stable_rank, to_numpy

_CHUNK = 8192  # rows per block, so [N, C] comparisons stay small in memory


def accuracy(logits_or_pred: Any, labels: Any, k: int = 1) -> float:
    """Fraction of samples whose label is among the top-k classes.

    `logits_or_pred` is either scores [N, C] (logits or probabilities) or hard
    predictions [N] (then only k=1 is meaningful). numpy or torch. Ties in the
    scores are broken by class index, as `argmax` does, so a class tied with the
    label but with a lower index ranks above it.
    """
    x = to_numpy(logits_or_pred)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if x.ndim == 1:
        if k != 1:
            raise ValueError("top-k with k > 1 needs scores of shape [N, C], not predictions [N]")
        check_nonempty(len(x), "logits_or_pred")
        pred = as_labels(x, len(x), name="predictions")
        y = as_labels(labels, len(x))
        return float(np.mean(pred == y))
    if x.ndim != 2:
        raise ValueError(f"logits_or_pred: expected [N, C] scores or [N] predictions, got shape {x.shape}")
    n, c = x.shape
    check_nonempty(n, "logits_or_pred")
    x = to_numpy(x, np.float64, "logits_or_pred")
    if np.isnan(x).any():
        raise ValueError("logits_or_pred: contains NaN values")
    y = as_labels(labels, n, n_classes=c)
    if k >= c:
        return 1.0
    hits = 0
    for s in range(0, n, _CHUNK):
        hits += int((stable_rank(x[s : s + _CHUNK], y[s : s + _CHUNK]) < k).sum())
    return hits / n
