"""Visual factors (chapter 03): ImageNet-X records and the lab's one-factor-out-of-range sweeps.

Lab error ratio: (1 - acc_factor) / (1 - acc_control), where the control is the same scenes with
no factor shifted (`factor == "none"` in lab-factors). ImageNet-X divides by the overall accuracy
instead; in the lab the unshifted control is the cleaner reference, since every factor row is a
copy of a control scene with only that factor changed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .effects import effect, matched_contrast

CONTROL = "none"


def lab_factor_table(correct: Any, factor: Any, control: str = CONTROL) -> pd.DataFrame:
    """Per shifted factor: accuracy, count, control accuracy, error ratio against the control.

    `correct` [N] booleans; `factor` [N] the name of the factor shifted in each image (`control`
    for unshifted copies). Uses metrics.factor_accuracies on the one-hot factor columns.
    """
    from ..metrics import error_ratio, factor_accuracies

    f = pd.Series(np.asarray(factor), name="factor").astype(str)
    if control not in set(f):
        raise ValueError(f"lab_factor_table: no control images (factor == {control!r}); got {sorted(set(f))}")
    onehot = pd.get_dummies(f).astype(int)
    names = [control] + [c for c in onehot.columns if c != control]
    t = factor_accuracies(np.asarray(correct, dtype=bool), onehot, names)
    ctrl = float(t.loc[t["factor"] == control, "accuracy"].iloc[0])
    t["control_accuracy"] = ctrl
    t["error_ratio"] = error_ratio(t["accuracy"].to_numpy(), ctrl)
    return t[t["factor"] != control].reset_index(drop=True)


def lab_factor_matrix(correct: Any, factor: Any, control: str = CONTROL) -> tuple[np.ndarray, list[str]]:
    """([n_scenes, 1 + k] 0/1 hits, [control, factor names]) from a lab-factors evaluation: each scene's control
    copy and its k shifted copies side by side (images of one factor keep the scenes' order), so resampling
    rows resamples whole scenes."""
    f = np.asarray(factor).astype(str)
    c = np.asarray(correct, dtype=float)
    names = [control] + sorted(set(f) - {control})
    cols = [c[f == n] for n in names]
    if len({len(x) for x in cols}) != 1:
        raise ValueError(f"lab_factor_matrix: factors have different scene counts {[len(x) for x in cols]}")
    return np.stack(cols, axis=1), names


def lab_factor_er(acc: pd.DataFrame, model: str = "model") -> pd.DataFrame:
    """Effective robustness per visual factor: for each factor, a logit-linear line over every model in `acc`
    (columns model, factor, accuracy, control_accuracy: `lab_factor_table` rows) predicts the factor's
    accuracy from the control accuracy; ER = accuracy - line(control). Unlike the error ratio
    (1 - acc_f) / (1 - acc_control), whose denominator shrinks as a model gets better, ER asks whether a
    model does better on the factor than its overall accuracy predicts, so it does not move with accuracy
    along the zoo's trend. Adds columns predicted, er, fit_slope, fit_intercept, fit_n."""
    from ..metrics import effective_robustness

    out = []
    for fac, g in acc.groupby("factor"):
        g = g.copy()
        try:
            er, fit = effective_robustness(g["control_accuracy"], g["accuracy"], g["control_accuracy"], g["accuracy"])
            g["er"], g["fit_slope"], g["fit_intercept"], g["fit_n"] = np.asarray(er), fit.slope, fit.intercept, fit.n
        except ValueError:  # fewer than two models, or all at one control accuracy: no line
            g["er"], g["fit_slope"], g["fit_intercept"], g["fit_n"] = np.nan, np.nan, np.nan, len(g)
        g["predicted"] = g["accuracy"] - g["er"]
        out.append(g)
    return pd.concat(out, ignore_index=True) if out else acc.assign(er=np.nan)


def lab_factor_er_boot(matrix: np.ndarray, names: list[str], fits: pd.DataFrame, n_boot: int | None = None
                       ) -> np.ndarray:
    """Scene-bootstrap replicates [n_boot] of one model's ER averaged over factors, each factor's line held
    at `fits` (one row per factor with fit_slope, fit_intercept, fit_n). The same scene resamples are used
    for every model (`effects.image_resamples`), so differences between models are paired."""
    from ..metrics import LogitFit
    from .effects import LAB_BOOT, image_resamples

    idx = image_resamples(len(matrix), n_boot or LAB_BOOT)
    means = matrix[idx].mean(axis=1)  # [n_boot, 1 + k]
    f = fits.drop_duplicates("factor").set_index("factor")
    ers = []
    for j, name in enumerate(names[1:], start=1):
        if name not in f.index or not np.isfinite(f.loc[name, "fit_slope"]):
            continue
        line = LogitFit(f.loc[name, "fit_slope"], f.loc[name, "fit_intercept"], int(f.loc[name, "fit_n"]), np.nan)
        ers.append(means[:, j] - np.asarray(line(means[:, 0]), float))
    return np.mean(ers, axis=0) if ers else np.full(len(idx), np.nan)


def records_factor_table(clip_vs_rest: pd.DataFrame) -> pd.DataFrame:
    """Long frame (factor, who, error_ratio, er) from `records.imagenet_x_clip_vs_rest` for plotting."""
    rows = []
    for who in ("clip", "rest"):
        rows.append(pd.DataFrame({"factor": clip_vs_rest["factor"],
                                  "who": "zero-shot CLIP" if who == "clip" else "ImageNet models",
                                  "error_ratio": clip_vs_rest[f"error_ratio_{who}"], "er": clip_vs_rest[f"er_{who}"]}))
    return pd.concat(rows, ignore_index=True)


def records_effects(factors: pd.DataFrame, axis: str = "visual factors",
                    metric: str = "per-factor ER (mean over 16 ImageNet-X factors)") -> list[dict]:
    """Six-factor contrasts in the ImageNet-X records (4 zero-shot OpenAI CLIPs among 389 models).

    architecture: ViT minus ResNet zero-shot CLIPs; training distribution: zero-shot CLIPs (WIT,
    image-text) minus the baseline ImageNet models. Both use each model's mean per-factor ER.
    """
    per_model = factors.groupby(["model", "testbed", "group", "family", "baseline"], dropna=False)["er"].mean()
    per_model = per_model.reset_index()
    zs = per_model[per_model["group"] == "zero-shot CLIP"]
    a = matched_contrast(zs, "family", "vit", "resnet", "er")
    sub = per_model[(per_model["group"] == "zero-shot CLIP") | per_model["baseline"]]
    d = matched_contrast(sub, "group", "zero-shot CLIP", "ImageNet model", "er")
    return [
        effect("architecture", axis, metric, a["effect"],
               f"ViT vs ResNet zero-shot OpenAI CLIPs (n={a['n_treatment']} vs {a['n_base']})", "records"),
        effect("training distribution", axis, metric, d["effect"],
               f"zero-shot CLIPs (WIT) vs ImageNet models (n={d['n_treatment']} vs {d['n_base']}; "
               "data and objective change together)", "records"),
    ]


# ---- records: model-vs-human's 17 OOD sets, humans against CLIPs and ImageNet models ---------------

MVH_AXIS = "visual factors"
PARAMETRIC = ("colour", "contrast", "high-pass", "low-pass", "phase-scrambling", "power-equalisation",
              "false-colour", "rotation", "eidolonI", "eidolonII", "eidolonIII", "uniform-noise")
NONPARAMETRIC = ("sketch", "stylized", "edge", "silhouette")
MVH_FOLDERS = ("model_vs_human", "model_vs_human_clip")
CLIPS = {"clip": "CLIP ViT-B/32", "clip-16": "CLIP ViT-B/16", "clip-14": "CLIP ViT-L/14"}


def mvh_decisions(root=None) -> pd.DataFrame:
    """Every model-vs-human decision: humans and the `swag` branch's models, plus the CLIP fork's CLIPs."""
    from .. import records

    return pd.concat([records.load("model_vs_human", root), records.load("model_vs_human_clip", root)],
                     ignore_index=True)


def decider_label(model: str, arch: str, kind: str) -> str:
    """Display name: the three CLIPs by architecture, humans pooled, models by architecture."""
    return "humans" if kind == "human" else CLIPS.get(model, arch)


def mvh_panel(acc: pd.DataFrame, models: tuple[str, ...] = ("clip", "clip-16", "clip-14", "resnet50"),
              swag: bool = True) -> pd.DataFrame:
    """The chapter's deciders from `records.ood_accuracy_table`: the three CLIPs, ResNet-50, the SWAG models
    and humans (the mean over the observers of each condition, with n_subjects). Columns: label, group,
    dataset, condition, accuracy, n_subjects."""
    from ..records.decision_tables import humans_pooled

    keep = acc["model"].isin(models) | (acc["model"].str.startswith("swag-") if swag else False)
    m = acc[keep & (acc["kind"] != "human")].copy()
    m["label"] = [decider_label(a, b, c) for a, b, c in zip(m["model"], m["arch"], m["kind"])]
    m["n_subjects"] = np.nan
    h = humans_pooled(acc, "accuracy", ["dataset", "condition"]).assign(label="humans", group="human")
    cols = ["label", "group", "dataset", "condition", "accuracy", "n_subjects"]
    return pd.concat([m[cols], h[cols]], ignore_index=True)


def mvh_effects(acc: pd.DataFrame, kappa: pd.DataFrame) -> list[dict]:
    """Architecture within OpenAI's CLIP (ViT-L/14 and ViT-B/16, each minus ViT-B/32), paired over
    model-vs-human's datasets: OOD accuracy on the 16 non-cue-conflict sets (the benchmark's levels)
    and error consistency with humans (kappa, all 17 sets). n is the number of datasets."""
    from .effects import paired_effect

    rows = []
    for value, frame, metric, what in (
            ("accuracy", acc, "OOD accuracy (model-vs-human, per dataset)", "16 OOD datasets"),
            ("kappa", kappa, "error consistency with humans (kappa, per dataset)", "17 datasets")):
        clip = frame[frame["source"] == "model_vs_human_clip"]
        for treat in ("clip-14", "clip-16"):
            r = paired_effect(clip, "dataset", "model", treat, "clip", value)
            rows.append(effect("architecture", MVH_AXIS, metric, r["effect"],
                               f"{CLIPS[treat]} vs CLIP ViT-B/32 (OpenAI, same protocol), paired over {what}",
                               "records", n=r["n"], ci=(r["ci_low"], r["ci_high"])))
    return rows
