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
# them back towards texture. The records below test both on real models' per-image decisions. The lab asks *why*: its `lab-cue-conflict` set renders each shape with the
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
# ## Records: real decisions of humans, CLIPs, fine-tuned CLIPs and ImageNet models
#
# Four published sets of per-image decisions on the same 1,280 cue-conflict images, re-scored with the
# same `metrics.shape_bias` (conflict images only):
#
# - **Gavrikov et al. (2025)**: seven zero-shot CLIPs (OpenAI ResNet-50, ResNet-101, ViT-L/14, ViT-L/14-336;
#   EVA01-g/14 on LAION-400M, EVA02-E/14+ on LAION-2B, EVA-CLIP-8B) with a direct 16-way head under three
#   prompt sets (the 80 OpenAI templates averaged, the bare class name, "a photo of a {}."), three CLIP
#   ViT-L/14s fine-tuned on ImageNet, and ImageNet classifiers;
# - **model-vs-human**: human observers, ResNet-50, BagNet-33, SimCLR and six SWAG models;
# - a **fork of model-vs-human** with OpenAI CLIP ViT-B/32, B/16 and L/14 (an ImageNet head mapped to the
#   16 categories, marked `[model-vs-human head]`);
# - the three CNNs of the original **texture-vs-shape** experiment (its humans are model-vs-human's).

# %%
ok = chapter.records_ready(*SB.RECORD_FOLDERS)  # else one "Records missing" notice naming the fetch command
if ok:
    from clipstudy import plots, records

    sb = SB.records_table(SB.records_decisions())
    ch.save(sb, "records_shape_bias")
    unknown = sb[~sb["tagged"].astype(bool)]
    print(f"{len(sb)} (decider, prompt set) rows from {sb['source'].nunique()} sources; "
          f"{unknown['model'].nunique()} deciders the tag rules do not know (kept, tagged unknown)")
    fig_data = sb[sb["category"] != "LMM"]
    fig, ax = plots.shape_bias_strip(fig_data, order=[c for c in SB.CATEGORY_ORDER if c in set(fig_data["category"])],
                                     title="Shape bias on cue-conflict images: real deciders")
    ch.figure(fig, fig_data, "records_shape_bias")
    plt.show()
    cat = fig_data.groupby("category", observed=True)["shape_bias"].mean()
    chapter.finding("Mean shape bias: humans {h:.3f}, zero-shot CLIP ViTs {v:.3f}, zero-shot CLIP ResNets {r:.3f}, "
                    "ImageNet-fine-tuned CLIPs {f:.3f}, ImageNet models {i:.3f}.", h=cat.get("humans", np.nan),
                    v=cat.get("zero-shot CLIP · ViT", np.nan), r=cat.get("zero-shot CLIP · ResNet", np.nan),
                    f=cat.get("CLIP fine-tuned on ImageNet", np.nan), i=cat.get("ImageNet model", np.nan))

# %% [markdown]
# Two contrasts are paired within a model: the three prompt sets of each zero-shot CLIP (left), and each
# fine-tuned CLIP against its own zero-shot version with the 80 templates (right).

# %%
if ok:
    zs = SB.zero_shot(sb)
    ftp = SB.finetune_pairs(sb)
    ft_long = pd.concat([ftp.assign(stage="zero-shot", shape_bias=ftp["sb_zero_shot"]),
                         ftp.assign(stage="fine-tuned on ImageNet", shape_bias=ftp["sb_finetuned"])])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plots.paired_lines(zs, "prompts", "shape_bias", "model", ["ensemble80", "one-template", "bare-name"], hue="arch",
                       ylabel="shape bias", title="Prompt sets, per zero-shot CLIP", ax=axes[0])
    plots.paired_lines(ft_long, "stage", "shape_bias", "finetuned", ["zero-shot", "fine-tuned on ImageNet"],
                       hue="finetuned", ylabel="shape bias", title="Fine-tuning, per CLIP", ax=axes[1])
    fig.tight_layout()
    ch.figure(fig, pd.concat([zs, ft_long]), "records_paired")
    plt.show()

