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
# # Out-of-distribution detection
#
# A deployed classifier also meets images of none of its classes. **OOD detection** asks whether a
# score computed from the model's outputs separates in-distribution (ID) images from such
# out-of-distribution (OOD) ones. Four scores, each higher for "more ID":
#
# - **MSP**: the maximum softmax probability of the logits (Hendrycks & Gimpel 2017);
# - **MaxLogit**: the largest logit;
# - **Energy**: $T\log\sum_c e^{z_c/T}$, the negative free energy (Liu et al. 2020);
# - **MCM**: the maximum softmax of the raw image-text *cosines* at temperature 1 (Ming et al. 2022),
#   which only a model with a text tower has.
#
# Each score is summarised by **AUROC** (the probability that a random ID image scores above a
# random OOD image; 0.5 is chance) and **FPR95** (the fraction of OOD images still accepted when the
# threshold keeps 95% of ID images; lower is better). *Near* OOD shares the look of the ID data but
# not its classes; *far* OOD shares neither.

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
from clipstudy.analysis import ood

ch = chapter.start("06_ood_detection", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live)
effect_parts = []
not_measured = {}

# %% [markdown]
# ## Records: what the published tables do and do not say
#
# The published records hold **no OOD-detection metric of any real model**: no AUROC, no FPR95, for
# any score. open_clip's results table has an ImageNet-O column, but it is zero-shot *classification*
# accuracy on ImageNet-O's images over its 200 ImageNet classes, not a measure of telling ImageNet-O
# apart from ImageNet. We show it only to make that distinction visible; it is not used as an OOD
# effect anywhere in this book.

# %%
ok = chapter.records_ready()  # else one "Records missing" notice
if ok:
    from clipstudy import records

    oc = records.load("open_clip")
    io = oc[(oc["metric"] == "acc1") & oc["dataset"].isin(["imagenet", "imagenet-o"])].pivot_table(
        index=["model", "family", "loss"], columns="dataset", values="value", aggfunc="first").dropna().reset_index()
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    sns.scatterplot(data=io, x="imagenet", y="imagenet-o", hue="family", style="loss", ax=ax, s=30)
    ax.set(xlabel="ImageNet zero-shot top-1 (fraction)", ylabel="ImageNet-O zero-shot top-1 (fraction)",
           title="Records: ImageNet-O is scored as classification")
    ax.legend(fontsize=7)
    ch.figure(fig, io, "records_imagenet_o_accuracy")
    plt.show()
    from scipy import stats

    rho = stats.spearmanr(io["imagenet"], io["imagenet-o"]).statistic
    chapter.finding("Over {n:.0f} open_clip models, ImageNet-O classification accuracy follows ImageNet accuracy "
                    "with Spearman rho {rho:.3f}; the records give no detection score to compare.", n=len(io), rho=rho)
for f in ("architecture", "training distribution", "training-set size", "fine-tuning", "contrastive loss",
          "test-time prompts"):
    not_measured[f] = "the records hold no OOD-detection metric of real models; see the lab rows"

# %% [markdown]
# ## Lab: held-out shapes (near) and textures or noise (far)
#
# The lab's ID set is `lab-val`. `lab-ood` holds two kinds of images: **near** OOD, scenes rendered
# exactly like training scenes but of three shapes held out of training (snowman, hourglass, cross),
# and **far** OOD, full-frame texture patches and smooth noise with no object. Every recipe of the
# lab zoo is scored with all four scores, and the contrastive recipes with both prompt sets:
# one template (`a photo of a {}.`) and the lab's ensemble of eight templates.

# %%
from clipstudy.analysis import lab_eval
from clipstudy.config import resolve_device
from clipstudy.lab import zoo as lab_zoo

dev = resolve_device(device)
recipes = list(lab_zoo.frame()["recipe"])
factors = lab_eval.recipe_factors()
ls_ood = lab_eval.labset("lab-ood", n_eval, lab_profile)
from clipstudy import plots

kinds = ls_ood.factors["kind"].to_numpy()
pick = [int(i) for k in ("held_out_shape", "texture", "noise") for i in np.flatnonzero(kinds == k)[:4]]
fig, _ = plots.image_grid(ls_ood.images[pick], [("near: " if kinds[i] == "held_out_shape" else "far: ") + kinds[i]
                                                for i in pick], ncols=6, size=1.3)
