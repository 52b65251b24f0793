"""Training data and its size, on one metric: the zero-shot CLIPs of open_clip's table joined with the checkpoints it
does not hold from `frequency_determines_performance` (CyCLIP's and SLIP's CC3M CLIPs, SLIP's CC12M and YFCC15M, the
thaottn RN50s on CC12M and YFCC15M, SynthCLIP's SynthCI-30M and the ViT-B/32 on LAION pruned of test-like images).

These records have ImageNet-Sketch and -R only, so the whole contrast is read on ER averaged over those two shifts
(against one baseline, `baselines.timm_baseline` by default), with the 80-template ensemble, as open_clip's table
uses. A checkpoint in both sets counts once, with open_clip's value. Rows left out of the contrasts stay in the
points frame with `in_contrast` False and `why_out` saying why:
- the two evaluations built with GELU where their tags were trained with QuickGELU (`frequency.gelu_built`);
- open_clip's own plain-architecture twins of `-quickgelu` rows (`tables.open_clip_gelu_twins`);
- the frequency records of open_clip tags (open_clip's value counts).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import data_sources as DS, effects as E
from .baselines import accuracy_wide, er_points, points_from_wide
from .contrasts import grouped

SHIFTS = ("imagenet-sketch", "imagenet-r")
METRIC = "ER (mean over Sketch, R)"
WHY_GELU = "built with GELU where its tag was trained with QuickGELU (the activation mistake)"
WHY_TWIN = "open_clip's plain-architecture twin of a -quickgelu row: that checkpoint built with GELU"
WHY_COUNTED = "in open_clip's table too: counted once, with open_clip's value"
COLUMNS = ["source", "model", "dataset", "id_acc", "ood_acc", "predicted", "er", "baseline", "fit_slope",
           "fit_intercept", "fit_n", "family", "data", "data_label", "dataset_size", "samples_seen", "loss",
           "resolution", "group", "checkpoint_kind", "released_by", "in_contrast", "why_out"]
TAGS = ["family", "data", "dataset_size", "samples_seen", "loss", "resolution", "group"]


def data_size_points(freq: pd.DataFrame, open_clip: pd.DataFrame, baseline, shifts: Iterable[str] = SHIFTS,
                     prompt_set: str = "ensemble") -> pd.DataFrame:
    """One row per (checkpoint, shift) of open_clip's zero-shot CLIPs and the frequency records' checkpoints (under
    `prompt_set`), with id_acc (ImageNet), ood_acc, predicted, er (`baselines.er_points`), the tags, source
    (open_clip | frequency_determines_performance), checkpoint_kind, released_by, in_contrast and why_out."""
    from .tables import open_clip_gelu_twins

    shifts = list(shifts)
    twins = set(open_clip_gelu_twins(open_clip))
    oc_info = open_clip.drop_duplicates("model").set_index("model")[TAGS].assign(
        source="open_clip", checkpoint_kind="open_clip", released_by="open_clip")
    oc_info["in_contrast"] = ~oc_info.index.isin(twins)
    oc_info["why_out"] = np.where(oc_info["in_contrast"], "", WHY_TWIN)
    oc = points_from_wide(accuracy_wide(open_clip, ["imagenet", *shifts]), shifts, oc_info)

    f = freq[freq["prompt_set"] == prompt_set]
    fr_info = f.drop_duplicates("model").set_index("model")[[*TAGS, "checkpoint_kind", "released_by", "gelu_built"]]
    fr_info = fr_info.assign(source=f["source"].iloc[0] if len(f) else "frequency_determines_performance")
    in_oc = fr_info.index.isin(set(open_clip["model"]))
    fr_info["why_out"] = np.where(fr_info["gelu_built"].astype(bool), WHY_GELU, np.where(in_oc, WHY_COUNTED, ""))
    fr_info["in_contrast"] = fr_info["why_out"] == ""
    fr = points_from_wide(accuracy_wide(f, ["imagenet", *shifts]), shifts, fr_info.drop(columns="gelu_built"))

    pts = er_points(pd.concat([oc, fr], ignore_index=True), baseline).reset_index(drop=True)
    pts["data_label"] = pts["data"].map(lambda d: DS.LABELS.get(d, d) if isinstance(d, str) else d)
    pts["in_contrast"] = pts["in_contrast"].astype(bool)
    return pts[COLUMNS]


def left_out(points: pd.DataFrame) -> pd.DataFrame:
    """The checkpoints left out of the contrasts and why (one row each)."""
    out = points[~points["in_contrast"]].drop_duplicates(["source", "model"])
    return out[["source", "model", "data", "why_out"]].reset_index(drop=True)


def per_model(points: pd.DataFrame) -> pd.DataFrame:
    """One row per checkpoint in the contrasts scored on every shift: er (mean over the shifts), n_shifts, its tags,
    and the size groups the contrasts read: size_1b ('>=1B' | '<1B'), size_100m ('>=100M' | '<100M') (None where
    the source's size is not recorded) and data_kind ('synthetic' for SynthCI-30M, else 'real')."""
    p = points[points["in_contrast"]]
    k = p["dataset"].nunique()
    g = p.groupby("model")["er"].agg(er="mean", n_shifts="count").reset_index()
    g = g[g["n_shifts"] == k]
    info = p.drop_duplicates("model").set_index("model")[["source", "released_by", "checkpoint_kind", "data",
                                                          "data_label", *[t for t in TAGS if t != "data"]]]
    m = g.join(info, on="model").reset_index(drop=True)
    size = m["dataset_size"].astype(float)
    m["size_1b"] = np.where(size >= 1e9, ">=1B", np.where(size < 1e9, "<1B", None))
    m["size_100m"] = np.where(size >= 1e8, ">=100M", np.where(size < 1e8, "<100M", None))
    m["data_kind"] = np.where(m["data"] == "synthci-30m", "synthetic", "real")
    return m


@dataclass(frozen=True)
class Contrast:
    """treatment minus base of `column` on per-model ER, matched on `match`, under one of the six factors."""

    factor: str
    column: str
    treatment: str
    base: str
    match: tuple[str, ...]
    text: str
    where: tuple[tuple[str, tuple], ...] = ()  # (column, values) filters before the contrast


CONTRASTS: tuple[Contrast, ...] = (
    Contrast("training-set size", "size_1b", ">=1B", "<1B", ("family", "loss"),
             ">=1B vs <1B training images, zero-shot CLIPs"),
    Contrast("training-set size", "size_100m", ">=100M", "<100M", ("family", "loss"),
             ">=100M vs <100M training images, zero-shot CLIPs"),
    Contrast("training distribution", "data", "laion2b", "openai-wit", ("family",),
             "LAION-2B vs OpenAI-WIT zero-shot CLIPs"),
    Contrast("training distribution", "data", "yfcc15m", "cc12m", ("family",), "YFCC-15M vs CC12M zero-shot CLIPs"),
    Contrast("training distribution", "data_kind", "synthetic", "real", ("family",),
             "SynthCI-30M (synthetic) vs real data under 100M images",
             where=(("size_100m", ("<100M",)),)),
    Contrast("training distribution", "data", "laion200m-sim-normalized", "laion400m", ("family",),
             "LAION pruned of test-like images vs LAION-400M"),
)


def data_size_effects(models: pd.DataFrame, contrasts: Sequence[Contrast] = CONTRASTS, n_boot: int = E.N_BOOT,
                      seed: int = 0) -> pd.DataFrame:
    """One row per contrast over `per_model`'s frame: factor, comparison, metric, effect, n, n_treatment, n_base,
    n_strata, ci_low, ci_high, p (one bootstrap over models, stratified on `match`: `contrasts.grouped`) and note
    ('n too small' under 5 models in a group: no interval)."""
    rows = []
    for c in contrasts:
        f = models
        for col, values in c.where:
            f = f[f[col].isin(list(values))]
        res = grouped(f, c.column, c.treatment, c.base, "er", match=c.match, n_boot=n_boot, seed=seed)
        k = res["n_strata"]
        how = f"matched on {'+'.join(c.match)}, {k} {'stratum' if k == 1 else 'strata'}" if c.match else "unmatched"
        rows.append({"factor": c.factor, "comparison": f"{c.text} (n={res['n_treatment']} vs {res['n_base']}, {how})",
                     "metric": METRIC, "treatment": c.treatment, "base": c.base, **res})
    return pd.DataFrame(rows)


__all__ = ["SHIFTS", "METRIC", "Contrast", "CONTRASTS", "data_size_points", "left_out", "per_model",
           "data_size_effects"]
