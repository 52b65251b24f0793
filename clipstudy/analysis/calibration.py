"""Calibration (chapter 05): ECE, NLL, Brier and reliability before and after temperature scaling.

The temperature is fitted on in-distribution logits (lab-val, or ImageNet val live) and applied
unchanged under shift. "Does ID calibration transfer?" is measured against the *oracle*: the
temperature fitted on the shifted set itself. transfer_gap = ECE(T_id) - ECE(T_oracle) >= 0
(up to binning noise); near 0 means the ID temperature is as good as one could pick on that set.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np
import pandas as pd


SCALING_LABELS = {"none": "T = 1", "id": "T fitted on ID", "oracle": "T fitted on the set (oracle)"}


def _np(x: Any) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(x, dtype=np.float64)


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    from scipy.special import softmax as sm

    return sm(_np(logits) / float(temperature), axis=1)


def calibration_metrics(logits: Any, labels: Any, temperature: float = 1.0, n_bins: int = 15) -> dict:
    """accuracy, ECE (15 equal-width bins), NLL, Brier and mean confidence at one temperature."""
    from ..metrics import brier, ece, nll

    z = _np(logits) / float(temperature)
    y = np.asarray(labels).astype(np.int64)
    p = softmax(z)
    return dict(accuracy=float((p.argmax(1) == y).mean()), ece=ece(p, y, n_bins), nll=nll(z, y), brier=brier(p, y),
                confidence=float(p.max(1).mean()), temperature=float(temperature))


def fit_temperature(logits: Any, labels: Any) -> float:
    """metrics.fit_temperature with its at-the-bound warning kept quiet (reported via the value)."""
    from ..metrics import fit_temperature as fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(_np(logits), np.asarray(labels).astype(np.int64))


def calibration_table(sets: Mapping[str, tuple[Any, Any]], id_set: str, n_bins: int = 15,
                      oracle: bool = True) -> pd.DataFrame:
    """One row per (set, scaling): scaling 'none' (T=1), 'id' (T fitted on `id_set`, applied to all)
    and, with `oracle`, 'oracle' (T fitted on that set itself). `sets` maps name -> (logits, labels)."""
    if id_set not in sets:
        raise ValueError(f"calibration_table: the ID set {id_set!r} is not among {list(sets)}")
    t_id = fit_temperature(*sets[id_set])
    rows = []
    for name, (z, y) in sets.items():
        temps = [("none", 1.0), ("id", t_id)] + ([("oracle", fit_temperature(z, y))] if oracle else [])
        for scaling, t in temps:
            rows.append(dict(set=name, scaling=scaling, n=len(y), **calibration_metrics(z, y, t, n_bins)))
    return pd.DataFrame(rows)


def transfer(table: pd.DataFrame, id_set: str) -> pd.DataFrame:
    """Per set: ECE before (T=1), with the ID temperature, and with its oracle temperature;
    gain = ece_none - ece_id (what ID scaling buys there); transfer_gap = ece_id - ece_oracle."""
    w = table.pivot_table(index="set", columns="scaling", values="ece", aggfunc="first")
    out = pd.DataFrame({"set": w.index, "ece_none": w["none"].to_numpy(), "ece_id": w["id"].to_numpy()})
    out["ece_oracle"] = w["oracle"].to_numpy() if "oracle" in w else np.nan
    out["gain"] = out["ece_none"] - out["ece_id"]
    out["transfer_gap"] = out["ece_id"] - out["ece_oracle"]
    out["shifted"] = out["set"] != id_set
    return out.reset_index(drop=True)


def reliability_frame(sets: Mapping[str, tuple[Any, Any]], temperature: float, n_bins: int = 15) -> pd.DataFrame:
    """metrics.reliability per set, before (T=1) and after the given temperature; tidy with set,
    scaling ('none' | 'id'), temperature and a legend label."""
    from ..metrics import reliability

    parts = []
    for name, (z, y) in sets.items():
        for scaling, t in (("none", 1.0), ("id", temperature)):
            r = reliability(softmax(z, t), np.asarray(y).astype(np.int64), n_bins)
            parts.append(r.assign(set=name, scaling=scaling, temperature=t, label=SCALING_LABELS[scaling]))
    return pd.concat(parts, ignore_index=True)


def per_group_ece(logits: Any, labels: Any, groups: Any, temperature: float, n_bins: int = 15) -> pd.DataFrame:
    """ECE before and after `temperature` within each group (e.g. the factor shifted in lab-factors)."""
    from ..metrics import ece

    z, y, g = _np(logits), np.asarray(labels).astype(np.int64), np.asarray(groups)
    rows = []
    for name in pd.unique(g):
        m = g == name
        rows.append(dict(group=name, n=int(m.sum()), accuracy=float((z[m].argmax(1) == y[m]).mean()),
                         ece_none=ece(softmax(z[m]), y[m], n_bins), ece_id=ece(softmax(z[m], temperature), y[m], n_bins)))
    out = pd.DataFrame(rows)
    out["gain"] = out["ece_none"] - out["ece_id"]
    return out
