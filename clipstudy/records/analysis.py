"""Re-analyses of the published records with clipstudy.metrics; each returns a plot-ready frame.

- natural_shift_er: effective robustness per natural shift (zero-shot CLIP, CLIP-FT, ImageNet models)
- er_summary: ER grouped by training source, data size or architecture
- imagenet_x_factors / imagenet_x_clip_vs_rest: factor accuracy, error ratio and per-factor ER
- texture_vs_shape_bias: shape bias of humans and CNNs from the raw cue-conflict decisions, per subject
  and pooled (records.shape_bias_table does any decision frame)
- retrieval_vs_classification / retrieval_correlations / retrieval_residuals: retrieval vs ImageNet acc
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from . import tags as T
from .tables import load_cue_conflict, load_imagenet_x, load_open_clip, load_timm

SHIFTS = ("imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "objectnet")
POINT_TAGS = ["family", "data", "dataset_size", "samples_seen", "finetuned", "finetune_data", "loss",
              "resolution", "group"]


def _acc_wide(frame: pd.DataFrame, datasets: Iterable[str]) -> pd.DataFrame:
    """model x dataset top-1 accuracy, with the model's tag columns."""
    acc = frame[(frame["metric"] == "acc1") & frame["dataset"].isin(list(datasets))]
    wide = acc.pivot_table(index="model", columns="dataset", values="value", aggfunc="first")
    info = frame.drop_duplicates("model").set_index("model")[["source", *POINT_TAGS]]
    return wide.join(info, how="left")


def natural_shift_er(root=None, shifts: Iterable[str] = SHIFTS,
                     baseline_data: Iterable[str] | None = None) -> pd.DataFrame:
    """Effective robustness on each natural shift, one row per (model, shift).

    Baseline: timm's ImageNet models (every non-CLIP model; `baseline_data` restricts them to
    training sources, e.g. ("imagenet-1k",)). The line logit(acc_shift) ~ logit(acc_imagenet) is
    fitted over them with `metrics.effective_robustness`; ER = acc_shift - line(acc_imagenet).
    Points: zero-shot CLIPs (open_clip records), CLIP-FT and ImageNet models (timm records).

    ImageNet-A and -R: timm scores them on their 200-class subsets, and open_clip's results come
    from CLIP_benchmark, whose datasets/builder.py keeps only the 200 class names of each (by
    wnid) for the zero-shot head, so both are 200-way; the x-axis is the full
    1000-class ImageNet accuracy for both, as in Taori et al. 2020. ObjectNet is in open_clip's
    records only; with no ImageNet-model baseline there, it yields no rows.
    Columns: source, model, group, tags..., dataset, id_acc, ood_acc, predicted, er,
    fit_slope, fit_intercept, fit_n, fit_r2 (the fit is in logit space).
    """
    from ..metrics import effective_robustness

    shifts = list(shifts)
    tw = _acc_wide(load_timm(root), ["imagenet", *shifts])
    ow = _acc_wide(load_open_clip(root), ["imagenet", *shifts])
    pts = pd.concat([ow, tw])
    out = []
    for shift in shifts:
        if shift not in tw.columns:
            continue  # no baseline for this shift (ObjectNet)
        base = tw[(tw["group"] == T.IMAGENET) & tw["imagenet"].notna() & tw[shift].notna()]
        if baseline_data is not None:
            base = base[base["data"].isin(list(baseline_data))]
        p = pts[pts["imagenet"].notna() & pts.get(shift, pd.Series(dtype=float)).notna()].copy()
        er, fit = effective_robustness(p["imagenet"].to_numpy(), p[shift].to_numpy(),
                                       base["imagenet"].to_numpy(), base[shift].to_numpy())
        p = p.reset_index().rename(columns={"imagenet": "id_acc", shift: "ood_acc"})
        p = p[["source", "model", *POINT_TAGS, "id_acc", "ood_acc"]]
        p["dataset"], p["er"] = shift, er
        p["predicted"] = p["ood_acc"] - p["er"]
        p["fit_slope"], p["fit_intercept"], p["fit_n"], p["fit_r2"] = fit.slope, fit.intercept, fit.n, fit.r2
        out.append(p)
    return pd.concat(out, ignore_index=True)


def data_scale(size: pd.Series) -> pd.Series:
    """Bins of training-set size (images) for grouping: <100M, 100M-1B, 1B-5B, >=5B."""
    return pd.cut(size, [0, 1e8, 1e9, 5e9, np.inf], right=False, labels=["<100M", "100M-1B", "1B-5B", ">=5B"])


