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
# # Bridging image and text: retrieval against classification
#
# Zero-shot classification is one use of CLIP's shared embedding space: the image is compared with
# one short prompt per class. **Retrieval** uses the same space with free captions: given an image,
# rank all captions (image→text); given a caption, rank all images (text→image). **Recall@K** is the
# fraction of queries whose correct partner is among the top K. This chapter asks how closely
# retrieval tracks classification, and which factors move a model off that trend.
#
# A note on names: open_clip's records call text→image retrieval "image retrieval" (images are
# retrieved) and image→text "text retrieval". This book always writes the direction as an arrow.

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
from clipstudy.analysis import retrieval

ch = chapter.start("07_retrieval", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live)
effect_parts = []
not_measured = {"test-time prompts": "retrieval compares images with captions, not with class prompts; the lab "
                                     "rows use the prompt ensemble only for the lab-val accuracy on the x axis"}

# %% [markdown]
# ## Records: open_clip's retrieval results against ImageNet accuracy
#
# open_clip publishes recall@1/5/10 in both directions on Flickr30k (1k test images) and MSCOCO (5k
# test images) for its pretrained models. For each (dataset, metric) we fit a least-squares line of
# recall on ImageNet zero-shot accuracy (without the CoCa models fine-tuned on MSCOCO captions, whose
# COCO retrieval is in-distribution) and keep each model's **residual**: retrieval beyond what its
# classification predicts.

# %%
ok = chapter.records_ready()  # else one "Records missing" notice
if ok:
    from clipstudy import records

    rv = records.retrieval_vs_classification()
    rv["direction"] = rv["metric"].map(retrieval.direction_of)
    rv["k"] = rv["metric"].str.rsplit("@", n=1).str[1].astype(int)
    ch.save(rv, "records_retrieval_vs_classification")
    at5 = rv[rv["k"] == 5]
    g = sns.relplot(data=at5, x="imagenet_acc", y="recall", hue="data" if at5["data"].nunique() <= 12 else "family",
                    style="family", col="dataset", row="direction", height=3.0, aspect=1.15, s=28,
                    facet_kws=dict(sharey=False))
    for (d, dsname), ax in g.axes_dict.items():
        sub = at5[(at5["direction"] == d) & (at5["dataset"] == dsname)]
        xs = np.linspace(sub["imagenet_acc"].min(), sub["imagenet_acc"].max(), 20)
        ax.plot(xs, sub["fit_intercept"].iloc[0] + sub["fit_slope"].iloc[0] * xs, "k--", lw=1)
    g.set_axis_labels("ImageNet zero-shot top-1 (fraction)", "recall@5 (fraction)")
    g.set_titles("{col_name}: {row_name}")
    ch.figure(g.figure, at5, "records_scatter_r5")
    plt.show()

# %%
if ok:
    cor = records.retrieval_correlations(rv)
    cor["direction"] = cor["metric"].map(retrieval.direction_of)
    ch.save(cor, "records_correlations")
    display(cor[["dataset", "direction", "metric", "n", "pearson_r", "spearman_rho", "slope", "residual_std"]].round(3))
    c5 = cor[cor["metric"] == "image_retrieval_recall@5"].set_index("dataset")
    chapter.finding("Across {n:.0f} open_clip models, text→image recall@5 on MSCOCO follows ImageNet accuracy with "
                    "Pearson r {r:.3f} (Flickr30k: {rf:.3f}); the residual standard deviation is {sd:.3f}.",
                    n=c5.loc["mscoco", "n"], r=c5.loc["mscoco", "pearson_r"], rf=c5.loc["flickr30k", "pearson_r"],
                    sd=c5.loc["mscoco", "residual_std"])

# %%
if ok:
    res = records.retrieval_residuals(rv, by="data")
    res5 = res[res["metric"].isin(["image_retrieval_recall@5", "text_retrieval_recall@5"]) & (res["n"] >= 2)].copy()
    res5["direction"] = res5["metric"].map(retrieval.direction_of)
    ch.save(res, "records_residuals_by_data")
    order = (res5[res5["dataset"] == "mscoco"].groupby("data")["residual_mean"].mean()
             .sort_values(ascending=False).index.tolist())
    g = sns.catplot(data=res5, y="data", x="residual_mean", hue="direction", col="dataset", kind="bar",
                    order=order, height=max(3.0, 0.22 * len(order) + 1), aspect=0.9, errorbar=None)
    for ax in g.axes.flat:
        ax.axvline(0, color="0.3", lw=0.8)
    g.set_axis_labels("mean residual, R@5 (fraction)", "training data (sources with >= 2 models)")
    g.set_titles("{col_name}")
    g.figure.suptitle("Retrieval beyond ImageNet accuracy (> 0: better than the line predicts)", y=1.02)
    ch.figure(g.figure, res5, "records_residuals_by_data")
    plt.show()
    rec_eff = retrieval.records_effects(rv, "mscoco", "image_retrieval_recall@5")
    effect_parts.append(rec_eff)
    display(rec_eff[["factor", "comparison", "effect"]].round(3))
    top = res5[res5["dataset"] == "mscoco"].groupby("data")["residual_mean"].mean().sort_values()
    chapter.finding("On MSCOCO, models trained on {best} sit {hi:+.3f} above the line on average and those trained on "
                    "{worst} {lo:+.3f}: the training source moves retrieval by up to {span:.3f} beyond classification.",
                    best=top.index[-1], hi=top.iloc[-1], worst=top.index[0], lo=top.iloc[0], span=top.iloc[-1] - top.iloc[0])