ch.figure(fig, ls_ood.factors.iloc[pick].reset_index(drop=True), "lab_ood_examples")
plt.show()

# %%
det = ood.lab_detection(recipes, n=n_eval, profile=lab_profile, device=dev, seeds=lab_eval.seeds(lab_profile))
ch.save(det, "lab_detection")
display(det[(det["model"] == "base") & (det["prompts"] == "ensemble")]
        .pivot_table(index="method", columns="ood", values=["auroc", "fpr95"]).round(3))

# %%
base = det[(det["model"] == "base") & (det["prompts"] == "ensemble") & (det["ood"] != "all")]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
sns.barplot(data=base, x="method", y="auroc", hue="ood", ax=axes[0], errorbar=None)
axes[0].axhline(0.5, color="0.3", lw=0.8, ls="--")
axes[0].set(ylim=(0, 1), xlabel="score", ylabel="AUROC (0.5 = chance)", title="base: AUROC")
sns.barplot(data=base, x="method", y="fpr95", hue="ood", ax=axes[1], errorbar=None)
axes[1].set(ylim=(0, 1), xlabel="score", ylabel="FPR at 95% TPR (lower is better)", title="base: FPR95")
fig.tight_layout()
ch.figure(fig, base, "lab_base_scores")
plt.show()
gap = ood.near_far_gap(det[det["prompts"].isin(["ensemble", "classifier head"])])
ch.save(gap, "lab_near_far_gap")
g_base = gap[(gap["model"] == "base") & (gap["method"] == "mcm")]["gap"]
if len(g_base):
    chapter.finding("For the base recipe with MCM (mean over {k} seeds), far OOD has AUROC {g:+.3f} relative to near "
                    "OOD: held-out shapes are {word} to tell apart than texture and noise images.", k=len(g_base),
                    g=float(g_base.mean()), word=chapter.direction(float(g_base.mean()), "harder", "easier", "as hard"))

