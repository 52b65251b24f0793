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
