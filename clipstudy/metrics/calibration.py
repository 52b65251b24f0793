"""Calibration: ECE, reliability bins, NLL, Brier score and temperature scaling.

Binning convention (ECE and `reliability`): `n_bins` equal-width bins on the top-1 confidence,
bin b = [b/n, (b+1)/n), the last bin closed, [1 - 1/n, 1] (numpy.histogram's convention).
This is torchmetrics' `calibration_error(task="multiclass", norm="l1")` binning, except
that torchmetrics gives confidence exactly 1.0 a bin of its own; here it joins the last bin.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import log_softmax

from ._arrays import as_float, as_labels, check_nonempty

_PROB_TOL = 1e-2  # half-precision softmax rows over 1000 classes can miss 1 by ~1e-3


def _probs(probs: Any) -> np.ndarray:
    p = as_float(probs, "probs", ndim=2)
    check_nonempty(len(p), "probs")
    if p.min() < -_PROB_TOL or p.max() > 1 + _PROB_TOL or np.abs(p.sum(1) - 1).max() > _PROB_TOL:
        raise ValueError(
            "probs: expected probabilities [N, C] with rows summing to 1; these look like logits "
            "(pass softmax(logits, dim=1))"
        )
    return p


def _bins(probs: Any, labels: Any, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin index, confidence, correct) per sample."""
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    p = _probs(probs)
    y = as_labels(labels, len(p), n_classes=p.shape[1])
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.arange(n_bins + 1) / n_bins
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    return idx, conf, correct


def reliability(probs: Any, labels: Any, n_bins: int = 15) -> pd.DataFrame:
    """Per-bin table: bin, lower, upper, confidence (mean), accuracy, count.

    All `n_bins` bins are listed; an empty bin has count 0 and NaN confidence/accuracy.
    """
    idx, conf, correct = _bins(probs, labels, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        mean_acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    edges = np.arange(n_bins + 1) / n_bins
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "confidence": mean_conf,
            "accuracy": mean_acc,
            "count": count.astype(np.int64),
        }
    )


def ece(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Expected calibration error (L1, top-1): sum_b |acc_b - conf_b| * n_b / N."""
    t = reliability(probs, labels, n_bins)
    t = t[t["count"] > 0]
    return float((np.abs(t["accuracy"] - t["confidence"]) * t["count"]).sum() / t["count"].sum())


def binned(probs: Any, labels: Any, n_bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each image's (confidence bin, top-1 confidence, correct), the per-image parts of `ece`."""
    return _bins(probs, labels, n_bins)


def ece_of_bins(bins: np.ndarray, conf: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> np.ndarray:
    """`ece` from `binned`'s per-image arrays, one value per row (the last axis is the images; a leading axis holds
    e.g. bootstrap resamples): sum over bins of |sum(confidence - correct)| / N, which is
    sum_b |acc_b - conf_b| * n_b / N."""
    bins, conf, correct = (np.atleast_2d(np.asarray(x)) for x in (bins, conf, correct))
    rows, n = bins.shape
    flat = (np.arange(rows)[:, None] * n_bins + bins).ravel()
    gap = np.bincount(flat, weights=(conf - correct).ravel().astype(float), minlength=rows * n_bins)
    return np.abs(gap.reshape(rows, n_bins)).sum(axis=1) / n


def nll(logits: Any, labels: Any) -> float:
    """Mean negative log-likelihood (cross-entropy, natural log) of `labels` under softmax(logits)."""
    z = as_float(logits, "logits", ndim=2)
    check_nonempty(len(z), "logits")
    y = as_labels(labels, len(z), n_classes=z.shape[1])
    return float(-log_softmax(z, axis=1)[np.arange(len(z)), y].mean())


def brier(probs: Any, labels: Any) -> float:
    """Multiclass Brier score: mean over samples of sum_c (p_c - onehot_c)^2, in [0, 2].

    (Brier's original sum-over-classes form; some libraries divide by C as well.)
    """
    p = _probs(probs)
    y = as_labels(labels, len(p), n_classes=p.shape[1])
    onehot = np.zeros_like(p)
    onehot[np.arange(len(p)), y] = 1.0
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def fit_temperature(logits: Any, labels: Any, bounds: tuple[float, float] = (1e-2, 1e2)) -> float:
    """Temperature T minimising nll(logits / T, labels) (Guo et al. 2017).

    Bounded Brent search over log T in log(bounds): deterministic, no random start.
    Warns when the optimum sits on a bound (e.g. logits unrelated to the labels).
    Divide logits by the returned T (probs = softmax(logits / T)) to calibrate.
    """
    z = as_float(logits, "logits", ndim=2)
    check_nonempty(len(z), "logits")
    y = as_labels(labels, len(z), n_classes=z.shape[1])
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")
    rows = np.arange(len(z))

    def loss(log_t: float) -> float:
        return float(-log_softmax(z / np.exp(log_t), axis=1)[rows, y].mean())

    res = optimize.minimize_scalar(
        loss, bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-6}
    )
    t = float(np.exp(res.x))
    if min(abs(res.x - np.log(lo)), abs(res.x - np.log(hi))) < 1e-3:
        warnings.warn(
            f"fit_temperature: optimum T={t:.4g} is at the search bound {bounds}; "
            "the logits may carry no information about the labels",
            stacklevel=2,
        )
    return t

