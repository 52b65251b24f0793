"""Per-factor accuracy and error ratio, as defined by ImageNet-X (Idrissi et al. 2023).

Matches `imagenet_x.aggregate.compute_factor_accuracies` and `imagenet_x.error_ratio`:
- accuracy of factor f = correct images annotated with f / images annotated with f;
- overall accuracy ("average" there) = mean correctness over *all* images;
- error ratio of f = (1 - acc_f) / (1 - acc_overall): above 1, the factor hurts.
With "top factor" annotations (one-hot) each image counts for one factor; with "multi factor"
annotations it counts for every factor marked 1. The arithmetic is the same.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ._arrays import to_numpy

# imagenet_x.utils.FACTORS, in the package's order (a test checks they agree).
IMAGENET_X_FACTORS = (
    "pose", "background", "pattern", "color", "smaller", "shape", "partial_view", "subcategory",
    "texture", "larger", "darker", "object_blocking", "person_blocking", "style", "brighter",
    "multiple_objects",
)


def _inputs(correct: Any, factors: pd.DataFrame, factor_names: Sequence[str] | None):
    c = to_numpy(correct)
    if c.ndim != 1:
        raise ValueError(f"correct: expected a 1-D boolean array, got shape {c.shape}")
    if c.dtype != bool:
        if c.size and not np.isin(c, (0, 1)).all():
            raise ValueError("correct: expected booleans (or 0/1), one per image")
        c = c.astype(bool)
    if not isinstance(factors, pd.DataFrame):
        raise TypeError(f"factors: expected a pandas DataFrame of 0/1 factor columns, got {type(factors).__name__}")
    if len(factors) != len(c):
        raise ValueError(f"factors has {len(factors)} rows but correct has {len(c)} entries")
    if factor_names is None:
        names = [f for f in IMAGENET_X_FACTORS if f in factors.columns] or list(factors.columns)
    else:
        names = list(factor_names)
        missing = [f for f in names if f not in factors.columns]
        if missing:
            raise SchemaError(f"factors: missing factor column(s) {missing}; columns are {list(factors.columns)}")
    if not names:
        raise SchemaError("factors: no factor columns")
    m = factors[names].to_numpy()
    if m.dtype != bool:
        try:
            ok = np.isin(m.astype(np.float64), (0.0, 1.0)).all()
        except (TypeError, ValueError):
            ok = False
        if not ok:
            bad = [f for f in names if not factors[f].isin([0, 1, True, False]).all()]
            raise SchemaError(f"factors: columns must hold 0/1 annotations; not so for {bad}")
    return c, m.astype(bool), names


def factor_accuracies(
    correct: Any, factors: pd.DataFrame, factor_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Tidy frame: factor, accuracy, count (images with the factor), n_correct.

    `correct` [N] bool per image; `factors` [N rows] with 0/1 columns, matched by position.
    Factor columns default to the ImageNet-X factors present in `factors` (else all columns).
    A factor no image has gets count 0 and accuracy NaN.
    """
    c, m, names = _inputs(correct, factors, factor_names)
    count = m.sum(axis=0)
    n_correct = (m & c[:, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = n_correct / count
    return pd.DataFrame(
        {"factor": names, "accuracy": acc, "count": count.astype(np.int64), "n_correct": n_correct.astype(np.int64)}
    )


def error_ratio(acc_factor: Any, acc_overall: Any) -> Any:
    """(1 - acc_factor) / (1 - acc_overall); NaN/inf where the overall error is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1 - np.asarray(acc_factor, dtype=np.float64)) / (1 - np.asarray(acc_overall, dtype=np.float64))


def error_ratios(
    correct: Any, factors: pd.DataFrame, factor_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """`factor_accuracies` plus overall_accuracy (over all N images) and error_ratio."""
    out = factor_accuracies(correct, factors, factor_names)
    c, _, _ = _inputs(correct, factors, factor_names)
    overall = float(c.mean()) if len(c) else float("nan")
    out["overall_accuracy"] = overall
    out["error_ratio"] = error_ratio(out["accuracy"].to_numpy(), overall)
    return out
