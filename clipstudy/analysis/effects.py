"""The six factors and the tidy effects table every chapter writes (chapter 10 reads them all).

An effect is "treatment minus base" of one metric on one axis, with the comparison named and the
source of evidence (lab | records | live). Contrasts here are plain differences of group means;
`matched_contrast` first matches on other tags (e.g. compare ViT with ResNet CLIPs trained on the
same data) so that records, which are observational, confound less.

Records effects also carry n (models, or model pairs) and a 95% bootstrap interval over models:
`paired_effect` resamples pairs (a model and its own treated version: prompts, fine-tuning, a grid
neighbour), `grouped_effect` resamples the models of each group. `verdict` turns an effect and its
interval into agrees / disagrees / inconclusive against an expected sign.
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import SchemaError, UnknownNameError

FACTORS: tuple[str, ...] = ("architecture", "training distribution", "training-set size", "fine-tuning",
                            "contrastive loss", "test-time prompts")
SOURCES: tuple[str, ...] = ("lab", "records", "live")
REQUIRED: list[str] = ["factor", "axis", "metric", "effect", "comparison", "source"]
INTERVAL: list[str] = ["n", "ci_low", "ci_high"]  # optional on input (NaN: not given, e.g. one lab run)
COLUMNS: list[str] = REQUIRED + INTERVAL


def effect(factor: str, axis: str, metric: str, value: float, comparison: str, source: str, *,
           n: float | None = None, ci: tuple[float, float] | None = None) -> dict:
    """One row of the effects table; unknown factor or source names raise with the valid ones.
    `n` (models or pairs behind the effect) and `ci` (its 95% interval) are NaN when not given."""
    if factor not in FACTORS:
        raise UnknownNameError("factor", factor, list(FACTORS))
    if source not in SOURCES:
        raise UnknownNameError("evidence source", source, list(SOURCES))
    lo, hi = ci if ci is not None else (np.nan, np.nan)
    return dict(factor=factor, axis=axis, metric=metric, effect=float(value), comparison=comparison, source=source,
                n=float(n) if n is not None else np.nan, ci_low=float(lo), ci_high=float(hi))


def effects_frame(rows: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """A validated effects table with exactly COLUMNS (an empty table keeps its columns); n and the
    interval columns are optional on input."""
    df = pd.DataFrame(list(rows) if not isinstance(rows, pd.DataFrame) else rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    for c in INTERVAL:
        if c not in df.columns:
            df[c] = np.nan
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"effects table lacks column(s) {missing}; expected {COLUMNS}")
    bad = sorted(set(df["factor"]) - set(FACTORS))
    if bad:
        raise UnknownNameError("factor", bad[0], list(FACTORS))
    bad = sorted(set(df["source"]) - set(SOURCES))
    if bad:
        raise UnknownNameError("evidence source", bad[0], list(SOURCES))
    df = df[COLUMNS].copy()
    for c in ["effect", *INTERVAL]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df.reset_index(drop=True)


# ---- intervals over models (records) --------------------------------------------------------------

N_BOOT, LEVEL = 4000, 0.95


def _interval(boot: np.ndarray) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return (np.nan, np.nan)
    q = (1 - LEVEL) / 2
    return float(np.quantile(boot, q)), float(np.quantile(boot, 1 - q))


def bootstrap_mean(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Mean of `values` with a percentile bootstrap interval (resampling the values). Returns dict(effect,
    n, ci_low, ci_high); with fewer than two values there is no interval (NaN)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) < 2:
        return dict(effect=float(v.mean()) if len(v) else np.nan, n=int(len(v)), ci_low=np.nan, ci_high=np.nan)
    rng = np.random.default_rng(seed)
    boot = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = _interval(boot)
    return dict(effect=float(v.mean()), n=int(len(v)), ci_low=lo, ci_high=hi)


def paired_effect(frame: pd.DataFrame, pair_on: str | Sequence[str], column: str, treatment, base, value: str,
                  n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Mean over pairs of (treatment - base) of `value`, pairs being the rows that share `pair_on`
    (e.g. a model under two prompt sets, or a grid cell and its neighbour); a bootstrap over pairs gives
    the interval. Returns dict(effect, n, ci_low, ci_high, pairs) with `pairs` the per-pair differences."""
    keys = [pair_on] if isinstance(pair_on, str) else list(pair_on)
    f = frame[frame[column].isin([treatment, base])]
    w = f.pivot_table(index=keys, columns=column, values=value, aggfunc="mean", observed=True)
    if treatment not in w.columns or base not in w.columns:
        return dict(bootstrap_mean([]), pairs=pd.Series(dtype=float))
    diffs = (w[treatment] - w[base]).dropna()
    return dict(bootstrap_mean(diffs.to_numpy(), n_boot, seed), pairs=diffs)


