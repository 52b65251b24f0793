"""Test-time prompts on 21 real zero-shot CLIPs (`frequency_determines_performance`): each model under three prompt
sets, so every contrast is paired within a model.

- `prompt_points`: each (model, prompt set) on ImageNet, and its ER on ImageNet-Sketch and -R (id_acc: ImageNet
  top-1 under the same prompt set) against an ER baseline (`baselines.timm_baseline`);
- `prompt_table`: one row per (model, prompt set, metric): ImageNet top-1, ER per shift and ER averaged over the
  shifts;
- `prompt_effects`: ensemble minus one template, and one template minus the bare class name, per metric, paired
  over models with a bootstrap interval over models (`contrasts.paired`);
- `class_effects` / `top_classes`: per class, the mean change over models of its accuracy, with the same bootstrap
  over models for every class, and the classes the ensemble helps or hurts most.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import effects as E
from .baselines import Baseline, er_points
from .contrasts import paired, small_note

SHIFTS = ("imagenet-sketch", "imagenet-r")
CONTRASTS = (("ensemble", "simple"), ("simple", "class"))  # (treatment, base): each paired per model
LABEL = {"class": "bare class name", "simple": "one template", "ensemble": "80-template ensemble"}
TOP1, ER_MEAN = "imagenet top-1", "ER (mean over Sketch, R)"
INFO = ["checkpoint_kind", "gelu_built", "family", "data", "dataset_size", "loss", "released_by"]


def prompt_points(freq: pd.DataFrame, baseline: Baseline, shifts: Iterable[str] = SHIFTS,
                  exclude: Iterable[str] = ()) -> pd.DataFrame:
    """One row per (model, prompt set, shift): id_acc (ImageNet top-1 under that prompt set), ood_acc, predicted,
    er (`baselines.er_points`), the line, and the model's checkpoint kind, gelu_built and tags. `exclude` leaves
    models out by name."""
    f = freq[(freq["metric"] == "acc1") & ~freq["model"].isin(list(exclude))]
    wide = f.pivot_table(index=["model", "prompt_set"], columns="dataset", values="value", aggfunc="first")
    rows = []
    for s in shifts:
        if s not in wide.columns or "imagenet" not in wide.columns:
            continue
        b = wide[["imagenet", s]].dropna().reset_index()
        rows.append(pd.DataFrame({"model": b["model"], "prompt_set": b["prompt_set"], "dataset": s,
                                  "id_acc": b["imagenet"], "ood_acc": b[s]}))
    pts = er_points(pd.concat(rows, ignore_index=True), baseline).reset_index(drop=True)
    info = f.drop_duplicates("model").set_index("model")[INFO]
    return pts.join(info, on="model")


def prompt_table(points: pd.DataFrame) -> pd.DataFrame:
    """Long, one row per (model, prompt set, metric): `imagenet top-1`, `ER <shift>` for each shift and
    `ER (mean over Sketch, R)` (only models scored on every shift), with value and the model's info columns."""
    k = points["dataset"].nunique()
    top1 = points.drop_duplicates(["model", "prompt_set"])[["model", "prompt_set", "id_acc"]] \
        .rename(columns={"id_acc": "value"}).assign(metric=TOP1)
    per = points[["model", "prompt_set", "dataset", "er"]].rename(columns={"er": "value"})
    per["metric"] = "ER " + per["dataset"]
    g = points.groupby(["model", "prompt_set"])["er"].agg(["mean", "count"]).reset_index()
    mean = g[g["count"] == k].rename(columns={"mean": "value"})[["model", "prompt_set", "value"]].assign(metric=ER_MEAN)
    out = pd.concat([top1, per.drop(columns="dataset"), mean], ignore_index=True)
    info = points.drop_duplicates("model").set_index("model")[[c for c in INFO if c in points.columns]]
    return out.join(info, on="model")[["model", "prompt_set", "metric", "value", *info.columns]]


