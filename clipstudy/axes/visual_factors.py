"""Chapter 03: accuracy per visual factor (ImageNet-X records, model-vs-human records, lab factors, live).

The axis's tables are pure functions over frames. Lab error ratio: (1 - acc_factor) / (1 - acc_control), where
the control is the same scenes with no factor shifted (`factor == "none"` in lab-factors). ImageNet-X divides by
the overall accuracy instead; in the lab the unshifted control is the cleaner reference, since every factor row
is a copy of a control scene with only that factor changed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import chapter, plots
from .. import effects as E
from ..effects import effect, matched_contrast
from ..lab import evaluate as lab_eval
from . import evidence as ev
from .core import IdLookup, Outputs, Row, row, Axis, display, live_wide, register, show
from .evidence import evidence

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Accuracy and error ratio per visual factor (ImageNet-X annotations; the lab's shifted factors)."""
    from ..metrics import IMAGENET_X_FACTORS, error_ratios

    correct = o.correct()
    if "factor" in o.frame.columns:  # lab-factors: one shifted factor per image, against the unshifted control
        t = lab_factor_table(correct, o.frame["factor"])
        return [row(r.factor, m, getattr(r, m), r.count) for r in t.itertuples() for m in ("accuracy", "error_ratio")]
    t = error_ratios(correct, o.frame[[f for f in IMAGENET_X_FACTORS if f in o.frame.columns]])
    return [row(r.factor, m, getattr(r, m), r.count) for r in t.itertuples() for m in ("accuracy", "error_ratio")]


AXIS = register(Axis("visual_factors", "visual factors", "03_visual_factors", live=("imagenet-x",),
                          lab=("lab-val", "lab-factors"),
                     runner="factors", tasks=("factors",), evaluate=evaluate, metrics=("accuracy", "error_ratio")))
NOTES = {"test-time prompts": "the ImageNet-X records fix the prompts; see the lab rows when present"}


# ---- tables: pure functions over frames ---------------------------------------------------------

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
    from ..effects import LAB_BOOT, image_resamples

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


# ---- tables: model-vs-human's 17 OOD sets, humans against CLIPs and ImageNet models ---------------

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
    from ..effects import paired_effect

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
    long = records_factor_table(cvr)
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
    rec = ch.effects.extend(records_effects(xf))
    display(pd.DataFrame(rec)[["factor", "effect", "comparison"]].round(4))


# ---- records: model-vs-human ---------------------------------------------------------------------------
def mvh_levels(ch: chapter.Chapter) -> dict | None:
    """Model-vs-human decisions: accuracy by distortion level (None after a notice when the records are absent)."""
    if not chapter.records_ready(*MVH_FOLDERS):  # else one "Records missing" notice naming the fetch command
        return None
    from .. import records
    from ..records.decision_tables import condition_order

    mvh = mvh_decisions()
    acc = ch.save(records.ood_accuracy_table(mvh), "records_mvh_accuracy")
    panel = mvh_panel(acc)
    orders = {ds: condition_order(acc.loc[acc["dataset"] == ds, "condition"]) for ds in PARAMETRIC}
    fig, _ = plots.accuracy_by_level(panel, list(PARAMETRIC), orders,
                                     title="Accuracy by distortion level (dotted: chance, 1/16)")
    ch.figure(fig, panel, "records_mvh_levels")
    show()
    return dict(mvh=mvh, acc=acc, panel=panel)


