"""Tables computed from decision records (`records.decisions`): shape bias, OOD accuracy and error
consistency with humans, each with the deciders' tags, via the pure functions of `clipstudy.metrics`.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .decisions import CUE_CONFLICT, models

KEYS = ["source", "model", "prompts"]
_NONE = "-"  # stands in for a missing prompts value in group keys

# model-vs-human's benchmark leaves these conditions out of its dataset means (plotting/plot.py,
# EXCLUDE_CONDITIONS): the unmanipulated control, and levels where humans are below 20% correct.
MVH_EXCLUDED_CONDITIONS: dict[str, tuple[str, ...]] = {
    "colour": ("cr",), "contrast": ("c100", "c03", "c01"), "high-pass": ("inf", "0.55", "0.45", "0.4"),
    "low-pass": ("0", "15", "40"), "phase-scrambling": ("0", "150", "180"), "power-equalisation": ("0",),
    "false-colour": ("True",), "rotation": ("0",), "eidolonI": ("1-10-10", "64-10-10", "128-10-10"),
    "eidolonII": ("1-3-10", "32-3-10", "64-3-10", "128-3-10"),
    "eidolonIII": ("1-0-10", "16-0-10", "32-0-10", "64-0-10", "128-0-10"), "uniform-noise": ("0.0", "0.6", "0.9"),
}


def _canon(condition: str) -> str:
    """One spelling per level: '0.00' and '0.0' (numbers), 'True' and 'true'."""
    try:
        return repr(float(condition))
    except ValueError:
        return condition.lower()


def excluded(dataset: pd.Series, condition: pd.Series) -> pd.Series:
    """Whether each (dataset, condition) is one model-vs-human's benchmark leaves out."""
    drop = {(d, _canon(c)) for d, cs in MVH_EXCLUDED_CONDITIONS.items() for c in cs}
    return pd.Series([(d, _canon(c)) in drop for d, c in zip(dataset, condition)], index=dataset.index)


def condition_order(conditions) -> list[str]:
    """Levels in the order of their first number ('c05' < 'c10' < 'c100'; 'inf' last); the rest as they come."""
    def key(c: str):
        if c.lower() == "inf":
            return (0, math.inf, c)
        m = re.search(r"\d+(?:\.\d+)?", c)
        return (0, float(m.group()), c) if m else (1, 0.0, c)
    return sorted(dict.fromkeys(conditions), key=key)


def _with_info(table: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    info = models(decisions).assign(prompts=lambda d: d["prompts"].fillna(_NONE))
    out = table.assign(prompts=table["prompts"].fillna(_NONE)).merge(info, on=KEYS, how="left")
    out["prompts"] = out["prompts"].replace(_NONE, None)
    return out


def shape_bias_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, model, prompts) on the cue-conflict images: shape_bias, n_shape, n_texture,
    n_other, n_conflict, and the decider's tags.

    `metrics.shape_bias` over conflict images only: images whose shape class equals their texture
    class (80 of the 1,280) carry no conflict and are left out, as model-vs-human's ShapeBias does.
    """
    from ..metrics import shape_bias, shape_texture_hits

    d = decisions[decisions["dataset"] == CUE_CONFLICT]
    rows = []
    for (src, model, prompts), g in d.groupby([d["source"], d["model"], d["prompts"].fillna(_NONE)], sort=False):
        args = (g["decision"].to_numpy(), g["shape"].to_numpy(), g["texture"].to_numpy())
        h = shape_texture_hits(*args)
        rows.append(dict(source=src, model=model, prompts=prompts, shape_bias=shape_bias(*args),
                         n_shape=h["shape_hits"], n_texture=h["texture_hits"], n_other=h["other"],
                         n_conflict=h["n_conflict"]))
    out = pd.DataFrame(rows, columns=[*KEYS, "shape_bias", "n_shape", "n_texture", "n_other", "n_conflict"])
    return _with_info(out.assign(prompts=out["prompts"].replace(_NONE, None)), decisions)


def ood_accuracy_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (source, model, dataset, condition) on every dataset but cue-conflict: accuracy
    (decision == category; a non-answer is wrong), n, excluded (a level model-vs-human's benchmark
    leaves out), and the decider's tags."""
    d = decisions[decisions["dataset"] != CUE_CONFLICT]
    correct = (d["decision"] == d["category"]).rename("correct")
    g = correct.groupby([d["source"], d["model"], d["prompts"].fillna(_NONE), d["dataset"], d["condition"]],
                        sort=False)
    out = g.agg(accuracy="mean", n="size").reset_index()
    out["prompts"] = out["prompts"].replace(_NONE, None)
    out["excluded"] = excluded(out["dataset"], out["condition"]).to_numpy()
    return _with_info(out, decisions)


