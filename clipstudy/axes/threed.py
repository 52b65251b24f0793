"""Chapter 08: 3D awareness: accuracy under 3D (and 2D) corruptions by severity, and cross-view correspondence."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import chapter, plots
from ..effects import recipe_contrast
from ..lab import evaluate as lab_eval
from . import evidence as ev
from .core import IdLookup, Outputs, Row, row, Axis, display, register, show
from .evidence import evidence

NAME = "3D awareness"
RADII = (2, 4, 8)

# Correspondence protocol (after El Banani et al. 2024, "Probing the 3D awareness of visual foundation
# models"): for a pair of views of one object with known pixel correspondences (row_a, col_a) -> (row_b,
# col_b), take the tower's dense feature map of each view, upsample it bilinearly to the image size, and
# match every query pixel of view A to the most cosine-similar object pixel of view B. Correspondence
# recall at radius r is the fraction of queries whose match lies within r pixels of the true one.


# ------------------------------------------------------------------ corruptions
def corruption_accuracy(correct: Any, factors: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Accuracy per (corruption, severity) from per-image correctness and the lab-3dcc factor rows.

    factors needs columns corruption ('none' = clean) and severity (0 = clean). The clean accuracy is
    repeated at severity 0 of every corruption so each curve starts from it. kinds maps a corruption to
    '3D' or '2D' (default: clipstudy.lab.corrupt.CORRUPTIONS_3D are 3D, the rest 2D).
    Columns: corruption, kind, severity, accuracy, n.
    """
    c = np.asarray(correct, dtype=float)
    if len(c) != len(factors):
        raise ValueError(f"{len(c)} correctness values but {len(factors)} factor rows")
    missing = {"corruption", "severity"} - set(factors.columns)
    if missing:
        raise ValueError(f"factors lacks column(s) {sorted(missing)} (expected the lab-3dcc factor rows)")
    if kinds is None:
        from ..lab.corrupt import CORRUPTIONS_3D

        kinds = {}
        default_3d = set(CORRUPTIONS_3D)
    else:
        default_3d = set()
    d = factors[["corruption", "severity"]].assign(correct=c)
    clean = d[d["corruption"] == "none"]
    if clean.empty:
        raise ValueError("no clean images (corruption 'none') to start the curves from")
    g = d[d["corruption"] != "none"].groupby(["corruption", "severity"])["correct"].agg(accuracy="mean", n="size")
    g = g.reset_index()
    starts = pd.DataFrame({"corruption": g["corruption"].unique(), "severity": 0,
                           "accuracy": clean["correct"].mean(), "n": len(clean)})
    out = pd.concat([starts, g], ignore_index=True)
    out["kind"] = [kinds.get(x, "3D" if x in default_3d else "2D") for x in out["corruption"]]
    out = out.sort_values(["kind", "corruption", "severity"], ignore_index=True)
    return out[["corruption", "kind", "severity", "accuracy", "n"]]


