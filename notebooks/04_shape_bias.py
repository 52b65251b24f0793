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
# # Shape vs texture bias
#
# Geirhos et al. (2019) built **cue-conflict** images: the shape of one class rendered with the texture
# of another (a cat shape with elephant skin). Humans mostly answer by shape; ImageNet CNNs mostly by
# texture. Over conflict images only, and only decisions that name one of the two cues,
#
# $$\text{shape bias} = \frac{\#\text{shape decisions}}{\#\text{shape decisions} + \#\text{texture decisions}}.$$
#
# Zero-shot CLIPs were reported to be more shape-biased than ImageNet models, and fine-tuning to pull
# them back towards texture. The lab asks *why*: its `lab-cue-conflict` set renders each shape with the
# texture that is typical of another class in training, and the lab zoo changes one training factor at
# a time, including how strongly texture predicts the class in the training data.

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
from clipstudy.analysis import shape_bias as SB

pd.set_option("display.max_colwidth", 140)
ch = chapter.start("04_shape_bias", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live)
effect_rows = []

# %% [markdown]
# ## Records: humans and ImageNet CNNs on the original cue-conflict experiment
#
# The raw trial decisions of Geirhos et al.'s experiment (human subjects; AlexNet, GoogLeNet and
# VGG-16) are re-scored here with the same `metrics.shape_bias` the lab and live sections use.

# %%
ok = chapter.records_ready()  # else one "Records missing" notice
if ok:
    from clipstudy import records

    sb = records.shape_bias_table()
    ch.save(sb, "records_shape_bias")
    subj = sb[sb["kind"] == "subject"].sort_values("shape_bias")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    sns.barplot(data=subj, x="subject", y="shape_bias", hue="group", dodge=False, ax=ax, errorbar=None)
    ax.axhline(0.5, color="0.4", lw=0.8, ls="--")
    ax.set(ylim=(0, 1), xlabel="", ylabel="shape bias (fraction of cue decisions)",
           title="Cue-conflict shape bias: humans vs ImageNet CNNs")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=8)
    ch.figure(fig, subj, "records_shape_bias")
    plt.show()
    pooled = sb.set_index("subject")["shape_bias"]
    chapter.finding("Pooled over their decisions, humans have shape bias {h:.3f} and the three ImageNet CNNs {c:.3f}.",
                    h=float(pooled["humans"]), c=float(pooled["CNNs"]))

# %% [markdown]
# ## Lab: what sets the shape bias?
#
# Every recipe is scored on the same `lab-cue-conflict` images (built with the base world). The
# relevant recipes: `data-corr-high` (texture predicts the class 90% of the time in training),
# `data-corr-low` (texture independent of class), `base` (50%), and `finetuned` (base's image tower
# fine-tuned with cross-entropy on class labels).

# %%
from clipstudy.analysis import lab_eval
from clipstudy.config import resolve_device

dev = resolve_device(device)
recs = lab_eval.recipes(lab_profile)
rows = []
for r in recs["recipe"]:
    for prompts in (("ensemble", "single") if r == "base" else ("ensemble",)):
        zs, ls = lab_eval.zero_shot(r, "lab-cue-conflict", n=n_eval, profile=lab_profile, prompts=prompts, device=dev)
        rows.append(dict(recipe=r, prompts=prompts, **SB.lab_shape_bias(zs.logits.argmax(1).numpy(), ls.factors)))
lab_sb = pd.DataFrame(rows).merge(recs[["recipe", "factor", "shape_texture_corr"]], on="recipe")
lab_sb["study factor"] = lab_sb["factor"].map(E.LAB_FACTORS).fillna("base")
ch.save(lab_sb, "lab_shape_bias")
display(lab_sb[["recipe", "prompts", "factor", "shape_bias", "shape_acc", "texture_acc", "n_conflict"]].round(3))