# %%
if ok:
    rec_rows = SB.records_effects(sb)
    effect_rows += rec_rows
    rec = E.effects_frame(rec_rows)
    display(rec[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rec.to_dict("records"):
        chapter.finding("{factor} ({comp}): {e:+.3f} ({ci}): {word}.", factor=r["factor"], comp=r["comparison"],
                        e=r["effect"], ci=E.interval_text(r) or f"n={r['n']:.0f}, no interval",
                        word=E.direction_words(r, "shape bias rises", "shape bias falls"))

# %% [markdown]
# The paper's two shape-bias claims, scored against these records: a claim **agrees** when the 95%
# interval lies on the claimed side of zero, **disagrees** when it lies on the other, and is
# **inconclusive** when it covers zero.

# %%
if ok:
    cl = SB.claims(sb, rec)
    ch.save(cl, "records_claims")
    display(cl.round(3))
    for r in cl.itertuples():
        chapter.finding("{id} ({claim}): {verdict} ({m}: {e:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}], n={n:.0f}).",
                        id=r.id, claim=r.claim, verdict=r.verdict, m=r.measured, e=r.effect, lo=r.ci_low,
                        hi=r.ci_high, n=r.n)

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
lab_seeds = lab_eval.seeds(lab_profile)


def sb_boot(dec, f):
    """Image-bootstrap replicates of shape bias (same resamples for every recipe and seed)."""
    s, t = f["shape_label"].to_numpy(), f["texture_label"].to_numpy()
    sh = E.image_boot(((dec == s) & (s != t)).astype(float))
    tx = E.image_boot(((dec == t) & (s != t)).astype(float))
    with np.errstate(all="ignore"):
        return sh / (sh + tx)


rows = []
for r in recs["recipe"]:
    for sd in lab_seeds:
        for prompts in (("ensemble", "single") if r == "base" else ("ensemble",)):
            zs, ls = lab_eval.zero_shot(r, "lab-cue-conflict", n=n_eval, profile=lab_profile, prompts=prompts,
                                        device=dev, seed=sd)
            dec = zs.logits.argmax(1).numpy()
            rows.append(dict(recipe=r, seed=sd, prompts=prompts, **SB.lab_shape_bias(dec, ls.factors),
                             boot=sb_boot(dec, ls.factors)))
lab_sb = pd.DataFrame(rows).merge(recs[["recipe", "factor", "shape_texture_corr"]], on="recipe")
lab_sb["study factor"] = lab_sb["factor"].map(E.LAB_FACTORS).fillna("base")
ch.save(lab_sb.drop(columns="boot"), "lab_shape_bias")
print(f"mean over {len(lab_seeds)} training seeds per recipe:")
display(lab_sb.groupby(["recipe", "prompts", "factor"])[["shape_bias", "shape_acc", "texture_acc", "n_conflict"]]
        .mean().round(3))

# %%
ens = lab_sb[lab_sb["prompts"] == "ensemble"]
order = ens.groupby("recipe")["shape_bias"].mean().sort_values().index
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw=dict(width_ratios=[2, 1]))
sns.barplot(data=ens, x="recipe", y="shape_bias", hue="study factor", order=order, dodge=False, ax=axes[0],
            errorbar=("ci", 95))
sns.stripplot(data=ens, x="recipe", y="shape_bias", order=order, color="0.2", size=3, ax=axes[0], legend=False)
axes[0].axhline(0.5, color="0.4", lw=0.8, ls="--")
axes[0].set(ylim=(0, 1), xlabel="", ylabel="shape bias (fraction of cue decisions)",
            title=f"Lab shape bias per recipe (dots: {len(lab_seeds)} seeds)")
axes[0].tick_params(axis="x", rotation=40)
axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
corr = ens[ens["recipe"].isin(["data-corr-low", "base", "data-corr-high"])]
sns.lineplot(data=corr.sort_values("shape_texture_corr"), x="shape_texture_corr", y="shape_bias", marker="o",
             errorbar=("ci", 95), ax=axes[1])
axes[1].set(ylim=(0, 1), xlabel="P(class's typical texture) in training", ylabel="shape bias",
            title="Training shape-texture correlation")
fig.tight_layout()
ch.figure(fig, lab_sb.drop(columns="boot"), "lab_shape_bias")
plt.show()

# %%
ens = lab_sb[lab_sb["prompts"] == "ensemble"]
v = ens.groupby("recipe")["shape_bias"].mean()
lab_rows = E.lab_seed_effects(ens, recs, "shape bias", "shape bias", value="shape_bias",
                              flags=lab_eval.parity_flags(lab_profile, n_eval, dev))
single = lab_sb[(lab_sb["recipe"] == "base") & (lab_sb["prompts"] == "single")].sort_values("seed")
if len(single) and "base" in v:
    b = ens[ens["recipe"] == "base"].sort_values("seed")
    pe = E.seed_image_effect(single["shape_bias"], b["shape_bias"], np.stack(single["boot"].to_list()),
                             np.stack(b["boot"].to_list()))
    lab_rows.append(E.effect("test-time prompts", "shape bias", "shape bias", pe["effect"],
                             "one template vs the template ensemble (base)", "lab", n=pe["n"],
                             ci=(pe["ci_low"], pe["ci_high"])))
effect_rows += lab_rows
display(pd.DataFrame(lab_rows)[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
for r in lab_rows:
    chapter.finding("{comp}, effect on shape bias: {words}.", comp=r["comparison"], words=E.effect_words(r))
if {"data-corr-high", "data-corr-low"} <= set(v.index):
    d = E.seed_image_effect(*(ens[ens["recipe"] == x].sort_values("seed")["shape_bias"] for x in ("data-corr-high",
                                                                                              "data-corr-low")),
                            *(np.stack(ens[ens["recipe"] == x].sort_values("seed")["boot"].to_list())
                              for x in ("data-corr-high", "data-corr-low")))
    chapter.finding("Raising the training shape-texture correlation from 0 to 0.9 moves shape bias from {lo:.3f} to "
                    "{hi:.3f} (mean over seeds): {word}.", lo=float(v["data-corr-low"]), hi=float(v["data-corr-high"]),
                    word=E.effect_words(d) if E.covers_zero(d) else
                    chapter.direction(d["effect"], "shape bias rises", "shape bias falls") + f" ({E.effect_words(d)})")

# %% [markdown]
# ## Real models against the lab's causal direction
#
# Where a lab recipe and a records contrast vary the same factor the same way (a ViT tower instead of a
# ResNet; fine-tuning on class labels; one template instead of the ensemble), the lab's effect is causal
# but in a toy world, and the records' effect is real but observational. The verdict says whether the
# real-model interval agrees with the lab's sign.

# %%
agreement = SB.lab_agreement(E.effects_frame(effect_rows))
ch.save(agreement, "lab_vs_records")
if len(agreement):
    display(agreement.round(3))
    for r in agreement.itertuples():
        chapter.finding("{f}: the lab moves shape bias by {l:+.3f} ({lc}); real models by {rv:+.3f} ({rc}): {v}.",
                        f=r.factor, l=r.lab_effect, lc=r.lab, rv=r.records_effect, rc=r.records, v=r.verdict)
    by = agreement.groupby("verdict")["factor"].apply(lambda f: ", ".join(f))
    chapter.finding("Real data agree with the lab's direction on: {a}; disagree on: {d}; inconclusive on: {i}.",
                    a=by.get("agrees", "none"), d=by.get("disagrees", "none"), i=by.get("inconclusive", "none"))
else:
    print("No factor has both a lab and a records effect in this build (records or lab rows missing).")

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


# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy import claims

_ = claims.show(results_dir, ['C2', 'C3'])