def kind_summary(table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per (by..., kind): clean accuracy, mean corrupted accuracy over severities >= 1, and the drop
    (clean minus corrupted, in accuracy points as a fraction)."""
    by = list(by)
    rows = []
    for key, g in table.groupby(by + ["kind"]):
        key = key if isinstance(key, tuple) else (key,)
        clean = g.loc[g["severity"] == 0, "accuracy"].mean()
        corr = g.loc[g["severity"] > 0, "accuracy"].mean()
        rows.append(dict(zip(by + ["kind"], key), clean=clean, corrupted=corr, drop=clean - corr))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ dense features
def pixel_features(images: torch.Tensor, patch: int = 3) -> torch.Tensor:
    """A no-learning baseline: each pixel described by its patch x patch RGB neighbourhood [B, 3*p*p, H, W]
    (uint8 or float images), centred per patch so that matching uses local pattern, not only colour."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    B, C, H, W = x.shape
    u = F.unfold(x, patch, padding=patch // 2).view(B, C * patch * patch, H, W)
    return torch.cat([u - u.mean(1, keepdim=True), u.mean(1, keepdim=True)], 1)


def match_errors(feat_a: torch.Tensor, feat_b: torch.Tensor, corr: Any, image_size: int,
                 mask_b: torch.Tensor | None = None, max_points: int | None = None, seed: int = 0) -> np.ndarray:
    """Pixel distance between the matched and the true point in view B, for each correspondence.

    feat_a, feat_b: [C, h, w] dense features of the two views; corr [K, 4] = (row_a, col_a, row_b,
    col_b) in image pixels; candidates in B are its object pixels (mask_b [H, W]) or every pixel.
    max_points subsamples the queries (seeded) to bound cost.
    """
    c = torch.as_tensor(np.asarray(corr), dtype=torch.long)
    if c.ndim != 2 or c.shape[1] != 4:
        raise ValueError(f"correspondences must be [K, 4] (row_a, col_a, row_b, col_b), got {tuple(c.shape)}")
    if feat_a.shape[0] != feat_b.shape[0]:
        raise ValueError(f"feature channels differ: {feat_a.shape[0]} vs {feat_b.shape[0]}")
    if len(c) == 0:
        return np.zeros(0)
    if max_points is not None and len(c) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(c), max_points, replace=False))
        c = c[torch.as_tensor(keep)]

    def up(f):
        f = f.float()[None]
        if f.shape[-1] != image_size or f.shape[-2] != image_size:
            f = F.interpolate(f, size=(image_size, image_size), mode="bilinear", align_corners=False)
        return F.normalize(f[0], dim=0)

    fa, fb = up(feat_a), up(feat_b)
    q = fa[:, c[:, 0], c[:, 1]].T  # [K, C]
    if mask_b is not None:
        rb, cb = torch.as_tensor(mask_b).bool().nonzero(as_tuple=True)
        if len(rb) == 0:
            raise ValueError("mask_b has no object pixel to match to")
    else:
        rb, cb = torch.meshgrid(torch.arange(image_size), torch.arange(image_size), indexing="ij")
        rb, cb = rb.reshape(-1), cb.reshape(-1)
    cand = fb[:, rb, cb]  # [C, M]
    best = (q @ cand).argmax(1)
    dr = (rb[best] - c[:, 2]).float()
    dc = (cb[best] - c[:, 3]).float()
    return torch.sqrt(dr ** 2 + dc ** 2).numpy()


def recall_at(errors: Any, radii: Sequence[float] = RADII) -> dict[str, float]:
    """{'recall@2px': .., ...}: fraction of matches within each radius (<=) of the true pixel."""
    e = np.asarray(errors, dtype=float)
    if e.size == 0:
        return {f"recall@{r:g}px": float("nan") for r in radii}
    return {f"recall@{r:g}px": float(np.mean(e <= r)) for r in radii}


def correspondence_table(features: torch.Tensor, pairs: Sequence[tuple[int, int]], correspondences: Sequence[Any],
                         image_size: int, masks: torch.Tensor | None = None, radii: Sequence[float] = RADII,
                         max_points: int | None = 64, seed: int = 0) -> pd.DataFrame:
    """Recall at each radius over all pairs: features [N, C, h, w] of every view; pairs[k] = (index of
    view A, index of view B) with correspondences[k]. One row per radius: radius, recall, n_points,
    n_pairs, median_error."""
    if len(pairs) != len(correspondences):
        raise ValueError(f"{len(pairs)} pairs but {len(correspondences)} correspondence arrays")
    errs = []
    for k, (a, b) in enumerate(pairs):
        errs.append(match_errors(features[a], features[b], correspondences[k], image_size,
                                 None if masks is None else masks[b], max_points, seed + k))
    e = np.concatenate(errs) if errs else np.zeros(0)
    rec = recall_at(e, radii)
    return pd.DataFrame([dict(radius=r, recall=rec[f"recall@{r:g}px"], n_points=len(e), n_pairs=len(pairs),
                              median_error=float(np.median(e)) if len(e) else float("nan")) for r in radii])


def recipe_effects(table: pd.DataFrame, factors: Mapping[str, str], value: str, metric: str, *,
                   base: str = "base", where: Mapping[str, Any] | None = None, source: str = "lab") -> pd.DataFrame:
    """Each recipe's `value` (mean over the rows matching `where`) minus the base recipe's."""
    return recipe_contrast(table, factors, value, metric, NAME, base=base, where=where, source=source)


