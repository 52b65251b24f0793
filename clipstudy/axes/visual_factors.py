"""Chapter 03: accuracy per visual factor (ImageNet-X records, model-vs-human records, lab factors, live)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..analysis import effects as E
from ..analysis import visual_factors as V
from ..lab import evaluate as lab_eval
from .core import IdLookup, Outputs, Row, row, Axis, display, live_wide, register, show

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Accuracy and error ratio per visual factor (ImageNet-X annotations; the lab's shifted factors)."""
    from ..metrics import IMAGENET_X_FACTORS, error_ratios

    correct = o.correct()
    if "factor" in o.frame.columns:  # lab-factors: one shifted factor per image, against the unshifted control
        from ..analysis.visual_factors import lab_factor_table

        t = lab_factor_table(correct, o.frame["factor"])
        return [row(r.factor, m, getattr(r, m), r.count) for r in t.itertuples() for m in ("accuracy", "error_ratio")]
    t = error_ratios(correct, o.frame[[f for f in IMAGENET_X_FACTORS if f in o.frame.columns]])
    return [row(r.factor, m, getattr(r, m), r.count) for r in t.itertuples() for m in ("accuracy", "error_ratio")]


AXIS = register(Axis("visual_factors", "visual factors", "03_visual_factors", live=("imagenet-x",),
                          lab=("lab-val", "lab-factors"),
                     runner="factors", tasks=("factors",), evaluate=evaluate, metrics=("accuracy", "error_ratio")))
NOTES = {"test-time prompts": "the ImageNet-X records fix the prompts; see the lab rows when present"}


