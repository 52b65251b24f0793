"""Effective-robustness baselines: the logit-linear lines of ImageNet models that ER is measured against, and how
much a CLIP's ER moves when the line is refitted on another population of ImageNet models.

ER = acc_ood - f(acc_id), f a least-squares line of logit(acc_ood) on logit(acc_id) over the baseline models
(`metrics.effective_robustness`). The x-axis is always full 1000-class ImageNet accuracy; ImageNet-A and -R are
scored on their 200 classes in all three sources (timm's results files, the testbed, CLIP_benchmark).

- `timm_baseline`: timm's ImageNet models (every non-CLIP model of its results; the line `natural_shift_er` and
  the LAION grid use), shifts V2, Sketch, R, A;
- `testbed_baseline`: Taori et al.'s testbed, its non-CLIP networks (imagenet-x's model types less the four that
  are not networks: random features, linear pixels, random forests, nearest neighbours), shifts V2
  (matched-frequency), Sketch, R, A and ObjectNet;
- `er_points`: ER of any points (model, dataset, id_acc, ood_acc) under a baseline;
- `sensitivity` / `sensitivity_summary`: each CLIP's ER under several baselines and its move.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ..metrics.robustness import LogitFit, logit_fit
from . import tags as T
from .contrasts import mean_of

SHIFTS = ("imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a")  # the shifts timm and the testbed share
ID = "imagenet"


@dataclass(frozen=True)
class Baseline:
    """One line per shift (`fits`), fitted over the models named in `models` (per shift), called `name`."""

    name: str
    fits: Mapping[str, LogitFit]
    models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """One row per shift: baseline, dataset, slope, intercept, n, r2 (the fit is in logit space)."""
        return pd.DataFrame([{"baseline": self.name, "dataset": s, "slope": f.slope, "intercept": f.intercept,
                              "n": f.n, "r2": f.r2} for s, f in self.fits.items()])


def fit_baseline(name: str, wide: pd.DataFrame, shifts: Iterable[str]) -> Baseline:
    """A baseline from a model x dataset frame of fractions (index: model; `imagenet` and each shift as columns):
    each shift's line over the models with both accuracies. A shift absent from `wide` gets no line."""
    fits, models = {}, {}
    for s in shifts:
        if s not in wide.columns or ID not in wide.columns:
            continue
        b = wide[[ID, s]].dropna()
        if len(b) < 2:
            continue
        fits[s] = logit_fit(b[ID].to_numpy(), b[s].to_numpy())
        models[s] = tuple(b.index)
    return Baseline(name, fits, models)


def accuracy_wide(frame: pd.DataFrame, datasets: Iterable[str] | None = None) -> pd.DataFrame:
    """model x dataset top-1 (fractions) of a tidy records frame (`metric == 'acc1'`)."""
    acc = frame[frame["metric"] == "acc1"]
    if datasets is not None:
        acc = acc[acc["dataset"].isin(list(datasets))]
    return acc.pivot_table(index="model", columns="dataset", values="value", aggfunc="first")


def timm_baseline(timm: pd.DataFrame, shifts: Iterable[str] = SHIFTS, data: Iterable[str] | None = None) -> Baseline:
    """Lines over timm's ImageNet models (group 'ImageNet model': every model that is not a CLIP fine-tune);
    `data` restricts them to training sources (e.g. ("imagenet-1k",))."""
    t = timm[timm["group"] == T.IMAGENET]
    if data is not None:
        t = t[t["data"].isin(list(data))]
    return fit_baseline("timm" if data is None else f"timm ({', '.join(data)})", accuracy_wide(t), shifts)


def testbed_baseline(testbed: pd.DataFrame, shifts: Iterable[str] = (*SHIFTS, "objectnet"),
                     types: Iterable[str] | None = None, name: str = "testbed") -> Baseline:
    """Lines over the testbed's ImageNet models: its non-CLIP networks (every imagenet-x model type but the four
    that are not networks, `testbed.NOT_NETWORKS`), or the model types `types` (e.g. ("Supervised on
    ImageNet-1K",) for standard training only)."""
    from .testbed import NOT_NETWORKS

    t = testbed[testbed["group"] == T.IMAGENET]
    t = t[t["model_type"].isin(list(types))] if types is not None else t[~t["model_type"].isin(NOT_NETWORKS)]
    return fit_baseline(name, accuracy_wide(t), shifts)


