"""The six factors and the tidy effects table every chapter writes (chapter 10 reads them all).

An effect is "treatment minus base" of one metric on one axis, with the comparison named and the
source of evidence (lab | records | live). Contrasts here are differences of group means;
`matched_effect` first matches on other tags (e.g. compare ViT with ResNet CLIPs trained on the
same data) so that records, which are observational, confound less.

Records effects also carry n (models, or model pairs) and a 95% bootstrap interval over models:
`paired_effect` resamples pairs (a model and its own treated version: prompts, fine-tuning, a grid
neighbour), `grouped_effect` resamples the models of each group. `verdict` turns an effect and its
interval into agrees / disagrees / inconclusive against an expected sign.

Lab effects (`seed_image_effect`, `lab_effects` and `recipe_contrast` given a `seed` column) are the mean
over training seeds of the treatment recipe minus the mean over seeds of base, on the same evaluation
images. Their 95% interval combines two sources of variation: the seeds (each recipe is trained under
several seeds; the between-seed variance of each recipe's metric, divided by its number of seeds) and the
images (a bootstrap over the evaluation images, resampling the same image indices for every recipe and seed,
so the image part is paired; it is the variance of the difference of seed means over those resamples). The
two variances are added, and the interval is effect +- t * sqrt(total), with t from Student's t at the
Welch-Satterthwaite degrees of freedom of the seed part (the image part counted as known). `n` is the
number of trained models behind the effect (seeds of treatment + seeds of base); with fewer than two seeds
in either recipe the seed variance is unknown and there is no interval (NaN). An interval that covers 0 is
reported as "no detectable effect" (`effect_words`).
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import factors
from .errors import SchemaError, UnknownNameError

FACTORS: tuple[str, ...] = tuple(factors.DISPLAY[k] for k in factors.KEYS)  # the display names, in study order
SOURCES: tuple[str, ...] = ("lab", "records", "live")
REQUIRED: list[str] = ["factor", "axis", "metric", "effect", "comparison", "source"]
INTERVAL: list[str] = ["n", "ci_low", "ci_high"]  # optional on input (NaN: not given, e.g. one lab run)
COLUMNS: list[str] = REQUIRED + INTERVAL
# The two-sided p-value of the effect against 0 (Welch t for lab seed x image effects, the bootstrap's share of
# resamples on the other side of 0 for records): optional, kept after COLUMNS. The claims page corrects a family
# of contrasts with Holm's method from it.
P = "p"
# A contrast between two groups of real models records both group sizes; `note` says why an effect has no interval.
GROUPS: list[str] = ["n_treatment", "n_base"]
NOTE = "note"
EXTRA: list[str] = [P, *GROUPS, NOTE]  # optional on input, kept after COLUMNS
MIN_UNITS = 5  # DESIGN.md: under this many units of replication (models, pairs, recipes) no interval is claimed
MODEL_SOURCES = ("records", "live")  # sources whose interval is a bootstrap over real models (the MIN_UNITS rule)


def _num(x: Any) -> float:
    return float(x) if x is not None else np.nan


def effect(factor: str, axis: str, metric: str, value: float, comparison: str, source: str, *,
           n: float | None = None, ci: tuple[float, float] | None = None, p: float | None = None,
           n_treatment: float | None = None, n_base: float | None = None, note: str = "") -> dict:
    """One row of the effects table; unknown factor or source names raise with the valid ones.
    `n` (models or pairs behind the effect), `ci` (its 95% interval) and `p` (two-sided, against 0, from the same
    method as the interval) are NaN when not given; a contrast of two groups of models gives both group sizes.
    A real-model effect on fewer than MIN_UNITS models in a group keeps no interval (`small_n`)."""
    if factor not in FACTORS:
        raise UnknownNameError("factor", factor, list(FACTORS))
    if source not in SOURCES:
        raise UnknownNameError("evidence source", source, list(SOURCES))
    lo, hi = ci if ci is not None else (np.nan, np.nan)
    return small_n(dict(factor=factor, axis=axis, metric=metric, effect=float(value), comparison=comparison,
                        source=source, n=_num(n), ci_low=float(lo), ci_high=float(hi), p=_num(p),
                        n_treatment=_num(n_treatment), n_base=_num(n_base), note=note))


def small_note(sizes: Mapping[str, float], unit: str = "models") -> str:
    """The n < MIN_UNITS rule: 'n too small: 2 models in DeiT (under 5, no interval)' for the smallest group
    (name -> its units; '' names none) when it has fewer than MIN_UNITS units, else ''."""
    sizes = {k: float(v) for k, v in sizes.items() if v is not None and np.isfinite(v)}
    if not sizes:
        return ""
    name, k = min(sizes.items(), key=lambda kv: kv[1])
    if k >= MIN_UNITS:
        return ""
    where = f" in {name}" if name else ""
    unit = unit.removesuffix("s") if k == 1 else unit
    return f"n too small: {int(k)} {unit}{where} (under {MIN_UNITS}, no interval)"


def small_n(row: dict) -> dict:
    """The n < MIN_UNITS rule (`small_note`) on one effect of real models (records, live): with fewer than
    MIN_UNITS models (or pairs) in either group its spread is unknown, so it keeps its effect, loses its interval
    and p, and its note says "n too small"."""
    if row.get("source") not in MODEL_SOURCES:
        return row
    groups = {k: row.get(k) for k in GROUPS if row.get(k) is not None and np.isfinite(row.get(k))}
    note = small_note({("treatment" if k == "n_treatment" else "base"): v for k, v in groups.items()}
                      if groups else {"": row.get("n")})
    if note:
        row = dict(row, ci_low=np.nan, ci_high=np.nan, p=np.nan, note=row.get("note") or note)
    return row


def contrast(factor: str, axis: str, metric: str, result: Mapping[str, Any], comparison: str,
             source: str = "records") -> dict:
    """An effects row from a bootstrap result over models (`grouped_effect`, `paired_effect`, `bootstrap_mean`):
    its effect, n, group sizes, interval and p, all from the one bootstrap."""
    return effect(factor, axis, metric, result["effect"], comparison, source, n=result.get("n"),
                  ci=(result.get("ci_low", np.nan), result.get("ci_high", np.nan)), p=result.get("p"),
                  n_treatment=result.get("n_treatment"), n_base=result.get("n_base"))


def effects_frame(rows: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """A validated effects table with exactly COLUMNS (an empty table keeps its columns); n and the
    interval columns are optional on input."""
    df = pd.DataFrame(list(rows) if not isinstance(rows, pd.DataFrame) else rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS + EXTRA)
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
    for c in (P, *GROUPS):
        if c not in df.columns:
            df[c] = np.nan
    df[NOTE] = df[NOTE].fillna("").astype(str) if NOTE in df.columns else ""
    df = df[COLUMNS + EXTRA].copy()
    for c in ["effect", *INTERVAL, P, *GROUPS]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return pd.DataFrame([small_n(r) for r in df.to_dict("records")], columns=COLUMNS + EXTRA)


# ---- intervals over seeds and images (lab) ---------------------------------------------------------

LAB_BOOT = 1000  # image resamples per lab metric


def image_resamples(n_items: int, n_boot: int = LAB_BOOT, seed: int = 0) -> np.ndarray:
    """[n_boot, n_items] image indices drawn with replacement; the same (n_items, n_boot, seed) always gives
    the same draws, so every recipe and seed evaluated on one set is resampled identically (paired)."""
    return np.random.default_rng([seed, int(n_items)]).integers(0, n_items, size=(n_boot, n_items))


def image_boot(per_image: Any, stat: Any = None, n_boot: int = LAB_BOOT, seed: int = 0) -> np.ndarray:
    """A metric recomputed on `n_boot` resamples of the evaluation images: [n_boot] values.

    `per_image` is an array with images on axis 0, or a tuple of such arrays (e.g. scores and labels);
    `stat(*arrays)` computes the metric from them (default: the mean of the first array, e.g. 0/1 hits)."""
    arrays = tuple(np.asarray(a) for a in (per_image if isinstance(per_image, tuple) else (per_image,)))
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"per-image arrays differ in length: {[len(a) for a in arrays]}")
    idx = image_resamples(n, n_boot, seed)
    if stat is None:
        return arrays[0].astype(float)[idx].mean(axis=1)
    return np.array([float(stat(*(a[i] for a in arrays))) for i in idx])


def seed_image_effect(treatment: Sequence[float], base: Sequence[float], treatment_boot: Any = None,
                      base_boot: Any = None) -> dict:
    """Mean over seeds of `treatment` minus mean over seeds of `base` (one metric value per trained seed),
    with a 95% interval from the seeds and the images together (see the module docstring).

    treatment_boot / base_boot: [seeds, n_boot] image-bootstrap replicates of each seed's metric (from
    `image_boot` with the same resamples for both), or None (seed variance only).
    Returns dict(effect, n, ci_low, ci_high, n_treatment, n_base, se_seed, se_image, df)."""
    from scipy import stats

    t = np.asarray(treatment, float)
    b = np.asarray(base, float)
    keep_t, keep_b = np.isfinite(t), np.isfinite(b)
    t, b = t[keep_t], b[keep_b]
    out = dict(effect=np.nan, n=int(len(t) + len(b)), ci_low=np.nan, ci_high=np.nan, n_treatment=int(len(t)),
               n_base=int(len(b)), se_seed=np.nan, se_image=np.nan, df=np.nan, p=np.nan)
    if not len(t) or not len(b):
        return out
    out["effect"] = float(t.mean() - b.mean())
    if len(t) < 2 or len(b) < 2:
        return out
    vt, vb = t.var(ddof=1) / len(t), b.var(ddof=1) / len(b)
    v_img = 0.0
    if treatment_boot is not None and base_boot is not None:
        tb = np.asarray(treatment_boot, float)[keep_t]
        bb = np.asarray(base_boot, float)[keep_b]
        if tb.shape[-1] != bb.shape[-1]:
            raise ValueError(f"image resamples differ: {tb.shape[-1]} vs {bb.shape[-1]}")
        d = tb.mean(axis=0) - bb.mean(axis=0)
        d = d[np.isfinite(d)]
        v_img = float(d.var(ddof=1)) if len(d) > 1 else 0.0
    v = vt + vb + v_img
    den = vt ** 2 / (len(t) - 1) + vb ** 2 / (len(b) - 1)
    df = float(v ** 2 / den) if den > 0 else np.inf
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * np.sqrt(v)
    p = float(2 * stats.t.sf(abs(out["effect"]) / np.sqrt(v), df)) if v > 0 else (0.0 if out["effect"] else 1.0)
    out.update(ci_low=out["effect"] - half, ci_high=out["effect"] + half, se_seed=float(np.sqrt(vt + vb)),
               se_image=float(np.sqrt(v_img)), df=df, p=p)
    return out


def lab_seed_effects(values: pd.DataFrame, recipes: pd.DataFrame, axis: str, metric: str, value: str = "value",
                     base: str = "base", recipe_col: str = "recipe", boot: str = "boot",
                     flags: Mapping[str, str] | None = None) -> list[dict]:
    """One effect per non-base lab recipe from per-seed values: `values` has one row per (recipe, seed) with
    `value` and optionally `boot` (that seed's image-bootstrap replicates, `image_boot`). The effect is the
    difference of seed means and its interval covers seeds and images (`seed_image_effect`). `flags` maps a
    recipe to a caveat appended to its comparison (e.g. it trains on the tested shift)."""
    v = values.dropna(subset=[value])
    if base not in set(v[recipe_col]):
        return []
    has_boot = boot in v.columns

    def arrays(r: str):
        g = v[v[recipe_col] == r].sort_values("seed")
        bt = np.stack([np.asarray(x, float) for x in g[boot]]) if has_boot and g[boot].notna().all() else None
        return g[value].to_numpy(float), bt

    bv, bb = arrays(base)
    rows = []
    for r in recipes.itertuples(index=False):
        if r.recipe == base or r.recipe not in set(v[recipe_col]) or r.factor not in LAB_FACTORS:
            continue
        tv, tb = arrays(r.recipe)
        e = seed_image_effect(tv, bv, tb, bb if tb is not None else None)
        flag = (flags or {}).get(r.recipe, "")
        comp = f"{r.recipe} vs {base}" + (f" (flagged: {flag})" if flag else "")
        rows.append(effect(LAB_FACTORS[r.factor], axis, metric, e["effect"], comp, "lab", n=e["n"],
                           ci=(e["ci_low"], e["ci_high"]), p=e["p"]))
    return rows


# ---- intervals over models (records) --------------------------------------------------------------

N_BOOT, LEVEL = 4000, 0.95


def _interval(boot: np.ndarray) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return (np.nan, np.nan)
    q = (1 - LEVEL) / 2
    return float(np.quantile(boot, q)), float(np.quantile(boot, 1 - q))


def percentile_interval(boot: np.ndarray) -> tuple[float, float, float]:
    """(ci_low, ci_high, p) of bootstrap replicates (NaN dropped): the 95% percentile interval and `boot_p`."""
    boot = np.asarray(boot, float)
    boot = boot[np.isfinite(boot)]
    if len(boot) < 2:
        return np.nan, np.nan, np.nan
    lo, hi = _interval(boot)
    return lo, hi, boot_p(boot)


def boot_p(boot: np.ndarray) -> float:
    """Two-sided bootstrap p-value against 0: twice the smaller share of resamples at or beyond 0 on either side
    (at least one resample's worth, since a finite bootstrap never shows p = 0)."""
    boot = np.asarray(boot, float)
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return np.nan
    tail = min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0)))
    return float(min(1.0, max(2 * tail, 1.0 / len(boot))))