def mvh_renditions(ch: chapter.Chapter, m: dict | None) -> None:
    if m is None:
        return
    from .. import records

    nonpar = m["panel"][m["panel"]["dataset"].isin(NONPARAMETRIC)]
    fig, ax = plots.bars(nonpar, "dataset", "accuracy", hue="label", ylabel="accuracy",
                         title="Renditions: sketch, stylized, edge, silhouette", ref=1 / 16, rotate=0)
    ch.figure(fig, nonpar, "records_mvh_renditions")
    show()
    da = m["da"] = records.dataset_accuracy(m["acc"], exclude=True)  # the benchmark's levels (no control, no floor)
    clip_mean = da[da["model"].isin(CLIPS)].groupby("model")["accuracy"].mean()
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
    per = ec.assign(label=[decider_label(a, b, k) for a, b, k in zip(ec["model"], ec["arch"], ec["kind"])])
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
    rows = ch.effects.extend(mvh_effects(m["da"], ec))
    display(E.effects_frame(rows)[["metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))


# ---- lab -------------------------------------------------------------------------------------------
def lab_factors(ch: chapter.Chapter) -> dict:
    """Accuracy and ER per out-of-range factor for every recipe, seed (and base's prompt sets), with flags."""
    from ..metrics import LogitFit

    recs = lab_eval.recipes(ch.lab_profile)
    parts, mats = [], {}
    for r, sd, prompts in _runs(ch):
        zs, ls = lab_eval.zero_shot(r, "lab-factors", n=ch.params.n_factor_scenes, profile=ch.lab_profile,
                                    prompts=prompts, device=ch.device, seed=sd, precision=ch.precision)
        correct = (zs.logits.argmax(1) == zs.labels).numpy()
        parts.append(lab_factor_table(correct, ls.factors["factor"]).assign(recipe=r, seed=sd, prompts=prompts))
        mats[(r, sd, prompts)] = lab_factor_matrix(correct, ls.factors["factor"])
    lab_x = pd.concat(parts, ignore_index=True).merge(
        recs[["recipe", "factor"]].rename(columns={"factor": "recipe_factor"}), on="recipe")
    lab_x["model"] = lab_x["recipe"] + "#" + lab_x["seed"].astype(str) + "/" + lab_x["prompts"]
    # each factor's line is fitted over every recipe and seed with the ensemble prompts (the zoo's trend)
    fits = lab_factor_er(lab_x[lab_x["prompts"] == "ensemble"])
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
    per_seed["boot"] = [lab_factor_er_boot(mats[(r, sd, p)][0], mats[(r, sd, p)][1], fits)
                        for r, sd, p in zip(per_seed["recipe"], per_seed["seed"], per_seed["prompts"])]
    ens = lab_x[lab_x["prompts"] == "ensemble"]
    flags = {r: "; ".join(sorted({f for f in ens.loc[ens["recipe"] == r, "flag"] if f})) for r in recs["recipe"]}
    flags = lab_eval.merge_flags(flags, lab_eval.parity_flags(ch.lab_profile, ch.n_eval, ch.device, ch.precision))
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
    live_source_effects(ch, live_x)
    return live_x


def live_source_effects(ch: chapter.Chapter, live_x: pd.DataFrame) -> list[dict]:
    """Each training source of the live zero-shot CLIPs against OpenAI's WIT on the ImageNet-X error ratio,
    matched by factor, over models (C7's live primary)."""
    from .. import zoo
    from ..effects import grouped_effect

    if "error_ratio" not in live_x.columns:
        return []
    specs = {m: zoo.get(m) for m in live_x["model"].unique()}
    zs = live_x[live_x["model"].map(lambda m: not specs[m].finetuned)]
    zs = zs.assign(data=zs["model"].map(lambda m: specs[m].data))
    rows = []
    for src in sorted(set(zs["data"]) - {"openai-wit"}):
        g = grouped_effect(zs, "data", src, "openai-wit", "error_ratio", match=["factor"])
        if np.isfinite(g["effect"]):
            rows.append(effect("training distribution", AXIS.name, "ImageNet-X error ratio (live, mean over factors)",
                               g["effect"], f"{src} vs openai-wit", "live", n=g["n"], ci=(g["ci_low"], g["ci_high"]),
                               p=g["p"]))
    return ch.effects.extend(rows)


# ---- the paper's claims on this axis ---------------------------------------------------------------

# one checkpoint under two testbed names: the modelvshuman testbed's OpenAI CLIPs are the imagenet_testbed's
IMAGENET_X_SAME = {"clip": "vit_b_32_clip_zeroshot", "clipRN50": "resnet50_clip_zeroshot"}


def imagenet_x_er(records_root=None) -> pd.DataFrame:
    """Per-model, per-factor ER of the zero-shot CLIPs and the baseline ImageNet models (ImageNet-X), each model
    once: a model listed in several testbeds is averaged over them (it is one model, not several)."""
    from .. import records

    f = records.imagenet_x_factors(records_root)
    f = f[(f["group"] == records.ZS_CLIP) | f["baseline"]]
    f = f.assign(clip=f["group"] == records.ZS_CLIP, model=f["model"].replace(IMAGENET_X_SAME))
    return f.groupby(["model", "clip", "factor"], as_index=False)["er"].mean()


def factor_gaps(er: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> tuple[pd.Series, np.ndarray, int, int]:
    """CLIP minus ImageNet mean ER per factor, its bootstrap over models (both groups resampled,
    `effects.column_gaps`), and the number of models in each group."""
    w = er.pivot_table(index=["model", "clip"], columns="factor", values="er").reset_index()
    factors = [c for c in w.columns if c not in ("model", "clip")]
    c, b = w[w["clip"]][factors].to_numpy(float), w[~w["clip"]][factors].to_numpy(float)
    gaps, boot = E.column_gaps(c, b, n_boot, seed)
    return pd.Series(gaps, index=factors), boot, len(c), len(b)


def _small(n_group: int, what: str) -> str:
    """A caveat when one group of a two-group bootstrap has fewer than MIN_UNITS units (its spread is unknown)."""
    return f"n too small: {n_group} {what} (under {E.MIN_UNITS}, no bootstrap interval)" if n_group < E.MIN_UNITS else ""


@evidence("C5", "C6")
def c5_c6(results, records_root=None) -> list[dict]:
    """C5 (the share of ImageNet-X factors where zero-shot CLIPs' ER beats the ImageNet models') and C6 (their gap on
    pose and partial view), from the records, over models."""
    from ..errors import ClipstudyError

    try:
        er = imagenet_x_er(records_root)
    except ClipstudyError as e:
        why = f"records missing ({type(e).__name__}): run `clipstudy fetch records`"
        return [dict(ev.row("records", "", note=why), id=i) for i in ("C5", "C6")]
    gaps, boot, n_clip, n_base = factor_gaps(er)
    share, sb = float((gaps > 0).mean()) - 0.5, (boot > 0).mean(axis=1) - 0.5
    on = [f for f in ("pose", "partial_view") if f in gaps.index]
    pb = boot[:, [list(gaps.index).index(f) for f in on]].mean(axis=1)
    note = (f"{n_clip} zero-shot CLIPs (OpenAI ViT-B/32 and RN50; each listed in two testbeds, averaged) against "
            f"{n_base} ImageNet models; bootstrap over models")
    # n is the smaller group, the one that limits what the bootstrap can know; the unit names the other
    n, unit = n_clip, f"zero-shot CLIPs (vs {n_base} ImageNet models)"
    return [dict(ev.row("records", f"share of the {len(gaps)} ImageNet-X factors where CLIP's per-factor ER is above "
                        f"the ImageNet models' ({(gaps > 0).sum()} of {len(gaps)}), minus 0.5", share, n,
                        tuple(np.quantile(sb, [0.025, 0.975])), note, unit=unit, p=E.boot_p(sb),
                        caveat=_small(n_clip, "zero-shot CLIPs")), id="C5"),
            dict(ev.row("records", "CLIP minus ImageNet models, per-factor ER, mean of pose and partial_view",
                        float(gaps[on].mean()), n, tuple(np.quantile(pb, [0.025, 0.975])), note, unit=unit,
                        p=E.boot_p(pb), caveat=_small(n_clip, "zero-shot CLIPs")), id="C6"),
            *[dict(ev.row(s, "", note="ImageNet-X factors are measured on the records only in this build"), id=i)
              for i in ("C5", "C6") for s in ("lab", "live")]]


@evidence("C7")
def c7(results, records_root=None) -> list[dict]:
    """C7: training-distribution contrasts of per-factor ER (a lab family; live models by training source)."""
    out = [ev.row("records", "", note="the ImageNet-X records hold OpenAI CLIPs only: no second training source")]
    out += ev.from_effects("lab", results, AXIS, "training distribution", "mean effective", "seeds x images",
                           role="family") or \
        [ev.row("lab", "", note="chapter 03 wrote no lab training-distribution effect")]
    out += ev.from_effects("live", results, AXIS, "training distribution", "", "models") or \
        [ev.row("live", "", note="no live ImageNet-X evaluation in this build")]
    return out