def corruption_frame(outs: pd.DataFrame, factors: pd.DataFrame, set_name: str = "lab-3dcc") -> pd.DataFrame:
    """`corruption_accuracy` of every row of `lab_eval.outputs_frame` (recipe, seed) on `set_name`, whose factor
    rows are `factors`. Columns: model, seed, arch, corruption, kind, severity, accuracy, n."""
    parts = []
    for o in outs.to_dict("records"):
        zs = o[set_name]
        correct = (zs.logits.argmax(1) == zs.labels).numpy()
        t = corruption_accuracy(correct, factors)
        for col in ("arch", "seed", "model"):
            t.insert(0, col, o[col])
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def correspondence_frame(dense: pd.DataFrame, ls: Any, radii: Sequence[float] = RADII, max_points: int = 64,
                         baseline: bool = True) -> pd.DataFrame:
    """Cross-view correspondence recall of each recipe's dense features (`lab_eval.dense_frame` on the
    lab-multiview set `ls`) on its pairs.

    Views 2k and 2k+1 of the set are the two views of pair k. With `baseline`, a no-learning row
    ('pixels': 3x3 RGB patches) shows what raw appearance alone achieves.
    Columns: model, arch, layer, n_layers, grid, channels, radius, recall, n_points, n_pairs, median_error.
    """
    size = int(ls.images.shape[-1])
    corr = ls.extras["correspondences"]
    masks = ls.extras.get("mask")
    pairs = [(2 * k, 2 * k + 1) for k in range(len(corr))]
    parts = []
    if baseline:
        t = correspondence_table(pixel_features(ls.images), pairs, corr, size, masks, radii, max_points)
        parts.append(t.assign(model="pixels", arch="none", layer=-1, n_layers=0, grid=size, channels=28))
    for o in dense.to_dict("records"):
        t = correspondence_table(o["features"], pairs, corr, size, masks, radii, max_points)
        parts.append(t.assign(model=o["model"], arch=o["arch"],
                              **{k: o[k] for k in ("layer", "n_layers", "grid", "channels")}))
    cols = ["model", "arch", "layer", "n_layers", "grid", "channels", "radius", "recall", "n_points", "n_pairs",
            "median_error"]
    return pd.concat(parts, ignore_index=True)[cols]