def er_summary(points: pd.DataFrame, by: str | list[str] = "group") -> pd.DataFrame:
    """Mean, median, std and count of ER per (dataset, by...); by may be 'data', 'data_scale', 'family'."""
    by = [by] if isinstance(by, str) else list(by)
    pts = points.copy()
    if "data_scale" in by:
        pts["data_scale"] = data_scale(pts["dataset_size"])
    keys = ["dataset", *([] if "group" in by else ["group"]), *by]
    g = pts.groupby(keys, observed=True, dropna=False)["er"]
    return g.agg(er_mean="mean", er_median="median", er_std="std", n="count").reset_index()


# ---- ImageNet-X -----------------------------------------------------------------------------------

# imagenet-x model types that are not ImageNet-trained networks; left out of the baseline fit.
NOT_BASELINE_TYPES = {"Random Features", "Linear Classifier on Pixels", "Random Forests", "Nearest Neighbors"}


def imagenet_x_factors(root=None, annotation: str = "top_factor", label_level: str = "class") -> pd.DataFrame:
    """Per (model, factor): accuracy, overall accuracy, error ratio and per-factor ER.

    Per-factor ER: logit(acc_factor) ~ logit(acc_overall) is fitted over the ImageNet models
    (every non-CLIP model of all three testbeds, less the non-network `NOT_BASELINE_TYPES`);
    ER = acc_factor - line(acc_overall). Error ratio = (1 - acc_f) / (1 - acc_overall).
    Columns: model, testbed, group, family, model_type, factor, acc, overall_acc, error_ratio,
    predicted, er, baseline (whether the model is in the fit).
    """
    from ..metrics import effective_robustness, error_ratio
    from ..metrics.factors import IMAGENET_X_FACTORS

    x = load_imagenet_x(root)
    x = x[(x["annotation"] == annotation) & (x["label_level"] == label_level)]
    wide = x.pivot_table(index=["model", "testbed"], columns="factor", values="value", aggfunc="first")
    info = x.drop_duplicates(["model", "testbed"]).set_index(["model", "testbed"])[["group", "family", "model_type"]]
    wide = wide.join(info).reset_index()
    wide["baseline"] = (wide["group"] == T.IMAGENET) & ~wide["model_type"].isin(NOT_BASELINE_TYPES)
    base = wide[wide["baseline"]]
    out = []
    for f in IMAGENET_X_FACTORS:
        er, fit = effective_robustness(wide["average"].to_numpy(), wide[f].to_numpy(),
                                       base["average"].to_numpy(), base[f].to_numpy())
        p = wide[["model", "testbed", "group", "family", "model_type", "baseline"]].copy()
        p["factor"], p["acc"], p["overall_acc"] = f, wide[f].to_numpy(), wide["average"].to_numpy()
        p["error_ratio"] = error_ratio(p["acc"].to_numpy(), p["overall_acc"].to_numpy())
        p["er"] = er
        p["predicted"] = p["acc"] - p["er"]
        p["fit_slope"], p["fit_intercept"], p["fit_r2"] = fit.slope, fit.intercept, fit.r2
        out.append(p)
    return pd.concat(out, ignore_index=True)


def imagenet_x_clip_vs_rest(factors: pd.DataFrame | None = None, root=None) -> pd.DataFrame:
    """Per factor: mean error ratio and mean ER of zero-shot CLIP vs the baseline ImageNet models.

    `clip_more_robust` is True where CLIP's mean factor ER is above the baseline's (which is ~0 by
    construction of the fit); sorted from CLIP's most to least robust factor.
    """
    f = factors if factors is not None else imagenet_x_factors(root)
    f = f[(f["group"] == T.ZS_CLIP) | f["baseline"]].assign(
        who=lambda d: np.where(d["group"] == T.ZS_CLIP, "clip", "rest"))
    g = f.groupby(["factor", "who"])[["error_ratio", "er"]].mean().unstack("who")
    g.columns = [f"{m}_{w}" for m, w in g.columns]
    g["n_clip"] = f[f["who"] == "clip"].groupby("factor").size()
    g["er_gap"] = g["er_clip"] - g["er_rest"]
    g["clip_more_robust"] = g["er_gap"] > 0
    return g.sort_values("er_gap", ascending=False).reset_index()


# ---- shape bias -----------------------------------------------------------------------------------

