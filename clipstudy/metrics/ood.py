"""OOD detection: a registry of scores (a new score is one function), and AUROC / AUPR / FPR@95%TPR.

Convention everywhere: higher score = more in-distribution (ID); ID is the positive class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.special import logsumexp, softmax

from ..errors import UnknownNameError
from ..registry import Registry
from ._arrays import as_float, check_nonempty

_COS_TOL = 1e-2  # fp16 cosines can overshoot 1 slightly
INPUTS = ("logits", "cosine", "features")


@dataclass(frozen=True)
class Score:
    """One OOD score: a function of one input array [N, ...] (and a temperature) to per-sample ID-ness [N].

    `input` says what it reads: `logits` (logit_scale * cosine, or a classifier's logits), `cosine` (raw
    image-text cosines in [-1, 1]; zero-shot models only) or `features` (the image embeddings [N, D])."""

    name: str
    input: str
    fn: Callable[..., np.ndarray]
    doc: str = ""


SCORES: Registry[Score] = Registry("OOD score method")


def register_score(name: str, input: str) -> Callable[[Callable], Callable]:
    """Register `fn(x, temperature=1.0) -> [N]` as OOD score `name` reading `input` (higher = more ID). Every
    detection table (the chapters, the runner) scores with every registered score whose input it has."""
    if input not in INPUTS:
        raise UnknownNameError("OOD score input", input, INPUTS)

    def wrap(fn: Callable) -> Callable:
        SCORES.register(name, Score(name, input, fn, (fn.__doc__ or "").strip()), replace=True)
        return fn
    return wrap


def score_names(inputs: Any = INPUTS) -> list[str]:
    """The registered scores (in registration order) whose input is among `inputs`."""
    return [n for n, s in SCORES.items() if s.input in set(inputs)]


@register_score("msp", "logits")
def _msp(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """max softmax(logits / T) (Hendrycks & Gimpel 2017)."""
    return softmax(z / temperature, axis=1).max(axis=1)


@register_score("maxlogit", "logits")
def _maxlogit(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """max logits (T unused)."""
    return z.max(axis=1)


@register_score("energy", "logits")
def _energy(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """T * logsumexp(logits / T), the negative free energy (Liu et al. 2020)."""
    return temperature * logsumexp(z / temperature, axis=1)


@register_score("mcm", "cosine")
def _mcm(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """max softmax(cos / T) over raw cosines, T = 1 the MCM paper's default (Ming et al. 2022)."""
    if z.size and np.abs(z).max() > 1 + _COS_TOL:
        raise ValueError(
            f"mcm expects cosine similarities in [-1, 1], got values up to {np.abs(z).max():.3g}; "
            "pass features @ head, not logit_scale * cosine"
        )
    return softmax(z / temperature, axis=1).max(axis=1)


OOD_METHODS = ("msp", "maxlogit", "energy", "mcm")  # the built-in scores (`SCORES` holds every registered one)


def ood_scores(logits: Any, method: str, temperature: float = 1.0) -> np.ndarray:
    """Per-sample ID-ness score [N] from [N, C] outputs (or [N, D] features), by a registered score.

    Inputs differ by score (`SCORES[method].input`):
    - msp, maxlogit, energy take the classifier logits (logit_scale * cosine):
      msp = max softmax(logits / T); maxlogit = max logits (T unused);
      energy = T * logsumexp(logits / T), i.e. the negative free energy (Liu et al. 2020).
    - mcm takes the raw cosine similarities in [-1, 1] (not logit_scale * cos):
      mcm = max softmax(cos / T), with T = 1 the MCM paper's default (Ming et al. 2022).
    """
    score = SCORES.get(method)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    z = as_float(logits, "logits" if score.input != "features" else "features", ndim=2)
    return np.asarray(score.fn(z, temperature=temperature), dtype=float)


def fpr_at_tpr(id_scores: Any, ood_scores: Any, tpr: float = 0.95) -> float:
    """Fraction of OOD samples with score >= t, where t is the largest threshold keeping
    at least `tpr` of ID samples (score >= t).

    t is the ceil(tpr * n_id)-th largest ID score; OOD samples tied with t count as false positives.
    """
    s_id, s_ood = _scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores")
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr!r}")
    k = max(1, int(np.ceil(tpr * len(s_id) - 1e-9)))  # ID samples that must be kept
    t = np.sort(s_id)[::-1][k - 1]
    return float(np.mean(s_ood >= t))


def auroc_rows(id_scores: np.ndarray, ood_scores: np.ndarray) -> np.ndarray:
    """AUROC (ID positive, higher = more ID) of each row of (rows, n_id) and (rows, n_ood) score arrays: the
    Mann-Whitney statistic from average ranks, ties counted half, as `sklearn.metrics.roc_auc_score` of each row."""
    from scipy.stats import rankdata

    i, o = np.atleast_2d(np.asarray(id_scores, float)), np.atleast_2d(np.asarray(ood_scores, float))
    n1, n0 = i.shape[1], o.shape[1]
    ranks = rankdata(np.concatenate([i, o], axis=1), axis=1)
    return (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def ood_metrics(id_scores: Any, ood_scores: Any) -> dict[str, float]:
    """dict(auroc, aupr_in, aupr_out, fpr95) with ID positive and higher score = more ID.

    aupr_in: average precision with ID as positive; aupr_out: with OOD as positive and
    the negated score. AUROC and AP come from scikit-learn (ties handled as sklearn does:
    AUROC counts a tie as 1/2). fpr95 as in `fpr_at_tpr(.., tpr=0.95)`.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    s_id, s_ood = _scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores")
    y = np.r_[np.ones(len(s_id)), np.zeros(len(s_ood))]
    s = np.r_[s_id, s_ood]
    return {
        "auroc": float(roc_auc_score(y, s)),
        "aupr_in": float(average_precision_score(y, s)),
        "aupr_out": float(average_precision_score(1 - y, -s)),
        "fpr95": fpr_at_tpr(s_id, s_ood, 0.95),
    }


def _scores(x: Any, name: str) -> np.ndarray:
    s = as_float(x, name, ndim=1)
    check_nonempty(len(s), name)
    return s