# %%
per = det[det["prompts"].isin(["ensemble", "classifier head"]) & (det["ood"] != "all")]
per = per.assign(method=np.where(per["classifier"] & (per["method"] == "msp"), "msp", per["method"]))
one = per[per["method"] == "mcm"]
one = pd.concat([one, per[per["classifier"] & (per["method"] == "msp")]], ignore_index=True)
one["score"] = np.where(one["classifier"], "MSP (classifier)", "MCM")
order = [r for r in recipes if r in set(one["model"])]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=False)
sns.barplot(data=one, x="model", y="auroc", hue="ood", order=order, ax=axes[0], errorbar=None)
axes[0].axhline(0.5, color="0.3", lw=0.8, ls="--")
axes[0].set(ylim=(0, 1), xlabel="", ylabel="AUROC (0.5 = chance)", title="AUROC per recipe (MCM; MSP for finetuned)")
axes[0].get_legend().remove()
sns.barplot(data=one, x="model", y="fpr95", hue="ood", order=order, ax=axes[1], errorbar=None)
axes[1].set(ylim=(0, 1), xlabel="", ylabel="FPR95 (lower is better)", title="FPR95 per recipe")
axes[1].legend(title="OOD", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
for a in axes:
    a.tick_params(axis="x", rotation=45)
    for t in a.get_xticklabels():
        t.set_ha("right")
fig.tight_layout()
ch.figure(fig, one, "lab_recipes")
plt.show()
effect_parts.append(ood.recipe_effects(det[det["prompts"].isin(["ensemble", "classifier head"])], factors))

# %% [markdown]
# ### The effect of prompts
#
# MSP, MaxLogit, Energy and MCM all read the class head, and the head is built from the prompts.
# Below, each contrastive recipe's AUROC with the eight-template ensemble minus its AUROC with one
# template (positive: the ensemble separates ID from OOD better).

# %%
pe = ood.prompt_effect(det[~det["classifier"]])
ch.save(pe, "lab_prompt_effect")
fig, ax = plt.subplots(figsize=(9, 3.6))
sns.barplot(data=pe[pe["ood"] != "all"], x="model", y="effect", hue="method", order=[r for r in order if r in
                                                                                      set(pe["model"])], ax=ax,
            errorbar=None)
ax.axhline(0, color="0.3", lw=0.8)
ax.set(xlabel="", ylabel="AUROC, ensemble − single template", title="Prompt ensemble effect (near and far pooled)")
ax.tick_params(axis="x", rotation=45)
for t in ax.get_xticklabels():
    t.set_ha("right")
ch.figure(fig, pe[pe["ood"] != "all"], "lab_prompt_effect")
plt.show()
pe_base = pe[(pe["model"] == "base") & (pe["method"] == "mcm") & (pe["ood"] == "all")]["effect"]
pe_all = pe[(pe["method"] == "mcm") & (pe["ood"] == "all")]["effect"]
if len(pe_base):
    sel = (det["model"] == "base") & (det["method"] == "mcm") & (det["ood"] == "all")
    pr = E.seed_image_effect(*(det[sel & (det["prompts"] == p)].sort_values("seed")["auroc"] for p in ("ensemble", "single")))
    row = E.effect("test-time prompts", ood.AXIS, "auroc (mcm, all OOD)", pr["effect"],
                   "8-template ensemble vs 1 template (base)", "lab", n=pr["n"], ci=(pr["ci_low"], pr["ci_high"]))
    effect_parts.append(E.effects_frame([row]))
    per_recipe = pe_all.groupby(pe[(pe["method"] == "mcm") & (pe["ood"] == "all")]["model"]).mean()
    chapter.finding("For the base recipe, the prompt ensemble's effect on MCM AUROC: {w}. Across {n:.0f} contrastive "
                    "recipes the change (mean over seeds) averages {m:+.3f} and is positive for {k:.0f} of them.",
                    w=E.effect_words(row), n=len(per_recipe), m=float(per_recipe.mean()), k=int((per_recipe > 0).sum()))

# %% [markdown]
# ## Live: ImageNet against six real OOD sets
#
# With the `live` profile and the data present, ImageNet val is the ID set and iNaturalist, SUN,
# Places, Textures (the MOS/MCM subsets), NINCO and ImageNet-O are the OOD sets, each model with
# OpenAI's 80 ImageNet templates.

# %%
panel = chapter.live_panel(["imagenet", "inaturalist", "sun", "places", "textures", "ninco", "imagenet-o"],
                           enabled=live)

# %%
if panel is not None and "imagenet" in panel.datasets:
    lt = ood.live_detection(panel.models, [d for d in panel.datasets if d != "imagenet"], device=dev)
    ch.save(lt, "live_detection")
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.barplot(data=lt[lt["method"] == "mcm"], x="ood", y="auroc", hue="model", ax=ax, errorbar=None)
    ax.set(xlabel="OOD set", ylabel="AUROC (MCM)", ylim=(0, 1), title="Live: ImageNet vs real OOD sets")
    ax.legend(fontsize=6)
    ch.figure(fig, lt, "live_detection")
    plt.show()
    chapter.finding("Over {n:.0f} live models and {k:.0f} OOD sets, mean MCM AUROC is {a:.3f}.",
                    n=lt["model"].nunique(), k=lt["ood"].nunique(), a=float(lt[lt["method"] == "mcm"]["auroc"].mean()))

# %% [markdown]
# ## What the six factors do here
#
# Effects are AUROC of the recipe minus AUROC of `base` (MCM over near and far OOD pooled, with the
# prompt ensemble; the fine-tuned classifier has no image-text cosines, so it and base are compared on
# MSP). Each number is computed in this build.

# %%
effects = E.effects_frame(pd.concat(effect_parts, ignore_index=True) if effect_parts else [])
ch.save(effects, "effects")
measured = set(effects["factor"])
nm = {f: why for f, why in not_measured.items() if f not in measured}
ch.save(pd.DataFrame([dict(factor=f, axis=ood.AXIS, reason=w) for f, w in nm.items()],
                     columns=["factor", "axis", "reason"]), "not_measured")
display(Markdown(E.factor_summary(effects, nm)))


# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy import claims

_ = claims.show(results_dir, ['C8'])
