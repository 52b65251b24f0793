# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Visual factors: pose, background, size, texture, occlusion, ...
#
# Average accuracy under shift hides *which* change hurts. ImageNet-X (Idrissi et al. 2023) annotates
# every ImageNet validation image with the factors that make it unusual (pose, background, pattern,
# colour, smaller, larger, partial view, texture, style, occlusion, lighting, ...). Two numbers per
# factor $f$:
#
# - **factor accuracy**: accuracy over the images annotated with $f$;
# - **error ratio**: $(1-\mathrm{acc}_f)/(1-\mathrm{acc})$; above 1 the factor hurts more than average;
# - **per-factor ER**: factor accuracy above the logit-linear line fitted over ImageNet models.
#
# The lab does the same with a cause we control: `lab-factors` takes in-distribution scenes and pushes
# exactly one factor out of its training range, keeping an unshifted copy of each scene as a control.

# %% tags=["parameters"]
profile = "lab"
lab_profile = "lab"
n_eval = 600
live = False
device = "auto"
data_root = ""
results_dir = "book/results"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from clipstudy import chapter
from clipstudy.analysis import effects as E
from clipstudy.analysis import visual_factors as V

pd.set_option("display.max_colwidth", 140)
ch = chapter.start("03_visual_factors", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live)
effect_rows = []

# %% [markdown]
# ## Records: ImageNet-X per-factor accuracy of published models
#
# The published ImageNet-X tables (top-factor annotations, class-level labels) hold per-factor
# accuracy for the models of three testbeds, among them zero-shot OpenAI CLIPs (ViT-B/32 and
# ResNet-50; the counts are printed below). The per-factor line is fitted over the ImageNet-trained networks.

# %%
ok = chapter.records_ready()  # else one "Records missing" notice
if ok:
    from clipstudy import records

    xf = records.imagenet_x_factors()
    cvr = records.imagenet_x_clip_vs_rest(xf)
    ch.save(xf, "records_imagenet_x")
    ch.save(cvr, "records_clip_vs_rest")
    display(xf.groupby("group")["model"].nunique().rename("models").to_frame())