def bootstrap_mean(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Mean of `values` with a percentile bootstrap interval (resampling the values). Returns dict(effect,
    n, ci_low, ci_high, p); with fewer than two values there is no interval (NaN)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) < 2:
        return dict(effect=float(v.mean()) if len(v) else np.nan, n=int(len(v)), ci_low=np.nan, ci_high=np.nan,
                    p=np.nan)
    rng = np.random.default_rng(seed)
    boot = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = _interval(boot)
    return dict(effect=float(v.mean()), n=int(len(v)), ci_low=lo, ci_high=hi, p=boot_p(boot))


def one_sample_t(values: Sequence[float]) -> dict:
    """Mean of per-seed values with a Student t interval and p over the seeds (n - 1 df); with fewer than two
    finite values, or no spread, no interval (NaN). Returns dict(effect, n, ci_low, ci_high, p)."""
    from scipy import stats

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    out = dict(effect=float(v.mean()) if len(v) else np.nan, n=len(v), ci_low=np.nan, ci_high=np.nan, p=np.nan)
    if len(v) < 2:
        return out
    se = v.std(ddof=1) / np.sqrt(len(v))
    if se == 0:
        return out
    h = float(stats.t.ppf(0.975, len(v) - 1)) * se
    out.update(ci_low=out["effect"] - h, ci_high=out["effect"] + h,
               p=float(2 * stats.t.sf(abs(out["effect"]) / se, len(v) - 1)))
    return out


