"""Natural distribution shifts and effective robustness (chapter 02).

Records: the points of `records.natural_shift_er` (one row per model x shift) are averaged per
model and contrasted between tag groups. Lab: accuracies of lab models on lab-val (ID) and its
shifts, with ER against a logit-linear fit over a chosen set of baseline lab models.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .effects import effect, matched_contrast

LAB_SHIFTS: tuple[str, ...] = ("lab-v2", "lab-sketch", "lab-silhouette")
TAGS = ["source", "group", "family", "data", "dataset_size", "finetuned", "loss"]


def mean_er(points: pd.DataFrame, shifts: Iterable[str] | None = None) -> pd.DataFrame:
    """Per model: ER averaged over `shifts` (default all in `points`), with its tags and n_shifts.

    Only models scored on every chosen shift are kept, so means are over the same shifts.
    """
    p = points if shifts is None else points[points["dataset"].isin(list(shifts))]
    k = p["dataset"].nunique()
    tags = [c for c in TAGS if c in p.columns]
    g = p.dropna(subset=["er"]).groupby("model")
    out = g["er"].agg(er="mean", n_shifts="count").reset_index()
    out = out[out["n_shifts"] == k]
    info = p.drop_duplicates("model").set_index("model")[tags]
    return out.join(info, on="model").reset_index(drop=True)


def records_effects(points: pd.DataFrame, axis: str = "natural shifts",
                    metric: str = "effective robustness (mean over shifts)") -> list[dict]:
    """Six-factor contrasts of mean ER in the records (observational: matched where the tags allow).

    architecture: ViT minus ResNet zero-shot CLIPs, matched on training data;
    training distribution: LAION-2B minus OpenAI WIT zero-shot CLIPs, matched on family;
    training-set size: >=1B minus <1B training images (zero-shot CLIPs), matched on family and loss;
    fine-tuning: ImageNet-fine-tuned CLIPs (timm) minus zero-shot CLIPs, matched on family and data;
    contrastive loss: SigLIP minus CLIP-loss zero-shot CLIPs, matched on family.
    """
    m = mean_er(points)
    zs = m[m["group"] == "zero-shot CLIP"].copy()
    zs["big"] = np.where(zs["dataset_size"] >= 1e9, "big", np.where(zs["dataset_size"] < 1e9, "small", None))
    clip = m[m["group"].isin(["zero-shot CLIP", "CLIP fine-tuned"])]
    specs = [
        ("architecture", zs, "family", "vit", "resnet", ["data"], "ViT vs ResNet zero-shot CLIPs"),
        ("training distribution", zs, "data", "laion2b", "openai-wit", ["family"],
         "LAION-2B vs OpenAI-WIT zero-shot CLIPs"),
        ("training-set size", zs, "big", "big", "small", ["family", "loss"],
         ">=1B vs <1B training images, zero-shot CLIPs"),
        ("fine-tuning", clip, "group", "CLIP fine-tuned", "zero-shot CLIP", ["family", "data"],
         "ImageNet-fine-tuned CLIPs (timm) vs zero-shot CLIPs"),
        ("contrastive loss", zs, "loss", "siglip", "clip", ["family"], "SigLIP vs CLIP loss, zero-shot CLIPs"),
    ]
    rows = []
    for factor, frame, col, t, b, match, text in specs:
        c = matched_contrast(frame, col, t, b, "er", match)
        how = (f"matched on {'+'.join(match)}, {c['n_strata']} " + ("stratum" if c["n_strata"] == 1 else "strata")
               if c["matched"] else "unmatched")
        rows.append(effect(factor, axis, metric, c["effect"],
                           f"{text} (n={c['n_treatment']} vs {c['n_base']}, {how})", "records"))
    return rows


def er_by_tags(per_model: pd.DataFrame, tags: Sequence[str] = ("data_scale", "family", "loss"),
               group: str = "zero-shot CLIP") -> pd.DataFrame:
    """Long frame (model, tag, value, er) of one group's per-model mean ER, for one panel per tag.

    `data_scale` is derived from dataset_size with `records.data_scale`; models whose tag is
    unknown (NaN) are left out of that tag's panel.
    """
    from ..records import data_scale

    m = per_model[per_model["group"] == group].copy()
    if "data_scale" in tags:
        m["data_scale"] = data_scale(m["dataset_size"]).astype(object)
    parts = [m[["model", t, "er"]].rename(columns={t: "value"}).assign(tag=t).dropna(subset=["value"]) for t in tags]
    return pd.concat(parts, ignore_index=True)[["model", "tag", "value", "er"]]


def shift_group_table(points: pd.DataFrame) -> pd.DataFrame:
    """Mean and median ER per (shift, group): zero-shot CLIP vs CLIP fine-tuned vs ImageNet models."""
    g = points.groupby(["dataset", "group"])["er"]
    return g.agg(er_mean="mean", er_median="median", n="count").reset_index()


# ---- the lab ------------------------------------------------------------------------------------

def lab_er(acc: pd.DataFrame, id_set: str = "lab-val", shifts: Sequence[str] = LAB_SHIFTS,
           baseline: Sequence[str] | None = None, model: str = "model", dataset: str = "dataset",
           value: str = "accuracy") -> pd.DataFrame:
    """Effective robustness of lab models: one row per (model, shift).

    `acc` is tidy (model, dataset, accuracy). The logit-linear line is fitted over the `baseline`
    models (default: every model), so ER here is distance from that baseline's trend; a shift with
    fewer than 2 baseline models, or with all of them at one ID accuracy, gets NaN ER and fit.
    Columns: model, dataset, id_acc, ood_acc, predicted, er, fit_slope, fit_intercept, fit_n.
    """
    from ..metrics import effective_robustness

    wide = acc.pivot_table(index=model, columns=dataset, values=value, aggfunc="first")
    if id_set not in wide.columns:
        raise ValueError(f"lab_er: no accuracies on the ID set {id_set!r}; datasets are {list(wide.columns)}")
    base_models = list(wide.index) if baseline is None else [b for b in baseline if b in wide.index]
    out = []
    for s in shifts:
        if s not in wide.columns:
            continue
        w = wide[[id_set, s]].dropna()
        base = w.loc[[b for b in base_models if b in w.index]]
        p = pd.DataFrame({"model": w.index, "dataset": s, "id_acc": w[id_set].to_numpy(), "ood_acc": w[s].to_numpy()})
        try:
            er, fit = effective_robustness(p["id_acc"], p["ood_acc"], base[id_set], base[s])
            p["er"], p["fit_slope"], p["fit_intercept"], p["fit_n"] = er, fit.slope, fit.intercept, fit.n
        except ValueError:  # too few or degenerate baseline points: no line, no ER
            p["er"], p["fit_slope"], p["fit_intercept"], p["fit_n"] = np.nan, np.nan, np.nan, len(base)
        p["predicted"] = p["ood_acc"] - p["er"]
        out.append(p)
    cols = ["model", "dataset", "id_acc", "ood_acc", "predicted", "er", "fit_slope", "fit_intercept", "fit_n"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def lab_er_replicates(acc: pd.DataFrame, ler: pd.DataFrame, id_set: str = "lab-val", model: str = "model",
                      per_image: str = "correct", n_boot: int | None = None) -> dict:
    """Image-bootstrap replicates of each model's ER averaged over the shifts in `ler`: {model: [n_boot]}.

    `acc` has one row per (model, dataset) with the per-image 0/1 array `per_image`; every set is resampled
    with the same indices (`effects.image_resamples`), and each shift's line stays the one fitted in `ler`
    (the zoo's trend), so the replicates carry the image part of the interval of an ER difference."""
    from ..metrics import LogitFit
    from .effects import LAB_BOOT, image_boot

    n_boot = n_boot or LAB_BOOT
    hits = {(m, d): np.asarray(c, float) for m, d, c in zip(acc[model], acc["dataset"], acc[per_image])}
    fits = ler.drop_duplicates("dataset").set_index("dataset")
    out = {}
    for m in acc[model].unique():
        if (m, id_set) not in hits:
            continue
        id_b = image_boot(hits[(m, id_set)], n_boot=n_boot)
        ers = []
        for s, f in fits.iterrows():
            if (m, s) not in hits or not np.isfinite(f["fit_slope"]):
                continue
            line = LogitFit(f["fit_slope"], f["fit_intercept"], int(f["fit_n"]), np.nan)
            ers.append(image_boot(hits[(m, s)], n_boot=n_boot) - np.asarray(line(id_b), float))
        if ers:
            out[m] = np.mean(ers, axis=0)
    return out


# ---- live ---------------------------------------------------------------------------------------

def live_er(table: pd.DataFrame, points: pd.DataFrame | None, id_set: str = "imagenet") -> pd.DataFrame:
    """ER of live models against the records' ImageNet-model line of each shift.

    `table` is `live.zero_shot_table` output (model, dataset, metric, value); `points` is
    `records.natural_shift_er()` (its fit columns give the line). Without records (None) or for a
    shift the records do not fit (ObjectNet), er is NaN and only the accuracies are reported.
    Columns: model, dataset, id_acc, ood_acc, predicted, er.
    """
    from ..metrics import LogitFit

    top1 = table[table["metric"] == "top1"].pivot_table(index="model", columns="dataset", values="value",
                                                        aggfunc="first")
    if id_set not in top1.columns:
        return pd.DataFrame(columns=["model", "dataset", "id_acc", "ood_acc", "predicted", "er"])
    fits = {}
    if points is not None and len(points):
        for s, g in points.groupby("dataset"):
            r = g.iloc[0]
            fits[s] = LogitFit(float(r["fit_slope"]), float(r["fit_intercept"]), int(r["fit_n"]), float(r["fit_r2"]))
    rows = []
    for s in [c for c in top1.columns if c != id_set]:
        w = top1[[id_set, s]].dropna()
        pred = fits[s](w[id_set].to_numpy()) if s in fits else np.full(len(w), np.nan)
        rows.append(pd.DataFrame({"model": w.index, "dataset": s, "id_acc": w[id_set].to_numpy(),
                                  "ood_acc": w[s].to_numpy(), "predicted": pred, "er": w[s].to_numpy() - pred}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["model", "dataset", "id_acc", "ood_acc", "predicted", "er"])


PCT_TICKS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def logit_ticks(ax, ticks: Sequence[float] = PCT_TICKS) -> None:
    """Readable percent ticks on both logit-scaled axes of an ER scatter (plots.effective_robustness);
    a narrow range (fewer than 3 standard ticks inside) gets 4 evenly spaced ones instead."""
    from scipy.special import expit, logit

    std = logit(np.asarray(ticks))
    for lim, set_ticks, set_labels, set_lim in ((ax.get_xlim(), ax.set_xticks, ax.set_xticklabels, ax.set_xlim),
                                                (ax.get_ylim(), ax.set_yticks, ax.set_yticklabels, ax.set_ylim)):
        pos = std[(std >= lim[0]) & (std <= lim[1])]
        if len(pos) < 3:
            pos = np.linspace(lim[0], lim[1], 6)[1:-1]
        set_ticks(pos)
        set_labels([f"{100 * expit(v):.3g}%" for v in pos])
        set_lim(lim)


def logit_clip(p: float) -> float:
    """The logit used by plots.effective_robustness for a point (clipped like it), for annotations."""
    q = float(np.clip(p, 1e-4, 1 - 1e-4))
    return float(np.log(q / (1 - q)))