def grouped_effect(frame: pd.DataFrame, column: str, treatment, base, value: str, unit: str = "model",
                   match: Sequence[str] = (), n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Mean of `value` where column == treatment minus where column == base, averaged over the strata of
    `match` that hold both groups (each unit's rows averaged within a stratum first). The interval
    resamples the units (models) of each group with replacement, keeping each unit's strata together;
    a group of one model gives no interval (NaN): its model-to-model spread is unknown.

    Returns dict(effect, n (units in both groups), n_treatment, n_base, n_strata, ci_low, ci_high).
    """
    f = frame[frame[column].isin([treatment, base])].dropna(subset=[value])
    strata = list(match)
    key = f[strata].astype(str).agg("|".join, axis=1) if strata else pd.Series("all", index=f.index)
    f = f.assign(_stratum=key)
    per = f.groupby([column, unit, "_stratum"], observed=True)[value].mean().unstack("_stratum")
    cols = list(per.columns)
    t = per.loc[treatment].to_numpy(float) if treatment in per.index.get_level_values(0) else np.empty((0, len(cols)))
    b = per.loc[base].to_numpy(float) if base in per.index.get_level_values(0) else np.empty((0, len(cols)))
    out = dict(effect=np.nan, n=len(t) + len(b), n_treatment=len(t), n_base=len(b), n_strata=0, ci_low=np.nan,
               ci_high=np.nan)
    if not len(t) or not len(b):
        return out

    def stat(tm: np.ndarray, bm: np.ndarray) -> np.ndarray:  # [..., units, strata] -> [...]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            d = np.nanmean(tm, axis=-2) - np.nanmean(bm, axis=-2)
            return np.nanmean(np.where(np.isfinite(d), d, np.nan), axis=-1)

    both = np.isfinite(t).any(axis=0) & np.isfinite(b).any(axis=0)
    out.update(effect=float(stat(t, b)), n_strata=int(both.sum()))
    if len(t) < 2 or len(b) < 2:
        return out
    rng = np.random.default_rng(seed)
    boot = stat(t[rng.integers(0, len(t), size=(n_boot, len(t)))], b[rng.integers(0, len(b), size=(n_boot, len(b)))])
    out["ci_low"], out["ci_high"] = _interval(boot)
    return out


def verdict(value: float, ci_low: float, ci_high: float, expected: float | str) -> str:
    """agrees / disagrees (the interval excludes 0 on the expected / the other side), inconclusive (it
    covers 0), or not measured. `expected` is a sign (+1 / -1, e.g. the lab's effect) or 'positive' /
    'negative'."""
    sign = {"positive": 1.0, "negative": -1.0}.get(expected, expected) if isinstance(expected, str) else expected
    if not all(np.isfinite([value, ci_low, ci_high])) or not np.isfinite(sign) or sign == 0:
        return "not measured"
    if ci_low <= 0 <= ci_high:
        return "inconclusive"
    return "agrees" if np.sign(value) == np.sign(sign) else "disagrees"


def interval_text(row: Mapping[str, Any], fmt: str = "{:+.3f}") -> str:
    """'n=7, 95% CI [-0.02, +0.05]' for a row with n and an interval, else ''."""
    n, lo, hi = row.get("n", np.nan), row.get("ci_low", np.nan), row.get("ci_high", np.nan)
    if not (n == n and lo == lo and hi == hi):
        return ""
    return f"n={n:.0f}, 95% CI [{fmt.format(lo)}, {fmt.format(hi)}]"


def group_contrast(frame: pd.DataFrame, column: str, treatment, base, value: str) -> dict:
    """Mean of `value` where column == treatment minus where column == base (NaN values ignored).

    Returns dict(effect, n_treatment, n_base); effect is NaN when either group is empty.
    """
    t = frame.loc[frame[column] == treatment, value].dropna()
    b = frame.loc[frame[column] == base, value].dropna()
    eff = float(t.mean() - b.mean()) if len(t) and len(b) else float("nan")
    return dict(effect=eff, n_treatment=int(len(t)), n_base=int(len(b)))


def matched_contrast(frame: pd.DataFrame, column: str, treatment, base, value: str,
                     match: Sequence[str] = ()) -> dict:
    """`group_contrast` within each stratum of `match` columns, averaged over strata that have both groups.

    With no stratum holding both groups, falls back to the unmatched contrast and says so
    (`matched` False). Returns dict(effect, n_treatment, n_base, n_strata, matched).
    """
    match = list(match)
    if match:
        diffs, nt, nb = [], 0, 0
        for _, g in frame.groupby(match, dropna=True):
            c = group_contrast(g, column, treatment, base, value)
            if c["n_treatment"] and c["n_base"]:
                diffs.append(c["effect"])
                nt, nb = nt + c["n_treatment"], nb + c["n_base"]
        if diffs:
            return dict(effect=float(np.mean(diffs)), n_treatment=nt, n_base=nb, n_strata=len(diffs), matched=True)
    c = group_contrast(frame, column, treatment, base, value)
    return dict(c, n_strata=0, matched=False)


def factor_summary(effects: pd.DataFrame, not_measured: dict[str, str] | None = None, fmt: str = "{:+.3f}") -> str:
    """Markdown list for 'What the six factors do here': each factor's computed effects, or why it
    was not measured on this axis. Every number comes from `effects`."""
    not_measured = not_measured or {}
    lines = []
    for f in FACTORS:
        rows = effects[effects["factor"] == f] if len(effects) else effects
        if len(rows):
            parts = []
            for r in rows.to_dict("records"):
                ci = interval_text(r, fmt)
                parts.append(f"{r['metric']} {fmt.format(r['effect']) if np.isfinite(r['effect']) else 'n/a'} "
                             f"({r['comparison']}; {r['source']}{'; ' + ci if ci else ''})")
            lines.append(f"- **{f}**: " + "; ".join(parts))
        else:
            why = not_measured.get(f, "not measured on this axis in this build")
            lines.append(f"- **{f}**: not measured here: {why}")
    return "\n".join(lines)


# the lab zoo's recipe factors (clipstudy.lab.zoo.FACTORS) -> the study's six factors
LAB_FACTORS: dict[str, str] = {"architecture": "architecture", "data": "training distribution",
                               "size": "training-set size", "finetuning": "fine-tuning", "loss": "contrastive loss"}


def lab_effects(values: pd.DataFrame, recipes: pd.DataFrame, axis: str, metric: str, value: str = "value",
                base: str = "base", recipe_col: str = "recipe") -> list[dict]:
    """One effect per non-base lab recipe: its `value` minus base's, under the recipe's factor.

    `values` has one row per recipe (recipe_col, value); `recipes` is `lab.zoo.frame()` (recipe,
    factor). Recipes without a value, or whose factor is not a study factor, are skipped; no base
    value means no effects at all.
    """
    v = values.dropna(subset=[value]).drop_duplicates(recipe_col).set_index(recipe_col)[value]
    if base not in v.index:
        return []
    rows = []
    for r in recipes.itertuples(index=False):
        if r.recipe == base or r.recipe not in v.index or r.factor not in LAB_FACTORS:
            continue
        rows.append(effect(LAB_FACTORS[r.factor], axis, metric, float(v[r.recipe] - v[base]),
                           f"{r.recipe} vs {base}", "lab"))
    return rows


def recipe_contrast(table: pd.DataFrame, factors: Mapping[str, str], value: str, metric: str, axis: str, *,
                    model_col: str = "model", base: str = "base", where: Mapping[str, Any] | None = None,
                    source: str = "lab") -> pd.DataFrame:
    """Each recipe's `value` (mean over the rows matching `where`, column -> value) minus the base recipe's.

    `factors` maps recipe -> study factor; recipes without a finite value, or no base value at all, give no rows.
    """
    t = table
    for k, v in (where or {}).items():
        t = t[t[k] == v]
    per = t.groupby(model_col)[value].mean()
    if base not in per:
        return effects_frame([])
    return effects_frame([effect(fac, axis, metric, float(per[r] - per[base]), f"{r} vs {base}", source)
                          for r, fac in factors.items() if r != base and r in per and np.isfinite(per[r])])



def direction_words(row: Mapping[str, Any], pos: str = "higher", neg: str = "lower") -> str:
    """`pos` / `neg` when the row's 95% interval excludes zero on that side; otherwise why no direction
    can be read (the interval covers zero, or there is none)."""
    v, lo, hi = (float(row.get(k, np.nan)) for k in ("effect", "ci_low", "ci_high"))
    if not np.isfinite(v):
        return "not measured"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{pos if v > 0 else neg} in this sample, with no interval (too few models)"
    if lo <= 0 <= hi:
        return "no clear direction (the interval covers zero)"
    return pos if v > 0 else neg