# %%
if ok:
    long = V.records_factor_table(cvr)
    order = list(cvr["factor"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharey=True)
    sns.barplot(data=long, y="factor", x="error_ratio", hue="who", order=order, ax=axes[0], errorbar=None)
    axes[0].axvline(1, color="0.3", lw=0.8, ls="--")
    axes[0].set(xlabel="mean error ratio (1 = as hard as average)", ylabel="ImageNet-X factor")
    sns.barplot(data=long, y="factor", x="er", hue="who", order=order, ax=axes[1], errorbar=None)
    axes[1].axvline(0, color="0.3", lw=0.8, ls="--")
    axes[1].set(xlabel="mean per-factor ER (fraction of images)", ylabel="")
    axes[1].get_legend().remove()
    axes[0].legend(fontsize=8, title="")
    fig.suptitle("ImageNet-X: zero-shot CLIP vs ImageNet models (sorted by CLIP's ER gap)")
    fig.tight_layout()
    ch.figure(fig, long, "records_factor_bars")
    plt.show()

# %%
if ok:
    top, bottom = cvr.iloc[0], cvr.iloc[-1]
    chapter.finding("Zero-shot CLIPs are above the ImageNet models' line on {n_pos:.0f} of {n:.0f} factors. Their "
                    "largest per-factor ER gap is on '{top}' ({g_top:+.3f}); the smallest on '{bot}' ({g_bot:+.3f}).",
                    n_pos=int(cvr["clip_more_robust"].sum()), n=len(cvr), top=top["factor"],
                    g_top=float(top["er_gap"]), bot=bottom["factor"], g_bot=float(bottom["er_gap"]))
    hard = cvr.sort_values("error_ratio_clip", ascending=False).iloc[0]
    chapter.finding("The factor that hurts zero-shot CLIPs most relative to their own average is '{f}' "
                    "(error ratio {er:.3f}; ImageNet models {rest:.3f}).", f=hard["factor"],
                    er=float(hard["error_ratio_clip"]), rest=float(hard["error_ratio_rest"]))
    rec = V.records_effects(xf)
    effect_rows += rec
    display(pd.DataFrame(rec)[["factor", "effect", "comparison"]].round(4))

# %% [markdown]
# ## Records: CLIP against humans on model-vs-human's 17 out-of-distribution sets
#
# Model-vs-human (Geirhos et al. 2021) shows the same images to human observers and to models: 12
# parametric distortions at several levels (colour, contrast, high-pass, low-pass, phase scrambling, power
# equalisation, false colour, rotation, three Eidolon distortions, uniform noise), four renditions
# (sketch, stylized, edge, silhouette) and cue-conflict. Its published raw decisions cover humans, ResNet-50
# and six SWAG models; a fork of it ran OpenAI CLIP ViT-B/32, B/16 and L/14 through the same 16-category
# ImageNet head. Every number below is recomputed from those per-image decisions.

# %%
mvh_ok = chapter.records_ready(*V.MVH_FOLDERS)  # else one "Records missing" notice naming the fetch command
if mvh_ok:
    from clipstudy import plots, records
    from clipstudy.records.decision_tables import condition_order

    mvh = V.mvh_decisions()
    acc = records.ood_accuracy_table(mvh)
    ch.save(acc, "records_mvh_accuracy")
    panel = V.mvh_panel(acc)
    orders = {ds: condition_order(acc.loc[acc["dataset"] == ds, "condition"]) for ds in V.PARAMETRIC}
    fig, _ = plots.accuracy_by_level(panel, list(V.PARAMETRIC), orders,
                                     title="Accuracy by distortion level (dotted: chance, 1/16)")
    ch.figure(fig, panel, "records_mvh_levels")
    plt.show()

# %%
if mvh_ok:
    nonpar = panel[panel["dataset"].isin(V.NONPARAMETRIC)]
    fig, ax = plots.bars(nonpar, "dataset", "accuracy", hue="label", ylabel="accuracy",
                         title="Renditions: sketch, stylized, edge, silhouette", ref=1 / 16, rotate=0)
    ch.figure(fig, nonpar, "records_mvh_renditions")
    plt.show()
    da = records.dataset_accuracy(acc, exclude=True)  # the benchmark's levels (no control, no floor levels)
    clip_mean = da[da["model"].isin(V.CLIPS)].groupby("model")["accuracy"].mean()
    hum = da[da["kind"] == "human"].groupby("dataset")["accuracy"].mean().mean()
    chapter.finding("Over the 16 OOD sets (model-vs-human's benchmark levels), mean accuracy is {b32:.3f} for CLIP "
                    "ViT-B/32, {b16:.3f} for B/16 and {l14:.3f} for L/14; humans (mean per set) {h:.3f}.",
                    b32=clip_mean.get("clip", np.nan), b16=clip_mean.get("clip-16", np.nan),
                    l14=clip_mean.get("clip-14", np.nan), h=hum)

# %% [markdown]
# **Error consistency.** Two deciders with the same accuracy can still err on different images. Over the
# trials of each condition matched by image, Cohen's kappa compares how often two deciders are both right
# or both wrong with what their accuracies alone predict (`metrics.error_consistency`; Geirhos et al.
# 2020). Each model is compared with every human observer; each human with the other humans, the ceiling.

# %%
if mvh_ok:
    ec_all = records.error_consistency_table(mvh)
    ec = records.error_consistency_summary(ec_all, mvh)
    ch.save(ec, "records_error_consistency")
    per = ec.assign(label=[V.decider_label(m, a, k) for m, a, k in zip(ec["model"], ec["arch"], ec["kind"])])
    per = per[per["label"].isin(set(panel["label"]))].groupby("label", as_index=False)["kappa"].mean()
    per = per.sort_values("kappa")
    fig, ax = plots.bars(per, "label", "kappa", ylabel="kappa with humans (mean over sets)",
                         title="Error consistency: do models err where humans err?", ref=0.0, rotate=40)
    ch.figure(fig, per, "records_error_consistency")
    plt.show()
    k = per.set_index("label")["kappa"]
    chapter.finding("Mean kappa with human observers: CLIP ViT-B/32 {b32:.3f}, B/16 {b16:.3f}, L/14 {l14:.3f}, "
                    "ResNet-50 {rn:.3f}; humans among themselves {h:.3f}.", b32=k.get("CLIP ViT-B/32", np.nan),
                    b16=k.get("CLIP ViT-B/16", np.nan), l14=k.get("CLIP ViT-L/14", np.nan),
                    rn=k.get("ResNet-50", np.nan), h=k.get("humans", np.nan))
    mvh_rows = V.mvh_effects(da, ec)
    effect_rows += mvh_rows
    display(E.effects_frame(mvh_rows)[["metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))

# %% [markdown]
# ## Lab: one factor out of range at a time
#
# Each `lab-factors` image is a copy of an in-distribution control scene with one factor moved
# outside the training range: pose (steep tilt or upside down), an unseen background, texture or
# colour, smaller or larger than ever seen, partial view (cut by the border), heavier occlusion,
# dark lighting from below, or an unseen style. The error ratio divides each factor's error by the
# error on the control copies of the same scenes; the effects use effective robustness per factor (below).

# %%
from clipstudy.analysis import lab_eval
from clipstudy.config import resolve_device

dev = resolve_device(device)
recs = lab_eval.recipes(lab_profile)
lab_seeds = lab_eval.seeds(lab_profile)
n_scenes = max(8, n_eval // 4)  # lab-factors has 11 images per scene (control + 10 shifted factors)
parts, mats = [], {}
for r in recs["recipe"]:
    for sd in lab_seeds:
        for prompts in (("ensemble", "single") if r == "base" else ("ensemble",)):
            zs, ls = lab_eval.zero_shot(r, "lab-factors", n=n_scenes, profile=lab_profile, prompts=prompts,
                                        device=dev, seed=sd)
            correct = (zs.logits.argmax(1) == zs.labels).numpy()
            parts.append(V.lab_factor_table(correct, ls.factors["factor"]).assign(recipe=r, seed=sd, prompts=prompts))
            mats[(r, sd, prompts)] = V.lab_factor_matrix(correct, ls.factors["factor"])
lab_x = pd.concat(parts, ignore_index=True).merge(recs[["recipe", "factor"]].rename(columns={"factor": "recipe_factor"}),
                                                  on="recipe")
lab_x["model"] = lab_x["recipe"] + "#" + lab_x["seed"].astype(str) + "/" + lab_x["prompts"]
# each factor's line is fitted over every recipe and seed with the ensemble prompts (the zoo's trend)
fits = V.lab_factor_er(lab_x[lab_x["prompts"] == "ensemble"])
line = fits.drop_duplicates("factor").set_index("factor")[["fit_slope", "fit_intercept", "fit_n"]]
from clipstudy.metrics import LogitFit

lab_x = lab_x.join(line, on="factor")
lab_x["er"] = [a - float(LogitFit(sl, ic, int(n), np.nan)(c)) if np.isfinite(sl) else np.nan for a, c, sl, ic, n in
               zip(lab_x["accuracy"], lab_x["control_accuracy"], lab_x["fit_slope"], lab_x["fit_intercept"], lab_x["fit_n"])]
lab_x["flag"] = [lab_eval.shift_flag(r, f) for r, f in zip(lab_x["recipe"], lab_x["factor"])]
_ = ch.save(lab_x, "lab_factors")

# %% [markdown]
# The error ratio (1 - acc_factor) / (1 - acc_control) is a description of one model, but a poor measure of a
# *difference* between models: its denominator shrinks as a model gets better, so a more accurate recipe gets a
# larger ratio for the same relative damage. The effects below therefore use **effective robustness per factor**:
# for each factor, a logit-linear line over the whole zoo (every recipe and seed) predicts the factor's accuracy
# from the control accuracy, and a model's ER is how far above that line it sits. A recipe that is only more
# accurate moves along the line and keeps ER near 0. Cells marked `*` are factors the recipe trains on.

# %%
ens = lab_x[lab_x["prompts"] == "ensemble"]
heat = ens.pivot_table(index="recipe", columns="factor", values="er", aggfunc="mean")
heat = heat.loc[[r for r in recs["recipe"] if r in heat.index]]
marks = ens.groupby(["recipe", "factor"])["flag"].first().unstack().reindex_like(heat)
annot = heat.map(lambda v: f"{v:+.2f}") + marks.map(lambda f: " *" if isinstance(f, str) and f else "")
fig, axes = plt.subplots(1, 2, figsize=(14, 0.5 * len(heat) + 2.2), gridspec_kw=dict(width_ratios=[3, 1.3]))
lim = float(np.nanmax(np.abs(heat.to_numpy()))) if np.isfinite(heat.to_numpy()).any() else 1.0
sns.heatmap(heat, annot=annot, fmt="", cmap="vlag", center=0.0, vmin=-lim, vmax=lim, ax=axes[0],
            cbar_kws=dict(label="ER on the factor (fraction)"), annot_kws=dict(fontsize=8))
axes[0].set(xlabel="factor pushed out of training range", ylabel="lab recipe",
            title=f"Lab effective robustness per factor (mean over {len(lab_seeds)} seeds)")
base_rows = ens[ens["recipe"] == "base"].groupby("factor", as_index=False)[["accuracy", "control_accuracy",
                                                                           "error_ratio", "er"]].mean()
base_rows = base_rows.sort_values("accuracy")
sns.barplot(data=base_rows, y="factor", x="accuracy", ax=axes[1], color="C0", errorbar=None)
axes[1].axvline(float(base_rows["control_accuracy"].iloc[0]), color="C3", lw=1, ls="--", label="control")
axes[1].set(xlim=(0, 1), xlabel="top-1 (fraction)", ylabel="", title="base: accuracy per factor")
axes[1].legend(fontsize=8, loc="lower right")
fig.tight_layout()
ch.figure(fig, ens, "lab_factor_heatmap")
plt.show()

# %%
worst = base_rows.sort_values("accuracy").iloc[0]
chapter.finding("For the base lab CLIP (mean over {k} seeds) the most damaging out-of-range factor is '{f}': accuracy "
                "{a:.3f} against {c:.3f} on the unshifted control copies of the same scenes (error ratio {er:.3f}).",
                k=len(lab_seeds), f=worst["factor"], a=float(worst["accuracy"]), c=float(worst["control_accuracy"]),
                er=float(worst["error_ratio"]))
metric = "mean effective robustness over 10 lab factors"
per_seed = lab_x.groupby(["recipe", "seed", "prompts"])["er"].mean().rename("value").reset_index()
per_seed["boot"] = [V.lab_factor_er_boot(mats[(r, sd, p)][0], mats[(r, sd, p)][1], fits)
                    for r, sd, p in zip(per_seed["recipe"], per_seed["seed"], per_seed["prompts"])]
flags = {r: "; ".join(sorted({f for f in ens.loc[ens["recipe"] == r, "flag"] if f})) for r in recs["recipe"]}
flags = lab_eval.merge_flags(flags, lab_eval.parity_flags(lab_profile, n_eval, dev))
lab_rows = E.lab_seed_effects(per_seed[per_seed["prompts"] == "ensemble"], recs, "visual factors", metric, flags=flags)
one, ensb = (per_seed[(per_seed["recipe"] == "base") & (per_seed["prompts"] == p)].sort_values("seed")
             for p in ("single", "ensemble"))
if len(one) and len(ensb):
    pe = E.seed_image_effect(one["value"], ensb["value"], np.stack(one["boot"].to_list()), np.stack(ensb["boot"].to_list()))
    lab_rows.append(E.effect("test-time prompts", "visual factors", metric, pe["effect"],
                             "one template vs the template ensemble (base)", "lab", n=pe["n"],
                             ci=(pe["ci_low"], pe["ci_high"])))
effect_rows += lab_rows
display(pd.DataFrame(lab_rows)[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
for r in lab_rows:
    chapter.finding("{comp}, effect on the mean ER over the lab factors: {w}.", comp=r["comparison"], w=E.effect_words(r))

# %% [markdown]
# ## Live: ImageNet-X on real checkpoints

# %%
panel = chapter.live_panel(["imagenet-x"], enabled=live)

# %%
if panel is not None:
    from clipstudy import datasets, zeroshot, zoo
    from clipstudy.analysis import shape_bias as SB
    from clipstudy.metrics import IMAGENET_X_FACTORS, error_ratios

    live_rows = []
    for m in panel.models:
        loaded = zoo.load(m, device)
        ds = datasets.get("imagenet-x").load(transform=loaded.preprocess)
        zs = zeroshot.run(loaded, ds, dataset_id="imagenet-x", device=device)
        correct = (zs.logits.argmax(1) == zs.labels).numpy()
        frame = SB.align(ds.frame, zs.encoded.keys)  # factor rows in the order of the encoded images
        t = error_ratios(correct, frame[[f for f in IMAGENET_X_FACTORS if f in frame.columns]])
        live_rows.append(t.assign(model=m))
    live_x = pd.concat(live_rows, ignore_index=True)
    ch.save(live_x, "live_imagenet_x")
    display(live_x.pivot_table(index="factor", columns="model", values="error_ratio").round(3))

# %% [markdown]
# ## What the six factors do here
#
# Each line is computed in this build (effect = treatment minus base).

# %%
effects = E.effects_frame(effect_rows)
ch.save(effects, "effects")
display(Markdown(E.factor_summary(effects, {
    "test-time prompts": "the ImageNet-X records fix the prompts; see the lab rows when present"})))


# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy import claims

_ = claims.show(results_dir, ['C5', 'C6', 'C7'])
