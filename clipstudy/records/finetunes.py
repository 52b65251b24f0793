"""Fine-tuning one CLIP 71 ways (`model_soups`): each fine-tune's effective robustness, and a regression of it on the
fine-tuning hyperparameters.

All 72 models share one parent (OpenAI's CLIP ViT-B/32) and one linear-probe start (`model_0`); the 71 fine-tunes
differ only in a random draw of hyperparameters. So the regression says how ER moves with the recipe around this one
parent, on ImageNet: it says nothing of other architectures, other pre-training data, or CLIPs fine-tuned elsewhere,
and the draws were not a designed grid (some settings co-occur by chance; two models share every value).

- `soups_points`: each model on each shift with a line in the baseline (id_acc: ImageNet top-1), its ER
  (`baselines.er_points`). timm's results have no ObjectNet, so against `baselines.timm_baseline` the mean is over
  V2, Sketch, R and A; against `baselines.testbed_baseline` ObjectNet joins them.
- `soups_er`: one row per model: ER averaged over those shifts, and its hyperparameters.
- `er_regression`: least squares of ER on log10 learning rate, epochs, mixup, label smoothing and the RandAugment
  setting (categorical, against no augmentation), each coefficient with a 95% bootstrap interval over models and its
  p (models resampled with replacement and the fit redone; `contrasts.percentile_interval`).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import effects as E
from .baselines import Baseline, er_points
from .contrasts import percentile_interval, small_note
from .soups import NO_AUG, SHIFTS

HPARAMS = ["recipe", "finetune_recipe", "lr", "wd", "epochs", "label_smoothing", "mixup", "aug", "aug_magnitude",
           "aug_ops"]
TERMS = ("log10_lr", "epochs", "mixup", "label_smoothing", "aug")
CATEGORICAL: Mapping[str, str] = {"aug": NO_AUG}  # categorical term -> its reference level
INTERCEPT = "intercept"


def soups_points(soups: pd.DataFrame, baseline: Baseline, shifts: Iterable[str] = SHIFTS) -> pd.DataFrame:
    """One row per (model, shift the baseline has a line for): id_acc (ImageNet), ood_acc, predicted, er, the line,
    and the model's hyperparameters."""
    rows = [pd.DataFrame({"model": soups["model"], "dataset": s, "id_acc": soups["imagenet"],
                          "ood_acc": soups[s]}) for s in shifts if s in baseline.fits]
    pts = er_points(pd.concat(rows, ignore_index=True), baseline).reset_index(drop=True)
    return pts.join(soups.set_index("model")[HPARAMS], on="model")


def soups_er(points: pd.DataFrame) -> pd.DataFrame:
    """One row per model: er (mean over the shifts in `points`), n_shifts, shifts (their names), imagenet top-1,
    the hyperparameters, and log10_lr / log10_wd."""
    shifts = list(dict.fromkeys(points["dataset"]))
    g = points.groupby("model", sort=False)
    out = g["er"].agg(er="mean", n_shifts="count").join(g["id_acc"].first().rename("imagenet"))
    out = out.join(points.drop_duplicates("model").set_index("model")[HPARAMS]).reset_index()
    out["shifts"] = ", ".join(shifts)
    out["log10_lr"], out["log10_wd"] = np.log10(out["lr"]), np.log10(out["wd"].where(out["wd"] > 0))
    return out


def design(frame: pd.DataFrame, terms: Sequence[str] = TERMS,
           categorical: Mapping[str, str] = CATEGORICAL) -> pd.DataFrame:
    """The regression's design matrix: an intercept, each numeric term, and one 0/1 column `term[level]` per level
    of a categorical term other than its reference level (rows with a missing term are dropped)."""
    f = frame.dropna(subset=list(terms))
    cols = {INTERCEPT: np.ones(len(f))}
    for t in terms:
        if t in categorical:
            levels = sorted(set(f[t]) - {categorical[t]})
            for lv in levels:
                cols[f"{t}[{lv}]"] = (f[t] == lv).to_numpy(float)
        else:
            cols[t] = f[t].to_numpy(float)
    return pd.DataFrame(cols, index=f.index)


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients; a column that is all zeros (a level absent from a resample) gets NaN."""
    present = np.abs(x).sum(axis=0) > 0
    coef = np.full(x.shape[1], np.nan)
    coef[present] = np.linalg.lstsq(x[:, present], y, rcond=None)[0]
    return coef


def er_regression(models: pd.DataFrame, terms: Sequence[str] = TERMS,
                  categorical: Mapping[str, str] = CATEGORICAL, value: str = "er", n_boot: int = E.N_BOOT,
                  seed: int = 0) -> pd.DataFrame:
    """ER regressed on the hyperparameters over the models that have them all: one row per coefficient (term,
    effect: the coefficient, n: models in the fit, n_level: models at a categorical level, ci_low, ci_high, p from
    one bootstrap over models, note, r2 of the full fit, reference: a categorical term's reference level). Under
    5 models (or a level held by under 5) the note says n is too small and there is no interval."""
    f = models.dropna(subset=[value, *terms])
    x_frame = design(f, terms, categorical)
    x, y = x_frame.to_numpy(float), f.loc[x_frame.index, value].to_numpy(float)
    n = len(y)
    coef = _fit(x, y)
    resid = y - x @ np.nan_to_num(coef)
    r2 = float(1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))) if n > 1 and np.ptp(y) > 0 else np.nan
    boot = np.full((n_boot, x.shape[1]), np.nan)
    if n >= E.MIN_UNITS:
        rng = np.random.default_rng(seed)
        for b, idx in enumerate(rng.integers(0, n, size=(n_boot, n))):
            boot[b] = _fit(x[idx], y[idx])
    rows = []
    for j, name in enumerate(x_frame.columns):
        level = name.endswith("]")
        n_level = int(x[:, j].sum()) if level else n
        note = small_note({"": n_level if level else n}, "models")
        lo, hi, p = percentile_interval(boot[:, j]) if not note else (np.nan, np.nan, np.nan)
        term = name.split("[")[0]
        rows.append({"term": name, "effect": float(coef[j]), "n": n, "n_level": n_level, "ci_low": lo, "ci_high": hi,
                     "p": p, "note": note, "r2": r2, "reference": categorical.get(term, "") if level else ""})
    return pd.DataFrame(rows)


__all__ = ["TERMS", "CATEGORICAL", "INTERCEPT", "soups_points", "soups_er", "design", "er_regression"]