def prompt_effects(table: pd.DataFrame, contrasts: Sequence[tuple[str, str]] = CONTRASTS,
                   metrics: Iterable[str] | None = None, n_boot: int = E.N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per (contrast, metric): treatment minus base averaged over the models scored under both, paired per model
    (`contrasts.paired`: effect, n pairs, ci_low, ci_high, p from one bootstrap over models; under 5 pairs a note
    and no interval). Columns: treatment, base, comparison, metric, effect, n, n_treatment, n_base, ci_low, ci_high,
    p, note."""
    metrics = list(metrics) if metrics is not None else list(dict.fromkeys(table["metric"]))
    rows = []
    for t, b in contrasts:
        for m in metrics:
            res = paired(table[table["metric"] == m], "model", "prompt_set", t, b, "value", n_boot=n_boot, seed=seed)
            rows.append({"treatment": t, "base": b, "comparison": f"{LABEL.get(t, t)} minus {LABEL.get(b, b)}",
                         "metric": m, **res})
    return pd.DataFrame(rows)


def _boot_columns(diffs: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, classes] means of the rows of `diffs` ([models, classes]) over resampled models: the resamples
    `effects.bootstrap_mean` draws for that many models and that seed, shared by every class."""
    n = diffs.shape[0]
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    return counts @ diffs / n


def class_effects(per_class: pd.DataFrame, treatment: str = "ensemble", base: str = "simple",
                  datasets: Iterable[str] | None = None, exclude: Iterable[str] = (), n_boot: int = E.N_BOOT,
                  seed: int = 0) -> pd.DataFrame:
    """Per (dataset, class): the mean over models of the class's accuracy under `treatment` minus under `base`
    (fractions), with a 95% bootstrap interval over models and its p (every class resampled with the same model
    draws, those `effects.bootstrap_mean` makes), the share of models it helps and hurts, both means, n (models)
    and note. Sorted by dataset, then effect (largest gain first); `rank` counts from the largest gain,
    `rank_hurt` from the largest loss.

    The view ranks classes; it tests none. A bootstrap p cannot fall below 1/n_boot, so over 1000 classes no
    multiple-comparison correction could leave one below 0.05 with 4000 resamples: read the intervals as how
    stable each class's change is across models, not as 1000 tests."""
    f = per_class[per_class["prompt_set"].isin([treatment, base]) & ~per_class["model"].isin(list(exclude))]
    if datasets is not None:
        f = f[f["dataset"].isin(list(datasets))]
    out = []
    for ds, g in f.groupby("dataset", sort=True):
        w = g.pivot_table(index=["model", "class"], columns="prompt_set", values="value", aggfunc="first")
        if treatment not in w or base not in w:
            continue
        d = (w[treatment] - w[base]).unstack("class")  # models x classes
        complete = d.columns[d.notna().all()]
        full = d[complete].to_numpy(float)
        n = full.shape[0]
        note = small_note({"": n}, "models")
        res = pd.DataFrame({"dataset": ds, "class": complete, "effect": full.mean(axis=0), "n": n})
        if n >= 2 and not note:
            boot = _boot_columns(full, n_boot, seed)
            q = (1 - E.LEVEL) / 2
            res["ci_low"], res["ci_high"] = np.quantile(boot, [q, 1 - q], axis=0)  # as `effects` does, per class
            res["p"] = [E.boot_p(boot[:, j]) for j in range(boot.shape[1])]
        else:
            res["ci_low"] = res["ci_high"] = res["p"] = np.nan
        res["note"] = note
        res["share_helped"] = (full > 0).mean(axis=0)
        res["share_hurt"] = (full < 0).mean(axis=0)
        res["mean_treatment"] = w[treatment].unstack("class")[complete].mean().to_numpy()
        res["mean_base"] = w[base].unstack("class")[complete].mean().to_numpy()
        res = res.sort_values("effect", ascending=False, kind="stable").reset_index(drop=True)
        res["rank"] = np.arange(1, len(res) + 1)
        res["rank_hurt"] = res["effect"].rank(method="first").astype(int)
        res["treatment"], res["base"] = treatment, base
        out.append(res)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def top_classes(effects: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The `k` classes a prompt change helps most and the `k` it hurts most, per dataset (`direction`: helps |
    hurts), from `class_effects`."""
    parts = []
    for ds, g in effects.groupby("dataset", sort=True):
        parts.append(g.nsmallest(k, "rank").assign(direction="helps"))
        parts.append(g.nsmallest(k, "rank_hurt").assign(direction="hurts"))
    return pd.concat(parts, ignore_index=True) if parts else effects.iloc[0:0]


__all__ = ["SHIFTS", "CONTRASTS", "LABEL", "TOP1", "ER_MEAN", "prompt_points", "prompt_table", "prompt_effects",
           "class_effects", "top_classes"]