def texture_vs_shape_bias(root=None) -> pd.DataFrame:
    """Shape bias per subject (10 humans, alexnet, googlenet, vgg) and pooled per group.

    Uses `metrics.shape_texture_hits` / `metrics.shape_bias`, over the cue-conflict images only
    (shape class != texture class; filtered here as well, so n_conflict is 1200 per subject). Rows: subject, group, kind ('subject' | 'pooled'),
    shape_bias, shape_hits, texture_hits, other, n_conflict. Pooled rows concatenate all
    decisions of a group ('humans', 'CNNs'); the human per-subject mean is in 'humans (mean)'.
    """
    from ..metrics import shape_bias, shape_texture_hits

    d = load_cue_conflict(root)
    d = d[d["conflict"]]  # the 80 images whose shape and texture classes agree say nothing on bias

    def row(sub: pd.DataFrame, subject: str, group: str, kind: str) -> dict:
        args = (sub["response"].to_numpy(), sub["shape"].to_numpy(), sub["texture"].to_numpy())
        return {"subject": subject, "group": group, "kind": kind, "shape_bias": shape_bias(*args),
                **shape_texture_hits(*args)}

    rows = [row(s, subj, s["group"].iloc[0], "subject") for subj, s in d.groupby("subject")]
    human = d["group"] == T.HUMAN
    rows.append(row(d[human], "humans", T.HUMAN, "pooled"))
    rows.append(row(d[~human], "CNNs", T.IMAGENET, "pooled"))
    out = pd.DataFrame(rows)
    hm = out[(out["kind"] == "subject") & (out["group"] == T.HUMAN)]["shape_bias"]
    out = pd.concat([out, pd.DataFrame([{"subject": "humans (mean)", "group": T.HUMAN, "kind": "mean",
                                          "shape_bias": hm.mean()}])], ignore_index=True)
    return out


# ---- retrieval vs classification ----------------------------------------------------------------

RETRIEVAL_METRICS = ("image_retrieval_recall@1", "text_retrieval_recall@1", "image_retrieval_recall@5",
                     "text_retrieval_recall@5", "image_retrieval_recall@10", "text_retrieval_recall@10")


def retrieval_vs_classification(root=None, metrics: Iterable[str] = RETRIEVAL_METRICS,
                                fit_exclude_finetuned: bool = True) -> pd.DataFrame:
    """One row per (open_clip model, retrieval dataset, recall metric) with its ImageNet zero-shot
    accuracy, a least-squares line recall ~ acc per (dataset, metric), and the residual.

    The line is fitted without the MSCOCO-fine-tuned CoCa models (`fit_exclude_finetuned`): their
    COCO retrieval is in-distribution. They still get residuals.
    """
    oc = load_open_clip(root)
    acc = oc[(oc["dataset"] == "imagenet") & (oc["metric"] == "acc1")].set_index("model")["value"]
    r = oc[oc["metric"].isin(list(metrics)) & oc["dataset"].isin(["flickr30k", "mscoco"])].copy()
    r = r.rename(columns={"value": "recall"})
    r["imagenet_acc"] = r["model"].map(acc)
    r = r.dropna(subset=["imagenet_acc", "recall"])
    parts = []
    for (ds, m), g in r.groupby(["dataset", "metric"]):
        fit_on = g[g["finetune_data"].ne("mscoco")] if fit_exclude_finetuned else g
        lr = stats.linregress(fit_on["imagenet_acc"], fit_on["recall"])
        g = g.copy()
        g["predicted"] = lr.intercept + lr.slope * g["imagenet_acc"]
        g["residual"] = g["recall"] - g["predicted"]
        g["fit_slope"], g["fit_intercept"], g["in_fit"] = lr.slope, lr.intercept, g.index.isin(fit_on.index)
        parts.append(g)
    cols = ["model", "arch", "pretrained", *POINT_TAGS, "dataset", "metric", "imagenet_acc", "recall",
            "predicted", "residual", "fit_slope", "fit_intercept", "in_fit"]
    return pd.concat(parts, ignore_index=True)[cols]


def retrieval_correlations(frame: pd.DataFrame | None = None, root=None) -> pd.DataFrame:
    """Per (dataset, metric), over the models in the fit: n, Pearson r and p, Spearman rho and p,
    slope, intercept, and the residual standard deviation."""
    f = frame if frame is not None else retrieval_vs_classification(root)
    rows = []
    for (ds, m), g in f[f["in_fit"]].groupby(["dataset", "metric"]):
        pr, sr = stats.pearsonr(g["imagenet_acc"], g["recall"]), stats.spearmanr(g["imagenet_acc"], g["recall"])
        rows.append({"dataset": ds, "metric": m, "n": len(g), "pearson_r": pr.statistic, "pearson_p": pr.pvalue,
                     "spearman_rho": sr.statistic, "spearman_p": sr.pvalue, "slope": g["fit_slope"].iloc[0],
                     "intercept": g["fit_intercept"].iloc[0], "residual_std": g["residual"].std()})
    return pd.DataFrame(rows)


def retrieval_residuals(frame: pd.DataFrame | None = None, by: str = "data", root=None) -> pd.DataFrame:
    """Mean residual (recall above/below the line) per (dataset, metric, training source), sorted."""
    f = frame if frame is not None else retrieval_vs_classification(root)
    g = f.groupby(["dataset", "metric", by], dropna=False)["residual"].agg(residual_mean="mean", n="count")
    return g.reset_index().sort_values(["dataset", "metric", "residual_mean"], ascending=[True, True, False],
                                       ignore_index=True)
