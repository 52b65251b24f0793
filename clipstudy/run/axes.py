"""The study's axes as the runner evaluates them: one small function per axis, from stored outputs to rows.

Each function takes the `Outputs` of one (model, dataset, prompts) read back from the store, and a lookup
of the same model's outputs on the dataset's ID set, and returns rows `(part, metric, value, n)`. Nothing
here encodes: every number comes from features, heads and caption embeddings the units stored. A new
axis is one function registered in `AXES`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import UnknownNameError


@dataclass
class Outputs:
    """Stored outputs of one (model, dataset, prompts): a `zeroshot.ZeroShot`, the per-image frame aligned
    with the encoded images, and caption embeddings for retrieval sets."""

    model: str
    dataset: str
    task: str
    prompts: str
    zs: Any  # clipstudy.zeroshot.ZeroShot (head None for classifiers and caption-only sets)
    frame: pd.DataFrame | None = None
    texts: dict | None = None

    @property
    def has_head(self) -> bool:
        """Class outputs exist: a zero-shot head, or a classifier's own (caption-only sets have neither)."""
        return bool(self.zs.classnames)

    def correct(self) -> np.ndarray:
        return (self.zs.logits.argmax(1) == self.zs.labels).numpy()


Row = dict
IdLookup = Callable[["Outputs"], "Outputs | None"]


def _row(part: str, metric: str, value: float, n: int) -> Row:
    return dict(part=part, metric=metric, value=float(value), n=int(n))


def shifts(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Top-1 and top-5 zero-shot accuracy on a labelled set (natural shifts: compare with the ID set's)."""
    if o.task != "classification" or not o.has_head:
        return []
    n = len(o.zs.labels)
    rows = [_row("all", "top1", o.zs.accuracy(1), n)]
    if o.zs.logits.shape[1] > 5:
        rows.append(_row("all", "top5", o.zs.accuracy(5), n))
    return rows


def calibration(o: Outputs, id_of: IdLookup) -> list[Row]:
    """ECE (15 bins), NLL and Brier at T=1, and at the temperature fitted on the ID set when it is in the grid."""
    from ..analysis.calibration import calibration_metrics, fit_temperature

    if o.task != "classification" or not o.has_head:
        return []
    z, y = o.zs.logits.float().numpy(), o.zs.labels.numpy()
    temps = [("T=1", 1.0)]
    ref = id_of(o)
    if ref is not None:
        temps.append(("T=id", fit_temperature(ref.zs.logits.float().numpy(), ref.zs.labels.numpy())))
    rows = []
    for part, t in temps:
        m = calibration_metrics(z, y, t)
        rows += [_row(part, k, m[k], len(y)) for k in ("ece", "nll", "brier", "confidence", "temperature")]
    return rows


def ood(o: Outputs, id_of: IdLookup) -> list[Row]:
    """AUROC, AUPR-in/out and FPR@95%TPR of MSP, MaxLogit, Energy (and MCM for CLIPs) against the ID set."""
    from ..analysis.ood import detection_table

    if o.task != "ood":
        return []
    ref = id_of(o)
    if ref is None:
        return []
    groups = o.frame["ood"].astype(str).tolist() if o.frame is not None and "ood" in o.frame.columns \
        else ["all"] * len(o.zs.labels)
    cos = o.zs.head is not None and ref.zs.head is not None
    t = detection_table(ref.zs.logits.float().numpy(), o.zs.logits.float().numpy(), groups,
                        id_cosine=ref.zs.cosine.float().numpy() if cos else None,
                        ood_cosine=o.zs.cosine.float().numpy() if cos else None)
    return [_row(f"{r.method}/{r.ood}", m, getattr(r, m), r.n_ood) for r in t.itertuples()
            for m in ("auroc", "aupr_in", "aupr_out", "fpr95")]


def shape(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Shape bias over cue-conflict images (shape / (shape + texture) decisions), and 16-way accuracy."""
    from ..analysis import shape_bias as SB

    if o.task != "shape-bias":
        return []
    if "shape_label" in o.frame.columns:  # the lab's cue-conflict set
        s = SB.lab_shape_bias(o.zs.logits.argmax(1).numpy(), o.frame)
        n = int(s["n_conflict"])
        return [_row("conflict", k, s[k], n) for k in ("shape_bias", "shape_acc", "texture_acc")]
    from ..datasets import cue_conflict

    dec = SB.live_decisions(o.zs, cue_conflict.aggregate_probabilities)
    rows = [_row("all", "accuracy16", float((dec == o.frame["label"].to_numpy()).mean()), len(dec))]
    if "texture_label" in o.frame.columns:
        s = SB.live_shape_bias(dec, o.frame)
        rows.append(_row("conflict", "shape_bias", s["shape_bias"], s["n_conflict"]))
    return rows


def factors(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Accuracy and error ratio per visual factor (ImageNet-X annotations; the lab's shifted factors)."""
    from ..metrics import IMAGENET_X_FACTORS, error_ratios

    if o.task != "factors":
        return []
    correct = o.correct()
    if "factor" in o.frame.columns:  # lab-factors: one shifted factor per image, against the unshifted control
        from ..analysis.visual_factors import lab_factor_table

        t = lab_factor_table(correct, o.frame["factor"])
        return [_row(r.factor, m, getattr(r, m), r.count) for r in t.itertuples() for m in ("accuracy", "error_ratio")]
    t = error_ratios(correct, o.frame[[f for f in IMAGENET_X_FACTORS if f in o.frame.columns]])
    return [_row(r.factor, m, getattr(r, m), r.count) for r in t.itertuples() for m in ("accuracy", "error_ratio")]


def threed(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Top-1 per 3D common corruption and severity (severity 0: the clean images of the lab set)."""
    if o.task != "3d":
        return []
    f = o.frame[["corruption", "severity"]].assign(correct=o.correct().astype(float))
    if (f["corruption"] == "none").any():
        from ..analysis.threed import corruption_accuracy

        t = corruption_accuracy(f["correct"].to_numpy(), f)
    else:
        t = f.groupby(["corruption", "severity"])["correct"].agg(accuracy="mean", n="size").reset_index()
    return [_row(f"{r.corruption}/{int(r.severity)}", "top1", r.accuracy, r.n) for r in t.itertuples()]


def retrieval(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Recall@1/5/10 image->text and text->image from the stored image and caption embeddings."""
    from ..analysis.retrieval import recall_table

    if o.texts is None:
        return []
    t = recall_table(o.zs.encoded.features, o.texts["features"], o.texts["image_to_texts"], (1, 5, 10))
    return [_row(str(r.direction), f"recall@{int(r.k)}", r.recall, len(o.zs.labels)) for r in t.itertuples()]


AXES: dict[str, Callable[[Outputs, IdLookup], list[Row]]] = {
    "shifts": shifts, "calibration": calibration, "ood": ood, "shape": shape, "factors": factors, "3d": threed,
    "retrieval": retrieval,
}


def names() -> list[str]:
    return list(AXES)


def resolve(axes: Sequence[str] | str) -> list[str]:
    """`all`, or a comma-separated list of axis names (each checked)."""
    items = [a.strip() for a in (axes.split(",") if isinstance(axes, str) else axes) if a.strip()]
    if not items or items == ["all"]:
        return names()
    for a in items:
        if a not in AXES:
            raise UnknownNameError("axis", a, names() + ["all"])
    return list(dict.fromkeys(items))