# ---- records: ImageNet-X ------------------------------------------------------------------------------
def records_imagenet_x(ch: chapter.Chapter) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Per-factor accuracy of the ImageNet-X models, and zero-shot CLIP against the rest (None, None: no records)."""
    if not chapter.records_ready():  # else one "Records missing" notice
        return None, None
    from .. import records

    xf = ch.save(records.imagenet_x_factors(), "records_imagenet_x")
    cvr = ch.save(records.imagenet_x_clip_vs_rest(xf), "records_clip_vs_rest")
    display(xf.groupby("group")["model"].nunique().rename("models").to_frame())
    return xf, cvr


def records_factors(ch: chapter.Chapter, xf: pd.DataFrame | None, cvr: pd.DataFrame | None) -> None:
    """Error ratio and ER per factor, zero-shot CLIP against ImageNet models; the findings and effects."""
    if xf is None:
        return
    long = V.records_factor_table(cvr)
    fig = plots.factor_ratio_bars(long, list(cvr["factor"]))
    ch.figure(fig, long, "records_factor_bars")
    show()
    top, bottom = cvr.iloc[0], cvr.iloc[-1]
    chapter.finding("Zero-shot CLIPs are above the ImageNet models' line on {n_pos:.0f} of {n:.0f} factors. Their "
                    "largest per-factor ER gap is on '{top}' ({g_top:+.3f}); the smallest on '{bot}' ({g_bot:+.3f}).",
                    n_pos=int(cvr["clip_more_robust"].sum()), n=len(cvr), top=top["factor"],
                    g_top=float(top["er_gap"]), bot=bottom["factor"], g_bot=float(bottom["er_gap"]))
    hard = cvr.sort_values("error_ratio_clip", ascending=False).iloc[0]
    chapter.finding("The factor that hurts zero-shot CLIPs most relative to their own average is '{f}' "
                    "(error ratio {er:.3f}; ImageNet models {rest:.3f}).", f=hard["factor"],
                    er=float(hard["error_ratio_clip"]), rest=float(hard["error_ratio_rest"]))
    rec = ch.effects.extend(V.records_effects(xf))
    display(pd.DataFrame(rec)[["factor", "effect", "comparison"]].round(4))


# ---- records: model-vs-human ---------------------------------------------------------------------------
def mvh_levels(ch: chapter.Chapter) -> dict | None:
    """Model-vs-human decisions: accuracy by distortion level (None after a notice when the records are absent)."""
    if not chapter.records_ready(*V.MVH_FOLDERS):  # else one "Records missing" notice naming the fetch command
        return None
    from .. import records
    from ..records.decision_tables import condition_order

    mvh = V.mvh_decisions()
    acc = ch.save(records.ood_accuracy_table(mvh), "records_mvh_accuracy")
    panel = V.mvh_panel(acc)
    orders = {ds: condition_order(acc.loc[acc["dataset"] == ds, "condition"]) for ds in V.PARAMETRIC}
    fig, _ = plots.accuracy_by_level(panel, list(V.PARAMETRIC), orders,
                                     title="Accuracy by distortion level (dotted: chance, 1/16)")
    ch.figure(fig, panel, "records_mvh_levels")
    show()
    return dict(mvh=mvh, acc=acc, panel=panel)


def mvh_renditions(ch: chapter.Chapter, m: dict | None) -> None:
    if m is None:
        return
    from .. import records

    nonpar = m["panel"][m["panel"]["dataset"].isin(V.NONPARAMETRIC)]
    fig, ax = plots.bars(nonpar, "dataset", "accuracy", hue="label", ylabel="accuracy",
                         title="Renditions: sketch, stylized, edge, silhouette", ref=1 / 16, rotate=0)
    ch.figure(fig, nonpar, "records_mvh_renditions")
    show()
    da = m["da"] = records.dataset_accuracy(m["acc"], exclude=True)  # the benchmark's levels (no control, no floor)
    clip_mean = da[da["model"].isin(V.CLIPS)].groupby("model")["accuracy"].mean()
    hum = da[da["kind"] == "human"].groupby("dataset")["accuracy"].mean().mean()
    chapter.finding("Over the 16 OOD sets (model-vs-human's benchmark levels), mean accuracy is {b32:.3f} for CLIP "
                    "ViT-B/32, {b16:.3f} for B/16 and {l14:.3f} for L/14; humans (mean per set) {h:.3f}.",
                    b32=clip_mean.get("clip", np.nan), b16=clip_mean.get("clip-16", np.nan),
                    l14=clip_mean.get("clip-14", np.nan), h=hum)


def mvh_consistency(ch: chapter.Chapter, m: dict | None) -> None:
    """Error consistency (Cohen's kappa) with human observers, and the records' effects on this axis."""
    if m is None:
        return
    from .. import records

    ec = records.error_consistency_summary(records.error_consistency_table(m["mvh"]), m["mvh"])
    ch.save(ec, "records_error_consistency")
    per = ec.assign(label=[V.decider_label(a, b, k) for a, b, k in zip(ec["model"], ec["arch"], ec["kind"])])
    per = per[per["label"].isin(set(m["panel"]["label"]))].groupby("label", as_index=False)["kappa"].mean()
    per = per.sort_values("kappa")
    fig, ax = plots.bars(per, "label", "kappa", ylabel="kappa with humans (mean over sets)",
                         title="Error consistency: do models err where humans err?", ref=0.0, rotate=40)
    ch.figure(fig, per, "records_error_consistency")
    show()
    k = per.set_index("label")["kappa"]
    chapter.finding("Mean kappa with human observers: CLIP ViT-B/32 {b32:.3f}, B/16 {b16:.3f}, L/14 {l14:.3f}, "
                    "ResNet-50 {rn:.3f}; humans among themselves {h:.3f}.", b32=k.get("CLIP ViT-B/32", np.nan),
                    b16=k.get("CLIP ViT-B/16", np.nan), l14=k.get("CLIP ViT-L/14", np.nan),
                    rn=k.get("ResNet-50", np.nan), h=k.get("humans", np.nan))
    rows = ch.effects.extend(V.mvh_effects(m["da"], ec))
    display(E.effects_frame(rows)[["metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))


# ---- lab -------------------------------------------------------------------------------------------
def lab_factors(ch: chapter.Chapter) -> dict:
    """Accuracy and ER per out-of-range factor for every recipe, seed (and base's prompt sets), with flags."""
    from ..metrics import LogitFit

    recs = lab_eval.recipes(ch.lab_profile)
    parts, mats = [], {}
    for r, sd, prompts in _runs(ch):
        zs, ls = lab_eval.zero_shot(r, "lab-factors", n=ch.params.n_factor_scenes, profile=ch.lab_profile,
                                    prompts=prompts, device=ch.device, seed=sd)
        correct = (zs.logits.argmax(1) == zs.labels).numpy()
        parts.append(V.lab_factor_table(correct, ls.factors["factor"]).assign(recipe=r, seed=sd, prompts=prompts))
        mats[(r, sd, prompts)] = V.lab_factor_matrix(correct, ls.factors["factor"])
    lab_x = pd.concat(parts, ignore_index=True).merge(
        recs[["recipe", "factor"]].rename(columns={"factor": "recipe_factor"}), on="recipe")
    lab_x["model"] = lab_x["recipe"] + "#" + lab_x["seed"].astype(str) + "/" + lab_x["prompts"]
    # each factor's line is fitted over every recipe and seed with the ensemble prompts (the zoo's trend)
    fits = V.lab_factor_er(lab_x[lab_x["prompts"] == "ensemble"])
    line = fits.drop_duplicates("factor").set_index("factor")[["fit_slope", "fit_intercept", "fit_n"]]
    lab_x = lab_x.join(line, on="factor")
    lab_x["er"] = [a - float(LogitFit(sl, ic, int(n), np.nan)(c)) if np.isfinite(sl) else np.nan
                   for a, c, sl, ic, n in zip(lab_x["accuracy"], lab_x["control_accuracy"], lab_x["fit_slope"],
                                              lab_x["fit_intercept"], lab_x["fit_n"])]
    lab_x["flag"] = [lab_eval.shift_flag(r, f) for r, f in zip(lab_x["recipe"], lab_x["factor"])]
    ch.save(lab_x, "lab_factors")
    return dict(table=lab_x, mats=mats, fits=fits)


def _runs(ch: chapter.Chapter):
    """(recipe, seed, prompts): every recipe and seed with the ensemble; base also with one template."""
    for r in lab_eval.recipes(ch.lab_profile)["recipe"]:
        for sd in lab_eval.seeds(ch.lab_profile):
            for prompts in (("ensemble", "single") if r == "base" else ("ensemble",)):
                yield r, sd, prompts


def lab_heatmap(ch: chapter.Chapter, lab: dict) -> pd.DataFrame:
    """ER per (recipe, factor) as a heatmap, beside base's accuracy per factor; returns base's rows."""
    recs = lab_eval.recipes(ch.lab_profile)
    ens = lab["table"][lab["table"]["prompts"] == "ensemble"]
    fig, base_rows = plots.lab_factor_heatmap(ens, list(recs["recipe"]), len(lab_eval.seeds(ch.lab_profile)))
    ch.figure(fig, ens, "lab_factor_heatmap")
    show()
    return base_rows


def lab_effects(ch: chapter.Chapter, lab: dict, base_rows: pd.DataFrame) -> list[dict]:
    """Each factor's effect on the mean ER over the lab factors (seeds and images), with findings."""
    lab_x, mats, fits = lab["table"], lab["mats"], lab["fits"]
    recs = lab_eval.recipes(ch.lab_profile)
    worst = base_rows.sort_values("accuracy").iloc[0]
    chapter.finding("For the base lab CLIP (mean over {k} seeds) the most damaging out-of-range factor is '{f}': "
                    "accuracy {a:.3f} against {c:.3f} on the unshifted control copies of the same scenes (error ratio "
                    "{er:.3f}).", k=len(lab_eval.seeds(ch.lab_profile)), f=worst["factor"],
                    a=float(worst["accuracy"]), c=float(worst["control_accuracy"]), er=float(worst["error_ratio"]))
    metric = "mean effective robustness over 10 lab factors"
    per_seed = lab_x.groupby(["recipe", "seed", "prompts"])["er"].mean().rename("value").reset_index()
    per_seed["boot"] = [V.lab_factor_er_boot(mats[(r, sd, p)][0], mats[(r, sd, p)][1], fits)
                        for r, sd, p in zip(per_seed["recipe"], per_seed["seed"], per_seed["prompts"])]
    ens = lab_x[lab_x["prompts"] == "ensemble"]
    flags = {r: "; ".join(sorted({f for f in ens.loc[ens["recipe"] == r, "flag"] if f})) for r in recs["recipe"]}
    flags = lab_eval.merge_flags(flags, lab_eval.parity_flags(ch.lab_profile, ch.n_eval, ch.device))
    rows = ch.effects.lab(per_seed[per_seed["prompts"] == "ensemble"], recs, metric, flags=flags)
    one, ensb = (per_seed[(per_seed["recipe"] == "base") & (per_seed["prompts"] == p)].sort_values("seed")
                 for p in ("single", "ensemble"))
    if len(one) and len(ensb):
        rows = rows + [ch.effects.prompts(metric, one["value"], ensb["value"], one["boot"], ensb["boot"])]
    display(pd.DataFrame(rows)[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rows:
        chapter.finding("{comp}, effect on the mean ER over the lab factors: {w}.", comp=r["comparison"],
                        w=E.effect_words(r))
    return rows


# ---- live ------------------------------------------------------------------------------------------
def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Error ratio per ImageNet-X factor of the live grid's models (the runner's results table)."""
    live_x = live_wide(ch, ["model", "part", "n"], {"part": "factor", "n": "count"}, "live_imagenet_x")
    if live_x is None:
        return None
    display(live_x.pivot_table(index="factor", columns="model", values="error_ratio").round(3))
    return live_x