def spearman_bootstrap(x: Sequence[float], y: Sequence[float], n_boot: int = 2000, seed: int = 0) -> dict:
    """Spearman's rank correlation of x with y with a percentile bootstrap interval and p over the (x, y) pairs
    (resamples where either side is constant are skipped: no rank correlation is defined there). dict(effect, n,
    ci_low, ci_high, p)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        if len(np.unique(x[i])) > 1 and len(np.unique(y[i])) > 1:
            boots.append(spearmanr(x[i], y[i]).statistic)
    lo, hi = np.nanquantile(boots, [0.025, 0.975]) if boots else (np.nan, np.nan)
    return dict(effect=rho, n=len(x), ci_low=float(lo), ci_high=float(hi), p=boot_p(np.asarray(boots, float)))


def column_gaps(treatment: np.ndarray, base: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the mean of the treatment group's rows minus the base group's (NaN-aware), and its bootstrap
    replicates [n_boot, columns] resampling the rows of both groups."""
    gaps = np.nanmean(treatment, 0) - np.nanmean(base, 0)
    rng = np.random.default_rng(seed)
    boot = np.stack([np.nanmean(treatment[rng.integers(0, len(treatment), len(treatment))], 0)
                     - np.nanmean(base[rng.integers(0, len(base), len(base))], 0) for _ in range(n_boot)])
    return gaps, boot