# ------------------------------------------------------------------ the axis and its chapter

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Top-1 per 3D common corruption and severity (severity 0: the clean images of the lab set)."""
    f = o.frame[["corruption", "severity"]].assign(correct=o.correct().astype(float))
    if (f["corruption"] == "none").any():
        t = corruption_accuracy(f["correct"].to_numpy(), f)
    else:
        t = f.groupby(["corruption", "severity"])["correct"].agg(accuracy="mean", n="size").reset_index()
    return [row(f"{r.corruption}/{int(r.severity)}", "top1", r.accuracy, r.n) for r in t.itertuples()]


AXIS = register(Axis("threed", NAME, "08_3d_awareness", live=("imagenet-3dcc",), lab=("lab-3dcc",),
                     runner="3d", tasks=("3d",), evaluate=evaluate, metrics=("top1",)))
ARCHS = ["base", "arch-vit", "arch-convnext"]

# top-1 of every recipe and seed per corruption and severity on lab-3dcc (`corruption_frame`): C1's lab evidence
LAB_3DCC = AXIS.table("lab_3dcc", model="text", seed="int64", arch="text", corruption="text", kind="text",
                      severity="int64", accuracy="float64", n="int64")


def records(ch: chapter.Chapter) -> None:
    """The records hold nothing on this axis: one notice says so."""
    ch.effects.not_measured("test-time prompts", "correspondence reads the image tower only; the 3DCC rows use the "
                            "prompt ensemble throughout (the prompt effect is measured in chapters 2-6)")
    if chapter.records_ready():  # else one "Records missing" notice
        chapter.notice("No records on this axis", "The records hold no 3DCC or correspondence numbers of real models; "
                       "nothing on this axis is taken from them.")


def lab_examples(ch: chapter.Chapter) -> None:
    """A clean lab-3dcc image and each corruption at severities 3 and 5."""
    ls3 = lab_eval.labset("lab-3dcc", ch.params.n_3dcc_scenes, ch.lab_profile)
    f3 = ls3.factors
    pick = [0] + [int(np.flatnonzero(((f3["corruption"] == c) & (f3["severity"] == s)).to_numpy())[0])
                  for c in f3.loc[f3["corruption"] != "none", "corruption"].unique() for s in (3, 5)]
    fig, _ = plots.image_grid(ls3.images[pick], [f"{f3['corruption'][i]} s{f3['severity'][i]}" for i in pick],
                              ncols=6, size=1.35)
    ch.figure(fig, f3.iloc[pick].reset_index(drop=True)[["corruption", "severity", "shape"]], "lab_3dcc_examples")
    show()


def lab_calibration(ch: chapter.Chapter) -> pd.DataFrame:
    """The 3D strengths calibrated on the base recipe: target drop (mean 2D drop), level and achieved drop."""
    from ..lab import severity

    t = ch.save(severity.table(ch.lab_profile, ch.device), "lab_3dcc_calibration")
    fig, ax = plots.bars(t, "severity", "achieved_drop", hue="corruption", figsize=(7, 3.2), rotate=0, legend="keep",
                         ylabel="base's drop, clean − corrupted", title="3D strengths calibrated to the 2D drops "
                         "(calibration scenes; black: the 2D target)")
    target = t.groupby("severity")["target_drop"].first()
    ax.scatter(range(len(target)), target.to_numpy(), color="black", marker="_", s=400, zorder=3)
    ch.figure(fig, t, "lab_3dcc_calibration")
    show()
    short = sorted(set(t.loc[~t["reached"].astype(bool), "corruption"]))
    gap = float((t["achieved_drop"] - t["target_drop"]).abs().mean())
    chapter.finding("On {n:.0f} calibration scenes the calibrated 3D corruptions cost base within {g:.3f} (mean "
                    "absolute difference) of the 2D target at each severity. {rest}", n=float(t["n_scenes"].iloc[0]),
                    g=gap, rest=(f"{', '.join(short)} could not reach the target even at the strongest level tried, "
                                 "so it stays weaker than the 2D corruptions." if short else
                                 "Every 3D corruption reached the target."))
    return t


def lab_3dcc(ch: chapter.Chapter) -> pd.DataFrame:
    """Top-1 of every recipe and seed per corruption and severity; the three architectures' curves."""
    n = ch.params.n_3dcc_scenes
    outs = lab_eval.outputs_frame(list(lab_eval.recipes(ch.lab_profile)["recipe"]), ["lab-3dcc"], n=n,
                                  profile=ch.lab_profile, device=ch.device, seeds_=lab_eval.seeds(ch.lab_profile),
                                  precision=ch.precision)
    acc3 = ch.publish(LAB_3DCC, corruption_frame(outs, lab_eval.labset("lab-3dcc", n, ch.lab_profile).factors))
    arch = acc3[acc3["model"].isin(ARCHS)]
    fig = plots.severity_lines(arch, "severity (0 = clean)", aspect=1.1)
    ch.figure(fig, arch, "lab_3dcc_by_architecture")
    show()
    return acc3


def lab_drop(ch: chapter.Chapter, acc3: pd.DataFrame) -> None:
    """Mean drop from clean, 3D against 2D corruptions per recipe; the finding and the effects."""
    recipes = list(lab_eval.recipes(ch.lab_profile)["recipe"])
    summ = ch.save(kind_summary(acc3, by=["model"]), "lab_3dcc_kind_summary")
    fig, ax = plots.bars(summ, "model", "drop", hue="kind", order=recipes, figsize=(9, 3.6), rotate=45, legend="keep",
                         ylabel="accuracy drop, clean − corrupted (fraction)",
                         title="Mean drop over severities 1-5, 3D vs 2D corruptions")
    ch.figure(fig, summ, "lab_3dcc_drop")
    show()
    w = summ.pivot_table(index="model", columns="kind", values="drop")
    b = w.loc["base"]
    # 2D and 3D severities are comparable only if they cost base about the same; otherwise counting recipes whose 3D
    # drop is larger measures the corruptions, not the models, and the chapter says so instead of counting
    ratio = float(b["3D"] / b["2D"]) if b["2D"] > 0 else float("nan")
    comparable = bool(np.isfinite(ratio) and 2 / 3 <= ratio <= 3 / 2)
    chapter.finding("For the base recipe, 3D corruptions cost {d3:.3f} of accuracy on average and 2D ones {d2:.3f} "
                    "(ratio {r:.2f}). {rest}", d3=b["3D"], d2=b["2D"], r=ratio,
                    rest=(f"The two kinds are comparable in strength on base (ratio within 2/3..3/2), and across "
                          f"{len(w)} recipes the 3D drop is larger for {int((w['3D'] > w['2D']).sum())}." if comparable
                          else "Although calibrated on separate scenes, the two kinds cost base different amounts on "
                          "these evaluation scenes (ratio outside 2/3..3/2; the calibration table above says which 3D "
                          "corruption fell short), so how many recipes lose more to 3D than to 2D corruptions says "
                          "more about the corruptions than about the models; compare recipes within one kind instead."))
    ch.effects.extend(recipe_effects(acc3[acc3["severity"] > 0], lab_eval.recipe_factors(), "accuracy",
                                            "accuracy under 3D corruptions (severity 1-5 mean)", where={"kind": "3D"}))


