"""Effective robustness: OOD accuracy beyond a logit-linear fit over baseline models.

Following Taori et al. (2020) and Radford et al. (2021): over baseline (e.g. ImageNet-trained)
models, logit(acc_ood) is close to linear in logit(acc_id). A model's effective robustness is
its OOD accuracy minus the accuracy that line predicts from its ID accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import expit, logit

from ._arrays import to_numpy

EPS = 1e-6  # accuracies are clipped to [EPS, 1-EPS] so logit stays finite at 0 and 1


def _logit(acc: np.ndarray) -> np.ndarray:
    return logit(np.clip(acc, EPS, 1 - EPS))


def _fractions(x: Any, name: str, allow_nan: bool = False) -> np.ndarray:
    arr = to_numpy(x, np.float64, name)
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN; drop models without a baseline accuracy first")
    with np.errstate(invalid="ignore"):
        if np.any(arr < 0) or np.any(arr > 1):
            raise ValueError(
                f"{name}: accuracies must be fractions in [0, 1], got range "
                f"[{np.nanmin(arr):g}, {np.nanmax(arr):g}] (divide percentages by 100)"
            )
    return arr


@dataclass(frozen=True)
class LogitFit:
    """logit(acc_ood) = slope * logit(acc_id) + intercept, fitted over `n` models (r2 in logit space)."""

    slope: float
    intercept: float
    n: int
    r2: float

    def __call__(self, id_acc: Any) -> np.ndarray:
        """Predicted OOD accuracy (a fraction) for ID accuracy `id_acc` (NaN stays NaN)."""
        x = _fractions(id_acc, "id_acc", allow_nan=True)
        return expit(self.slope * _logit(x) + self.intercept)


def logit_fit(base_id: Any, base_ood: Any) -> LogitFit:
    """Least-squares line of logit(base_ood) on logit(base_id)."""
    x = _fractions(base_id, "base_id_acc").ravel()
    y = _fractions(base_ood, "base_ood_acc").ravel()
    if x.shape != y.shape:
        raise ValueError(f"baseline ID and OOD accuracies differ in length: {x.size} vs {y.size}")
    if x.size < 2:
        raise ValueError(f"a logit-linear fit needs at least 2 baseline models, got {x.size}")
    lx, ly = _logit(x), _logit(y)
    if np.ptp(lx) == 0:
        raise ValueError("all baseline models have the same ID accuracy; the fit is undefined")
    res = stats.linregress(lx, ly)
    r2 = float(res.rvalue**2) if np.ptp(ly) > 0 else float("nan")
    return LogitFit(slope=float(res.slope), intercept=float(res.intercept), n=int(x.size), r2=r2)


def effective_robustness(
    id_acc: Any, ood_acc: Any, base_id_acc: Any, base_ood_acc: Any
) -> tuple[np.ndarray, LogitFit]:
    """(er, fit): er = ood_acc - fit(id_acc) per model, fit = `logit_fit(base_id_acc, base_ood_acc)`.

    All accuracies are fractions in [0, 1]; er has the shape of `id_acc`. A model with a NaN
    accuracy gets NaN ER; the baselines must have no NaN.
    """
    fit = logit_fit(base_id_acc, base_ood_acc)
    ida = _fractions(id_acc, "id_acc", allow_nan=True)
    ooda = _fractions(ood_acc, "ood_acc", allow_nan=True)
    if ida.shape != ooda.shape:
        raise ValueError(f"id_acc and ood_acc differ in shape: {ida.shape} vs {ooda.shape}")
    return ooda - fit(ida), fit