# %%
ens = lab_sb[lab_sb["prompts"] == "ensemble"].sort_values("shape_bias")
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw=dict(width_ratios=[2, 1]))
sns.barplot(data=ens, x="recipe", y="shape_bias", hue="study factor", dodge=False, ax=axes[0], errorbar=None)
axes[0].axhline(0.5, color="0.4", lw=0.8, ls="--")
axes[0].set(ylim=(0, 1), xlabel="", ylabel="shape bias (fraction of cue decisions)", title="Lab shape bias per recipe")
axes[0].tick_params(axis="x", rotation=40)
axes[0].legend(fontsize=7)
corr = lab_sb[(lab_sb["prompts"] == "ensemble") & lab_sb["recipe"].isin(["data-corr-low", "base", "data-corr-high"])]
sns.lineplot(data=corr.sort_values("shape_texture_corr"), x="shape_texture_corr", y="shape_bias", marker="o",
             ax=axes[1])
axes[1].set(ylim=(0, 1), xlabel="P(class's typical texture) in training", ylabel="shape bias",
            title="Training shape-texture correlation")
fig.tight_layout()
ch.figure(fig, lab_sb, "lab_shape_bias")
plt.show()

# %%
v = lab_sb[lab_sb["prompts"] == "ensemble"].set_index("recipe")["shape_bias"]
lab_rows = E.lab_effects(lab_sb[lab_sb["prompts"] == "ensemble"], recs, "shape bias", "shape bias",
                         value="shape_bias")
one = lab_sb[(lab_sb["recipe"] == "base") & (lab_sb["prompts"] == "single")]["shape_bias"]
if len(one) and "base" in v:
    lab_rows.append(E.effect("test-time prompts", "shape bias", "shape bias", float(one.iloc[0] - v["base"]),
                             "one template vs the template ensemble (base)", "lab"))
effect_rows += lab_rows
if {"data-corr-high", "data-corr-low"} <= set(v.index):
    d = float(v["data-corr-high"] - v["data-corr-low"])
    chapter.finding("Raising the training shape-texture correlation from 0 to 0.9 moves shape bias from {lo:.3f} to "
                    "{hi:.3f}: {word}.", lo=float(v["data-corr-low"]), hi=float(v["data-corr-high"]),
                    word=chapter.direction(d, "shape bias rises", "shape bias falls", "no change"))
if {"finetuned", "base"} <= set(v.index):
    d = float(v["finetuned"] - v["base"])
    chapter.finding("Fine-tuning base's image tower on class labels changes shape bias by {d:+.3f} ({b:.3f} -> {f:.3f}).",
                    d=d, b=float(v["base"]), f=float(v["finetuned"]))

# %% [markdown]
# ## Live: real CLIPs on the real cue-conflict, edge and silhouette stimuli
#
# Zero-shot CLIPs decide among the 16 categories with a direct 16-way head; ImageNet classifiers
# average their probabilities over each category's ImageNet classes, as the original code does.

# %%
panel = chapter.live_panel(["cue-conflict", "edges", "silhouettes"], enabled=live)

# %%
if panel is not None:
    from clipstudy import datasets, zeroshot, zoo
    from clipstudy.datasets import cue_conflict

    live_rows = []
    for m in panel.models:
        loaded = zoo.load(m, device)
        for dname in panel.datasets:
            ds = datasets.get(dname).load(transform=loaded.preprocess)
            zs = zeroshot.run(loaded, ds, dataset_id=dname, device=device)
            dec = SB.live_decisions(zs, cue_conflict.aggregate_probabilities)
            frame = SB.align(ds.frame, zs.encoded.keys)
            row = dict(model=m, dataset=dname, accuracy=float((dec == frame["label"].to_numpy()).mean()))
            if dname == "cue-conflict":
                row.update(SB.live_shape_bias(dec, frame))
            live_rows.append(row)
    live_sb = pd.DataFrame(live_rows)
    ch.save(live_sb, "live_shape_bias")
    display(live_sb.round(3))

# %% [markdown]
# ## What the six factors do here
#
# Each line is computed in this build (effect = treatment minus base, in shape-bias units).

# %%
effects = E.effects_frame(effect_rows)
ch.save(effects, "effects")
display(Markdown(E.factor_summary(effects)))