def explorer(ch: chapter.Chapter, acc3: pd.DataFrame) -> None:
    """A severity slider redrawing every recipe's accuracy per corruption (static books show a note)."""
    try:
        import ipywidgets as W

        def _at(severity: int = 3):
            plots.bars(acc3[acc3["severity"] == severity], "corruption", "accuracy", hue="model", figsize=(10, 3.4),
                       rotate=0, ylim=(0, 1), ylabel="top-1 (fraction)", title=f"severity {severity}",
                       legend=dict(fontsize=6, ncol=3))
            show()

        W.interact(_at, severity=W.IntSlider(value=3, min=0, max=5, step=1, description="severity"))
    except ImportError:
        print("ipywidgets is not installed: the static figures above are the whole record.")


def correspondence(ch: chapter.Chapter) -> pd.DataFrame:
    """Cross-view correspondence recall of every recipe's dense features (and raw pixels) by radius."""
    recipes = list(lab_eval.recipes(ch.lab_profile)["recipe"])
    size = lab_eval.labset("lab-3dcc", ch.params.n_3dcc_scenes, ch.lab_profile).images.shape[-1]
    n = ch.params.n_3dcc_scenes
    dense = lab_eval.dense_frame(recipes, "lab-multiview", n=n, profile=ch.lab_profile, device=ch.device)
    cr = correspondence_frame(dense, lab_eval.labset("lab-multiview", n, ch.lab_profile))
    ch.save(cr, "lab_correspondence")
    display(cr.pivot_table(index=["model", "arch", "layer", "grid"], columns="radius", values="recall").round(3))
    fig, ax = plots.bars(cr.assign(r=cr["radius"].map(lambda v: f"{v:g} px")), "model", "recall", hue="r",
                         order=["pixels"] + recipes, palette="crest", figsize=(9.5, 3.8), rotate=45,
                         ylabel="correspondence recall (fraction)",
                         title=f"Matches within r px of the true point ({size} px images)",
                         legend=dict(title="radius r", fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left"))
    ch.figure(fig, cr, "lab_correspondence")
    show()
    r4 = cr[cr["radius"] == 4].set_index("model")["recall"]
    best = r4.reindex(ARCHS).dropna()
    chapter.finding("At 4 px, the base model (ResNet) recovers {b:.3f} of correspondences, raw pixels {p:.3f}; among "
                    "the three architectures {best} is best ({v:.3f}).", b=r4.get("base", np.nan),
                    p=r4.get("pixels", np.nan), best=best.idxmax() if len(best) else "none",
                    v=best.max() if len(best) else np.nan)
    ch.effects.extend(recipe_effects(cr, lab_eval.recipe_factors(), "recall", "correspondence recall@4px",
                                            where={"radius": 4}))
    return cr


def live_architecture_effects(ch: chapter.Chapter, lv: pd.DataFrame) -> list[dict]:
    """The live models' encoder families against each other on mean accuracy under the 3D corruptions (every
    severity), over models (C1's live primary): ViT minus ResNet, ConvNeXt minus ResNet and ViT minus ConvNeXt,
    where both families are present."""
    from .. import zoo
    from ..effects import effect, grouped_effect

    per = lv.groupby("model", as_index=False)["accuracy"].mean()
    per["family"] = [zoo.get(m).family for m in per["model"]]
    rows = []
    for t, b in (("vit", "resnet"), ("convnext", "resnet"), ("vit", "convnext")):
        g = grouped_effect(per, "family", t, b, "accuracy")
        if np.isfinite(g["effect"]):
            rows.append(effect("architecture", AXIS.name, "accuracy under 3D corruptions (live, ImageNet-3DCC)",
                               g["effect"], f"{t} vs {b}", "live", n=g["n"], ci=(g["ci_low"], g["ci_high"]),
                               p=g["p"]))
    return ch.effects.extend(rows)


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """ImageNet-3DCC top-1 per corruption and severity of the live grid's models (the runner's results table)."""
    t = ch.live()
    if t is None:
        return None
    parts = t["part"].str.rsplit("/", n=1)
    lv = t.assign(corruption=parts.str[0], severity=parts.str[1].astype(int)).rename(columns={"value": "accuracy"})
    lv = ch.save(lv[["model", "corruption", "severity", "accuracy", "n"]], "live_3dcc")
    live_architecture_effects(ch, lv)
    fig = plots.severity_lines(lv, "severity", titles=False)
    ch.figure(fig, lv, "live_3dcc")
    show()
    ch.live_finding("Over {n:.0f} live models, mean ImageNet-3DCC accuracy falls from {a1:.3f} at severity 1 to "
                    "{a5:.3f} at severity 5.", n=lv["model"].nunique(),
                    a1=float(lv[lv["severity"] == 1]["accuracy"].mean()),
                    a5=float(lv[lv["severity"] == 5]["accuracy"].mean()))
    return lv


# ---- the paper's claims on this axis ---------------------------------------------------------------

def threed_er(acc3: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, seed): clean top-1 (severity 0), top-1 under the 3D corruptions (severity 1-5 mean) and the 3D
    effective robustness: corrupted minus the zoo's clean-to-corrupted logit-linear trend (fitted over every recipe
    and seed: the accuracy a model of that clean accuracy is expected to keep)."""
    from ..effects import trend_residuals

    a = acc3[acc3["kind"].isin(["3D", "none"]) | (acc3["severity"] == 0)]
    clean = a[a["severity"] == 0].groupby(["model", "seed"])["accuracy"].mean().rename("clean")
    corr = a[(a["severity"] > 0) & (a["kind"] == "3D")].groupby(["model", "seed"])["accuracy"].mean().rename("corrupted")
    t = pd.concat([clean, corr], axis=1).dropna().reset_index().rename(columns={"model": "recipe"})
    t["value"] = trend_residuals(t["clean"], t["corrupted"], logit=True)
    return t


@evidence("C1")
def c1(results, records_root=None) -> list[dict]:
    """C1: the three lab architectures' 3D effective robustness (a family of three contrasts), and the live models'
    encoder families."""
    out = [ev.row("records", "", note="no published per-model 3D-corruption results among the records")]
    acc3 = LAB_3DCC.read(results)
    if acc3 is not None:
        er = threed_er(acc3)
        for t, b in [("arch-vit", "base"), ("arch-convnext", "base"), ("arch-vit", "arch-convnext")]:
            if {t, b} <= set(er["recipe"]):
                out.append(ev.result_row("lab", f"3D effective robustness (logit), {t} vs {b}",
                                         ev.lab_seed_contrast(er, t, b), role="family", unit="seeds"))
        if acc3["model"].isin(["base"]).any():
            raw = acc3[(acc3["severity"] > 0) & (acc3["kind"] == "3D")].groupby(["model", "seed"])["accuracy"].mean()
            raw = raw.rename("value").reset_index().rename(columns={"model": "recipe"})
            if {"arch-convnext", "base"} <= set(raw["recipe"]):
                out.append(ev.result_row("lab", "top-1 under 3D corruptions, arch-convnext vs base (not "
                                         "accuracy-controlled)", ev.lab_seed_contrast(raw, "arch-convnext", "base"),
                                         role="secondary", unit="seeds"))
    if not any(r["source"] == "lab" for r in out):
        out.append(ev.row("lab", "", note="chapter 08 wrote no lab 3DCC table"))
    out += ev.from_effects("live", results, AXIS, "architecture", "accuracy under 3D", "models") or \
        [ev.row("live", "", note="chapter 08 wrote no live architecture effect on 3D corruptions")]
    return out