def points_from_wide(wide: pd.DataFrame, shifts: Iterable[str], info: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long points (model, dataset, id_acc, ood_acc) from a model x dataset frame; `info` (indexed by model) adds
    columns such as tags. Models without ImageNet or without the shift are left out."""
    rows = []
    for s in shifts:
        if s not in wide.columns or ID not in wide.columns:
            continue
        b = wide[[ID, s]].dropna()
        rows.append(pd.DataFrame({"model": b.index, "dataset": s, "id_acc": b[ID].to_numpy(),
                                  "ood_acc": b[s].to_numpy()}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["model", "dataset", "id_acc",
                                                                                   "ood_acc"])
    return out.join(info, on="model") if info is not None else out


def er_points(points: pd.DataFrame, baseline: Baseline) -> pd.DataFrame:
    """`points` (model, dataset, id_acc, ood_acc, ...) with the baseline's predicted accuracy, er (in accuracy),
    and the line (baseline, fit_slope, fit_intercept, fit_n, fit_r2); each row keeps its index. Rows of a shift the
    baseline has no line for are left out."""
    parts = []
    for s, g in points.groupby("dataset", sort=False):
        fit = baseline.fits.get(s)
        if fit is None:
            continue
        g = g.copy()
        g["predicted"] = fit(g["id_acc"].to_numpy(float))
        g["er"] = g["ood_acc"].to_numpy(float) - g["predicted"]
        g["baseline"] = baseline.name
        g["fit_slope"], g["fit_intercept"], g["fit_n"], g["fit_r2"] = fit.slope, fit.intercept, fit.n, fit.r2
        parts.append(g)
    if not parts:
        return points.iloc[0:0].assign(predicted=np.nan, er=np.nan, baseline=baseline.name)
    return pd.concat(parts).sort_index()  # the rows keep their index, in their order


def clip_points(open_clip: pd.DataFrame, timm: pd.DataFrame | None = None,
                shifts: Iterable[str] = SHIFTS) -> pd.DataFrame:
    """The CLIPs whose ER a baseline decides: open_clip's zero-shot CLIPs, one row per checkpoint
    (`tables.open_clip_checkpoints`), and timm's ImageNet fine-tuned CLIPs; long (model, dataset, id_acc,
    ood_acc) with source, group, family, data, loss."""
    from .tables import open_clip_checkpoints

    shifts = list(shifts)
    info_cols = ["source", "group", "family", "data", "loss"]
    oc = open_clip_checkpoints(open_clip)
    frames = [(oc, None)]
    if timm is not None:
        frames.append((timm, T.CLIP_FT))
    parts = []
    for f, group in frames:
        f = f if group is None else f[f["group"] == group]
        info = f.drop_duplicates("model").set_index("model")[info_cols]
        parts.append(points_from_wide(accuracy_wide(f, [ID, *shifts]), shifts, info))
    return pd.concat(parts, ignore_index=True)


def sensitivity(points: pd.DataFrame, baselines: Iterable[Baseline], reference: str | None = None) -> pd.DataFrame:
    """Each point's ER under every baseline, and how far it moves from the reference baseline's (default: the
    first): one row per (model, dataset) with id_acc, ood_acc, er_<name> per baseline, and diff_<name> =
    er_<name> - er_<reference> for the others. Only shifts every baseline has a line for are kept."""
    baselines = list(baselines)
    reference = reference or baselines[0].name
    shared = set.intersection(*(set(b.fits) for b in baselines))
    p = points[points["dataset"].isin(shared)].copy()
    for b in baselines:
        p[f"er_{b.name}"] = er_points(p, b)["er"]
    for b in baselines:
        if b.name != reference:
            p[f"diff_{b.name}"] = p[f"er_{b.name}"] - p[f"er_{reference}"]
    return p.reset_index(drop=True)


def sensitivity_summary(sens: pd.DataFrame, baselines: Iterable[Baseline], reference: str | None = None,
                        by: Iterable[str] = ("dataset",), n_boot: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Per (dataset, other baseline): n (models), the mean ER move with its bootstrap interval over models and p
    (`contrasts.mean_of`), mean and largest absolute move, and how many models' ER changes sign; plus both lines'
    slopes and intercepts. With fewer than 5 models the note says n is too small."""
    from .. import effects as E

    baselines = list(baselines)
    reference = reference or baselines[0].name
    ref = next(b for b in baselines if b.name == reference)
    rows = []
    for b in baselines:
        if b.name == reference:
            continue
        for keys, g in sens.groupby(list(by), sort=True):
            keys = keys if isinstance(keys, tuple) else (keys,)
            d = g[f"diff_{b.name}"].dropna()
            res = mean_of(d.to_numpy(), n_boot=n_boot or E.N_BOOT, seed=seed)
            flips = int((np.sign(g[f"er_{b.name}"]) != np.sign(g[f"er_{reference}"])).sum())
            ds = dict(zip(by, keys)).get("dataset")
            rows.append({**dict(zip(by, keys)), "baseline": b.name, "reference": reference,
                         **{k: res[k] for k in ("effect", "n", "ci_low", "ci_high", "p", "note")},
                         "mean_abs_move": float(d.abs().mean()) if len(d) else np.nan,
                         "max_abs_move": float(d.abs().max()) if len(d) else np.nan, "sign_changes": flips,
                         "slope": b.fits[ds].slope if ds in b.fits else np.nan,
                         "intercept": b.fits[ds].intercept if ds in b.fits else np.nan,
                         "n_baseline": b.fits[ds].n if ds in b.fits else 0,
                         "reference_slope": ref.fits[ds].slope if ds in ref.fits else np.nan,
                         "reference_intercept": ref.fits[ds].intercept if ds in ref.fits else np.nan,
                         "n_reference": ref.fits[ds].n if ds in ref.fits else 0})
    return pd.DataFrame(rows)


__all__ = ["Baseline", "SHIFTS", "fit_baseline", "accuracy_wide", "timm_baseline", "testbed_baseline",
           "points_from_wide", "er_points", "clip_points", "sensitivity", "sensitivity_summary"]