# ---- two models on the same images --------------------------------------------------------------

def discordant(a_right: Sequence[bool], b_right: Sequence[bool]) -> dict:
    """The discordant shares of two models' paired right/wrong outcomes on the same n images: a_only (A right, B
    wrong), b_only, their difference (A's accuracy minus B's) and n."""
    a, b = np.asarray(a_right, bool), np.asarray(b_right, bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes differ in length: {a.shape} vs {b.shape}")
    if not len(a):
        return dict(a_only=np.nan, b_only=np.nan, difference=np.nan, n=0)
    x, y = float((a & ~b).mean()), float((b & ~a).mean())
    return dict(a_only=x, b_only=y, difference=x - y, n=int(len(a)))


def paired_interval(a_only: float, b_only: float, n: int) -> tuple[float, float, int]:
    """(difference, its variance, n) from the discordant shares of n paired binary outcomes d in {-1, 0, 1}: the
    sample variance of d (ddof=1) over n, from the shares alone (so a table of shares gives the images' own
    interval)."""
    d = a_only - b_only
    if n < 2:
        return (d if n else np.nan, np.nan, int(n))
    return float(d), float(max(a_only + b_only - d * d, 0.0) / (n - 1)), int(n)


def mcnemar_exact(a_right: Sequence[bool], b_right: Sequence[bool]) -> float:
    """McNemar's exact two-sided p: the discordant pairs against a fair coin (`scipy.stats.binomtest`); 1 when no
    pair is discordant."""
    from scipy.stats import binomtest

    a, b = np.asarray(a_right, bool), np.asarray(b_right, bool)
    x, y = int((a & ~b).sum()), int((b & ~a).sum())
    return float(binomtest(x, x + y, 0.5).pvalue) if x + y else 1.0


N_PAIRED = 1000  # image resamples of a paired comparison


def paired_bootstrap(stat: Any, a: Sequence[Any], b: Sequence[Any], n_boot: int = N_PAIRED, seed: int = 0,
                     batched: bool = False) -> dict:
    """stat(A) minus stat(B) on the same images, with a percentile interval and p over image resamples.

    `a` and `b` are tuples of per-image arrays, one per image group (e.g. the ID set's and the OOD set's scores),
    aligned image by image between the two models: every resample draws each group's images with replacement and
    gives both models the same ones. `stat(*arrays)` -> float; with `batched`, `stat` takes arrays with a leading
    axis of resamples and returns one value per resample (the same resamples, evaluated a block at a time: a
    Python call per resample costs more than the statistic on a few hundred images). Returns dict(effect,
    value_a, value_b, n, ci_low, ci_high, p, se: the resamples' standard deviation)."""
    a, b = [np.asarray(x) for x in a], [np.asarray(x) for x in b]
    sizes = [len(x) for x in a]
    if sizes != [len(x) for x in b]:
        raise ValueError(f"the two models' images differ: {sizes} vs {[len(x) for x in b]}")
    if batched:
        va, vb = (float(np.asarray(stat(*[x[None] for x in side]), float).reshape(-1)[0]) for side in (a, b))
    else:
        va, vb = float(stat(*a)), float(stat(*b))
    out = dict(effect=va - vb, value_a=va, value_b=vb, n=int(sum(sizes)), ci_low=np.nan, ci_high=np.nan, p=np.nan,
               se=np.nan)
    if min(sizes, default=0) < 2:
        return out
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    block = max(1, int(2_000_000 // max(1, sum(sizes)))) if batched else 1  # resamples x images held at once
    for r0 in range(0, n_boot, block):
        draws = [[rng.integers(0, k, k) for k in sizes] for _ in range(min(block, n_boot - r0))]
        if batched:
            idx = [np.stack([d[g] for d in draws]) for g in range(len(sizes))]
            boot[r0:r0 + len(draws)] = np.asarray(stat(*[x[i] for x, i in zip(a, idx)]), float) - \
                np.asarray(stat(*[x[i] for x, i in zip(b, idx)]), float)
        else:
            boot[r0] = stat(*[x[i] for x, i in zip(a, draws[0])]) - stat(*[x[i] for x, i in zip(b, draws[0])])
    finite = boot[np.isfinite(boot)]
    out["ci_low"], out["ci_high"] = _interval(finite)
    out["p"], out["se"] = boot_p(boot), float(finite.std(ddof=1)) if len(finite) > 1 else np.nan
    return out
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for r in range(n_boot):
        idx = [rng.integers(0, k, k) for k in sizes]
        boot[r] = stat(*[x[i] for x, i in zip(a, idx)]) - stat(*[x[i] for x, i in zip(b, idx)])
    finite = boot[np.isfinite(boot)]
    out["ci_low"], out["ci_high"] = _interval(finite)
    out["p"], out["se"] = boot_p(boot), float(finite.std(ddof=1)) if len(finite) > 1 else np.nan
    return out


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
    `match` that hold both groups (each unit's rows averaged within a stratum first). Only the units with a value
    in such a stratum take part: they are counted (n_treatment, n_base) and resampled. The interval resamples the
    units (models) of each group with replacement, keeping each unit's strata together; a group of one model gives
    no interval (NaN): its model-to-model spread is unknown. The p-value comes from the same resamples.

    Returns dict(effect, n (units in both groups), n_treatment, n_base, n_strata, ci_low, ci_high, p).
    """
    strata = list(match)
    f = frame[frame[column].isin([treatment, base])].dropna(subset=[value, *strata])  # an unknown tag matches nothing
    key = f[strata].astype(str).agg("|".join, axis=1) if strata else pd.Series("all", index=f.index)
    f = f.assign(_stratum=key)
    per = f.groupby([column, unit, "_stratum"], observed=True)[value].mean().unstack("_stratum")
    cols = list(per.columns)
    t = per.loc[treatment].to_numpy(float) if treatment in per.index.get_level_values(0) else np.empty((0, len(cols)))
    b = per.loc[base].to_numpy(float) if base in per.index.get_level_values(0) else np.empty((0, len(cols)))
    both = np.isfinite(t).any(axis=0) & np.isfinite(b).any(axis=0)
    t, b = t[:, both], b[:, both]
    t, b = t[np.isfinite(t).any(axis=1)], b[np.isfinite(b).any(axis=1)]  # units in no shared stratum take no part
    out = dict(effect=np.nan, n=len(t) + len(b), n_treatment=len(t), n_base=len(b), n_strata=int(both.sum()),
               ci_low=np.nan, ci_high=np.nan, p=np.nan)
    if not len(t) or not len(b):
        return out

    def stat(tm: np.ndarray, bm: np.ndarray) -> np.ndarray:  # [..., units, strata] -> [...]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            d = np.nanmean(tm, axis=-2) - np.nanmean(bm, axis=-2)
            return np.nanmean(np.where(np.isfinite(d), d, np.nan), axis=-1)

    out["effect"] = float(stat(t, b))
    if len(t) < 2 or len(b) < 2:
        return out
    rng = np.random.default_rng(seed)
    boot = stat(t[rng.integers(0, len(t), size=(n_boot, len(t)))], b[rng.integers(0, len(b), size=(n_boot, len(b)))])
    out["ci_low"], out["ci_high"] = _interval(boot)
    out["p"] = boot_p(boot)
    return out


def matched_effect(frame: pd.DataFrame, column: str, treatment, base, value: str, match: Sequence[str] = (),
                   unit: str = "model", n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """`grouped_effect` matched on the `match` columns; with no stratum holding both groups it falls back to the
    unmatched contrast and says so (`matched` False)."""
    g = grouped_effect(frame, column, treatment, base, value, unit, match, n_boot, seed)
    if match and not g["n_strata"]:
        return dict(grouped_effect(frame, column, treatment, base, value, unit, (), n_boot, seed), n_strata=0,
                    matched=False)
    return dict(g, matched=bool(match))


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
                nde = "no detectable effect: " if covers_zero(r) else ""
                parts.append(f"{r['metric']} {nde}{fmt.format(r['effect']) if np.isfinite(r['effect']) else 'n/a'} "
                             f"({r['comparison']}; {r['source']}{'; ' + ci if ci else ''})")
            lines.append(f"- **{f}**: " + "; ".join(parts))
        else:
            why = not_measured.get(f, "not measured on this axis in this build")
            lines.append(f"- **{f}**: not measured here: {why}")
    return "\n".join(lines)


# the lab zoo's recipe factors (clipstudy.lab.zoo.FACTORS) -> the study's six factors
LAB_FACTORS: dict[str, str] = {k: factors.DISPLAY[k] for k in factors.TRAINING}


def lab_effects(values: pd.DataFrame, recipes: pd.DataFrame, axis: str, metric: str, value: str = "value",
                base: str = "base", recipe_col: str = "recipe") -> list[dict]:
    """One effect per non-base lab recipe: its `value` minus base's, under the recipe's factor.

    `values` has one row per recipe (recipe_col, value); `recipes` is `lab.zoo.frame()` (recipe,
    factor). Recipes without a value, or whose factor is not a study factor, are skipped; no base
    value means no effects at all.
    """
    if "seed" in values.columns and values.groupby(recipe_col)["seed"].nunique().max() > 1:
        return lab_seed_effects(values, recipes, axis, metric, value, base, recipe_col)
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
    if "seed" in t.columns and t.groupby(model_col)["seed"].nunique().max() > 1:
        per_seed = t.groupby([model_col, "seed"])[value].mean().rename("value").reset_index()
        rec = pd.DataFrame({"recipe": list(factors), "factor": [_LAB_OF.get(f, f) for f in factors.values()]})
        return effects_frame(lab_seed_effects(per_seed.rename(columns={model_col: "recipe"}), rec, axis, metric,
                                              base=base))
    per = t.groupby(model_col)[value].mean()
    if base not in per:
        return effects_frame([])
    return effects_frame([effect(fac, axis, metric, float(per[r] - per[base]), f"{r} vs {base}", source)
                          for r, fac in factors.items() if r != base and r in per and np.isfinite(per[r])])



_LAB_OF = {v: k for k, v in LAB_FACTORS.items()}  # study factor -> lab zoo factor


def covers_zero(row: Mapping[str, Any]) -> bool:
    """True when the row has a finite 95% interval that contains 0."""
    lo, hi = float(row.get("ci_low", np.nan)), float(row.get("ci_high", np.nan))
    return bool(np.isfinite(lo) and np.isfinite(hi) and lo <= 0 <= hi)


def effect_words(row: Mapping[str, Any], fmt: str = "{:+.3f}", unit: str = "") -> str:
    """An effect in words from its numbers: 'no detectable effect (+0.004, n=6, 95% CI [...])' when the interval
    covers 0, else '+0.052 (n=6, 95% CI [...])', or '+0.052 (no interval)' when there is none."""
    v = float(row.get("effect", np.nan))
    if not np.isfinite(v):
        return "not measured"
    ci = interval_text(row, fmt)
    num = fmt.format(v) + unit
    if not ci:
        return f"{num} (no interval)"
    if covers_zero(row):
        return f"no detectable effect ({num}, {ci})"
    return f"{num} ({ci})"


def direction_words(row: Mapping[str, Any], pos: str = "higher", neg: str = "lower") -> str:
    """`pos` / `neg` when the row's 95% interval excludes zero on that side; otherwise why no direction
    can be read (the interval covers zero, or there is none)."""
    v, lo, hi = (float(row.get(k, np.nan)) for k in ("effect", "ci_low", "ci_high"))
    if not np.isfinite(v):
        return "not measured"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{pos if v > 0 else neg} in this sample, with no interval (too few models)"
    if lo <= 0 <= hi:
        return "no detectable effect (the interval covers zero)"
    return pos if v > 0 else neg


# ---- a family of contrasts (claims) ---------------------------------------------------------------

def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted in the family): the k-th smallest
    of m p-values is multiplied by m - k + 1, made monotone, and capped at 1."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if not m:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out[order] = adj
    return out


def trend_residuals(x: Sequence[float], y: Sequence[float], fit_on: Sequence[bool] | None = None,
                    logit: bool = False) -> np.ndarray:
    """y minus a least-squares line in x fitted on the rows `fit_on` (default all), in logit space when `logit`
    (the effective-robustness convention: both axes are accuracies). What a metric is beyond what accuracy
    predicts."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if logit:
        from scipy.special import logit as lg

        x, y = lg(np.clip(x, 1e-4, 1 - 1e-4)), lg(np.clip(y, 1e-4, 1 - 1e-4))
    m = np.ones(len(x), bool) if fit_on is None else np.asarray(fit_on, bool)
    m = m & np.isfinite(x) & np.isfinite(y)
    if m.sum() < 2 or np.ptp(x[m]) == 0:
        return np.full(len(x), np.nan)
    b, a = np.polyfit(x[m], y[m], 1)
    return y - (a + b * x)