# %% [markdown]
# ### A controlled contrast: LAION's scaling-law grid
#
# Cherti et al. (2023) trained ViT-B/32, B/16 and L/14 on LAION-80M, -400M and -2B for 3B, 13B and 34B
# samples seen with one recipe, and report recall@5 on Flickr30k and MSCOCO in both directions. Grid
# neighbours differ in one factor only, so their difference is a controlled contrast between real models
# (9 pairs per step). `recall@5` below is the mean over the two datasets and the two directions.

# %%
grid_ok = chapter.records_ready("scaling_laws_openclip")  # else one notice naming the fetch command
if grid_ok:
    from clipstudy import plots, records
    from clipstudy.analysis import scaling_grid

    grid = records.scaling.grid(records.load("scaling_laws_openclip"))
    ch.save(grid, "records_laion_grid")
    fig, _ = plots.grid_lines(grid, "recall@5", "recall@5 (mean of both directions, Flickr30k and MSCOCO)",
                              title="LAION grid: retrieval")
    ch.figure(fig, grid, "records_laion_grid_recall")
    plt.show()
    grid_eff = E.effects_frame(scaling_grid.grid_effects(grid, "recall@5", "recall@5 (LAION grid, mean of 4)",
                                                         retrieval.AXIS))
    effect_parts.append(grid_eff)
    display(grid_eff[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(4))
    for r in grid_eff.to_dict("records"):
        chapter.finding("{comp}: recall@5 changes by {e:+.4f} ({ci}): {word}.", comp=r["comparison"], e=r["effect"],
                        ci=E.interval_text(r, "{:+.4f}"), word=E.direction_words(r, "retrieval improves",
                                                                                "retrieval worsens"))

# %% [markdown]
# ## Lab: retrieval on captions the models never saw
#
# `lab-retrieval` renders in-distribution scenes with five captions each, written from the scene's
# factors with *held-out* caption templates, so a model must match content, not memorised phrasing.
# Each contrastive recipe is scored in both directions; its x coordinate is its zero-shot accuracy on
# `lab-val`. The fine-tuned recipe is a classifier without a text tower and cannot retrieve.

# %%
from clipstudy.analysis import lab_eval
from clipstudy.config import resolve_device
from clipstudy.lab import zoo as lab_zoo

dev = resolve_device(device)
recipes = list(lab_zoo.frame()["recipe"])
factors = lab_eval.recipe_factors()
lr = retrieval.lab_retrieval(recipes, n=n_eval, profile=lab_profile, device=dev, seeds=lab_eval.seeds(lab_profile))
ch.save(lr, "lab_retrieval")
display(lr.pivot_table(index="model", columns=["direction", "k"], values="recall").round(3))
not_measured["fine-tuning"] = "the fine-tuned lab model is a classifier with no text tower: it cannot retrieve"

# %%
g = sns.relplot(data=lr, x="val_acc", y="recall", hue="model", style="k", col="direction", s=60, height=3.6,
                aspect=1.1)
g.set_axis_labels("lab-val zero-shot top-1 (fraction)", "recall@K (fraction)")
g.set_titles("lab: {col_name}")
fig = g.figure
ch.figure(fig, lr, "lab_retrieval_vs_accuracy")
plt.show()
r5 = lr[lr["k"] == 5].groupby("model", as_index=False).agg(recall=("recall", "mean"), val_acc=("val_acc", "mean"))
agree = retrieval.rank_agreement(r5, "val_acc", "recall")
ch.save(pd.DataFrame([agree]), "lab_rank_agreement")
chapter.finding("Across {n:.0f} lab recipes, recall@5 (mean of both directions) and lab-val accuracy rank the models "
                "with Spearman rho {rho:.3f} (Pearson r {r:.3f}).", n=agree["n"], rho=agree["spearman_rho"],
                r=agree["pearson_r"])
effect_parts.append(retrieval.recipe_effects(lr, factors, where={"k": 5}, metric="recall@5 (both directions, mean)"))

# %% [markdown]
# ## Live: COCO 5k and Flickr30k 1k
#
# With the `live` profile and the Karpathy test splits present, real checkpoints are scored the same way.

# %%
panel = chapter.live_panel(["coco-5k", "flickr30k-1k"], enabled=live)

# %%
if panel is not None:
    lv = retrieval.live_retrieval(panel.models, panel.datasets, device=dev)
    ch.save(lv, "live_retrieval")
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.barplot(data=lv[lv["k"] == 5], x="model", y="recall", hue="direction", ax=ax, errorbar=None)
    ax.set(xlabel="", ylabel="recall@5 (fraction)", title="Live retrieval")
    ax.tick_params(axis="x", rotation=45)
    ch.figure(fig, lv, "live_retrieval")
    plt.show()
    chapter.finding("Over {n:.0f} live models, mean recall@5 is {r:.3f}.", n=lv["model"].nunique(),
                    r=float(lv[lv["k"] == 5]["recall"].mean()))

# %% [markdown]
# ## What the six factors do here
#
# Records rows: the mean residual of MSCOCO text→image recall@5 over the ImageNet-accuracy line,
# treatment group minus base group (observational: groups differ in more than one factor). Lab rows:
# a recipe's recall@5 (both directions averaged) minus `base`'s. Each number is computed in this build.

# %%
effects = E.effects_frame(pd.concat(effect_parts, ignore_index=True) if effect_parts else [])
ch.save(effects, "effects")
measured = set(effects["factor"])
nm = {f: why for f, why in not_measured.items() if f not in measured}
ch.save(pd.DataFrame([dict(factor=f, axis=retrieval.AXIS, reason=w) for f, w in nm.items()],
                     columns=["factor", "axis", "reason"]), "not_measured")
display(Markdown(E.factor_summary(effects, nm)))