def dataset_accuracy(table: pd.DataFrame, exclude: bool = False) -> pd.DataFrame:
    """Accuracy per (source, model, dataset) over all its images (or only the benchmark's conditions)."""
    t = table[~table["excluded"]] if exclude else table
    keys = ["source", "model", "dataset"]
    w = t.assign(hits=t["accuracy"] * t["n"]).groupby(keys, as_index=False)[["hits", "n"]].sum()
    w["accuracy"] = w["hits"] / w["n"]
    info = t.drop_duplicates(keys).drop(columns=["condition", "accuracy", "n", "excluded"])
    return w.drop(columns="hits").merge(info, on=keys, how="left")


def error_consistency_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """Error consistency (Cohen's kappa, `metrics.error_consistency`) of every decider with every human
    observer, per (dataset, condition), over the images both saw. A human is compared with the other
    humans. Columns: dataset, condition, source, model, kind, reference, n, p1, p2, c_obs, c_exp, kappa."""
    from ..metrics import error_consistency

    d = decisions.assign(correct=(decisions["decision"] == decisions["category"]).astype(float),
                         decider=decisions["source"] + "|" + decisions["model"])
    rows = []
    for ds, g in d.groupby("dataset", sort=True):
        wide = g.pivot_table(index=["condition", "image"], columns="decider", values="correct", aggfunc="first")
        kinds = g.drop_duplicates("decider").set_index("decider")["kind"]
        cols = list(wide.columns)
        humans = [j for j, c in enumerate(cols) if kinds[c] == "human"]
        conds = wide.index.get_level_values("condition")
        for cond in dict.fromkeys(conds):
            w = wide.to_numpy()[np.asarray(conds == cond)]
            seen = ~np.isnan(w)
            for j, dec in enumerate(cols):
                for r in humans:
                    both = seen[:, j] & seen[:, r]
                    if r == j or not both.any():
                        continue
                    k = error_consistency(w[both, j].astype(bool), w[both, r].astype(bool))
                    src, model = dec.split("|", 1)
                    rows.append(dict(dataset=ds, condition=cond, source=src, model=model, kind=kinds[dec],
                                     reference=cols[r].split("|", 1)[1], **k))
    return pd.DataFrame(rows, columns=["dataset", "condition", "source", "model", "kind", "reference", "n", "p1",
                                       "p2", "c_obs", "c_exp", "kappa"])


def error_consistency_summary(table: pd.DataFrame, decisions: pd.DataFrame | None = None,
                              exclude: bool = True) -> pd.DataFrame:
    """Kappa per (source, model, dataset) as model-vs-human reports it: the mean over human references
    in each condition, then the mean over the dataset's conditions (`exclude`: without the levels its
    benchmark leaves out). Adds n_humans and n_conditions, and the tags when `decisions` is given."""
    t = table[~excluded(table["dataset"], table["condition"])] if exclude else table
    per_cond = t.groupby(["source", "model", "kind", "dataset", "condition"], as_index=False).agg(
        kappa=("kappa", "mean"), n_humans=("reference", "nunique"))
    out = per_cond.groupby(["source", "model", "kind", "dataset"], as_index=False).agg(
        kappa=("kappa", "mean"), n_humans=("n_humans", "max"), n_conditions=("condition", "nunique"))
    if decisions is not None:
        info = models(decisions).drop(columns=["prompts", "kind"])
        out = out.merge(info.drop_duplicates(["source", "model"]), on=["source", "model"], how="left")
    return out


def humans_pooled(table: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """The human observers' mean of `value` per `by` (e.g. dataset, condition), as one decider 'humans'."""
    h = table[table["kind"] == "human"]
    out = h.groupby(by, as_index=False)[value].mean()
    return out.assign(model="humans", kind="human", n_subjects=h.groupby(by)["model"].nunique().to_numpy())
