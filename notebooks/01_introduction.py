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
# # Introduction: what CLIP is, and how this book measures its robustness
#
# **CLIP** (Radford et al. 2021) trains two encoders at once: an image tower (a ViT, a ResNet or a
# ConvNeXt) and a text tower (a small Transformer). On a batch of $B$ image-caption pairs both are
# pushed so that each image's embedding is closest, by cosine similarity, to its own caption's
# embedding among the $B$ captions, and vice versa (a softmax cross-entropy over the $B\times B$
# similarity matrix; SigLIP replaces it by a sigmoid per pair).
#
# **Zero-shot classification** needs no labelled training images. For each class name $c$ we write
# prompts such as "a photo of a {c}.", embed them with the text tower, average the normalised
# embeddings over the prompt templates (the **prompt ensemble**), and renormalise: that is the class
# head. An image is assigned the class whose head has the highest cosine with the image embedding;
# the logits are those cosines times the learned temperature $1/\tau$.
#
# This book follows Tu, Deng & Gedeon, *Toward a Holistic Evaluation of Robustness in CLIP Models*
# (arXiv 2410.01534): natural shifts, visual factors, shape bias, calibration, OOD detection,
# retrieval, 3D awareness and LMMs, each cut by six factors (architecture, training distribution,
# training-set size, fine-tuning, contrastive loss, and test-time prompts).

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

from clipstudy import book, chapter
from clipstudy.analysis import effects as E

pd.set_option("display.max_colwidth", 140)
ch = chapter.start("01_introduction", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live)
effect_rows = []

# %% [markdown]
# ## The profile of this build
#
# Every chapter is executed by papermill with the parameters of one profile: `lab` (the default:
# offline, CPU, plus the published records where present), `live` (adds real checkpoints on real data)
# and `smoke` (tiny sizes; what the tests execute).

# %%
params = pd.DataFrame([dict(profile=name, **{k: v for k, v in p.items() if k != "profile"},
                            in_use=(name == profile)) for name, p in book.PROFILES.items()])
ch.save(params, "profiles")
display(params)
print(f"this build: profile={profile} lab_profile={lab_profile} n_eval={n_eval} live={live} device={device}")

# %% [markdown]
# ## Three sources of evidence, one code path
#
# 1. **Lab** (always present): a procedurally rendered 3D world in which every factor of an image is
#    known (shape class, texture, colour, background, pose, size, position, occlusion, lighting, style).
#    Tiny CLIPs are trained on it with open_clip's own model classes and losses, one recipe per
#    factor, so each factor's effect is measured *causally*.
# 2. **Records**: published per-model results of real models (open_clip's zero-shot CLIPs, timm's ImageNet
#    models, ImageNet-X, the cue-conflict experiment), re-analysed with the same metric functions.
# 3. **Live**: real open_clip and timm checkpoints on the real datasets, when weights and data are
#    on this machine; otherwise a chapter says so in one cell and never estimates.

# %%
ok = chapter.records_ready()  # else one "Records missing" notice
sources = []
if ok:
    from clipstudy import records

    for name in ("open_clip", "timm", "imagenet_x", "cue_conflict"):
        f = records.load(name)
        key = "subject" if name == "cue_conflict" else "model"
        for g, n in f.drop_duplicates(key).groupby("group").size().items():
            sources.append(dict(table=name, group=g, models=int(n), rows=int(len(f[f["group"] == g]))))
    sources = pd.DataFrame(sources)
    ch.save(sources, "records_sources")
    display(sources)

# %%
panel = chapter.live_panel(["imagenet"], enabled=live)
if panel is not None:
    display(pd.DataFrame({"live model": panel.models}))

# %% [markdown]
# ## The lab world and its zoo
#
# Each lab recipe differs from `base` in exactly one factor. Test-time prompts are an evaluation knob:
# the same model is scored with one template or with the lab's template ensemble.

# %%
from clipstudy.analysis import lab_eval
from clipstudy.config import resolve_device
from clipstudy.lab import captions
from clipstudy.lab import zoo as lab_zoo

dev = resolve_device(device)
recs = lab_eval.recipes(lab_profile)
trained = pd.DataFrame([{**{k: (lab_zoo.record(r, lab_profile) or {}).get(k) for k in
                            ("steps", "samples_seen", "n_images", "wall_s", "params")}, "recipe": r}
                        for r in recs["recipe"]])
zoo_table = recs.merge(trained, on="recipe")
ch.save(zoo_table, "lab_zoo")
display(zoo_table[["recipe", "factor", "arch", "loss", "shape_texture_corr", "backgrounds", "styles", "size",
                   "finetuned", "n_images", "steps", "params", "wall_s"]])
print("prompt ensemble:", *captions.ZS_TEMPLATES, sep="\n  ")
print("single template:", captions.SINGLE_TEMPLATE[0])

# %% [markdown]
# ## Zero-shot classification in the lab
#
# Below: `lab-val` images (in-distribution scenes) with the `base` CLIP's zero-shot prediction from the
# prompt ensemble. Green titles are correct, red wrong.

# %%
zs, ls = lab_eval.zero_shot("base", "lab-val", n=n_eval, profile=lab_profile, device=dev)
pred = zs.logits.argmax(1).numpy()
k = min(24, len(pred))
titles = [f"{ls.classnames[p]}\n(true: {ls.classnames[t]})" for p, t in zip(pred[:k], zs.labels[:k].numpy())]
from clipstudy import plots

fig, axes = plots.image_grid(ls.images[:k], titles, ncols=8, size=1.5)
for ax, p, t in zip(np.ravel(axes), pred[:k], zs.labels[:k].numpy()):
    ax.title.set_color("green" if p == t else "red")
grid = pd.DataFrame({"index": range(k), "predicted": [ls.classnames[p] for p in pred[:k]],
                     "true": [ls.classnames[t] for t in zs.labels[:k].numpy()]})
ch.figure(fig, grid, "lab_zero_shot_grid")
plt.show()

# %%
acc = lab_eval.accuracy_table(recs["recipe"], ["lab-val"], n=n_eval, profile=lab_profile, device=dev)
acc1 = lab_eval.accuracy_table(recs["recipe"], ["lab-val"], n=n_eval, profile=lab_profile, prompts="single",
                               device=dev)
both = pd.concat([acc, acc1], ignore_index=True)
both["prompts"] = both["prompts"].map({"ensemble": "template ensemble", "single": "one template"})
ch.save(both, "lab_val_accuracy")
chance = 1 / len(ls.classnames)
fig, ax = plt.subplots(figsize=(9, 3.8))
sns.barplot(data=both, x="recipe", y="accuracy", hue="prompts", ax=ax, errorbar=None)
ax.axhline(chance, color="0.3", lw=0.8, ls="--", label="chance")
ax.set(ylim=(0, 1), xlabel="", ylabel="lab-val top-1 (fraction)", title="Zero-shot accuracy in distribution")
ax.tick_params(axis="x", rotation=35)
ax.legend(fontsize=8)
ch.figure(fig, both, "lab_val_accuracy")
plt.show()
b = acc.set_index("recipe")["accuracy"]
_ = chapter.finding("In distribution, the base lab CLIP reaches {a:.3f} top-1 on {n:.0f} lab-val images with the prompt "
                "ensemble (chance {c:.3f}); with one template it reaches {s:.3f}.", a=float(b["base"]),
                n=int(acc["n"].iloc[0]), c=chance, s=float(acc1.set_index("recipe")["accuracy"]["base"]))

# %%
effect_rows += E.lab_effects(acc, recs, "in-distribution accuracy", "lab-val top-1", value="accuracy")
d = acc1.set_index("recipe")["accuracy"] - b
effect_rows.append(E.effect("test-time prompts", "in-distribution accuracy", "lab-val top-1", float(d["base"]),
                            "one template vs the template ensemble (base)", "lab"))

# %% [markdown]
# ## How to re-run any chapter
#
# ```
# make book                                   # the whole book, lab profile (trains the lab zoo once)
# clipstudy build --only 04                   # re-execute one chapter (here: shape bias)
# clipstudy build --profile smoke             # every chapter at tiny sizes, in minutes
# clipstudy build --profile live              # adds real checkpoints on real data (GPU advised)
# clipstudy fetch records                     # the published records the Records sections use
# ```
#
# Executed notebooks go to `book/chapters/`; the data of every figure and table is saved as CSV
# under `book/results/<chapter>/`, next to its PNG.

# %% [markdown]
# ## What the six factors do here
#
# On this chapter's axis (in-distribution zero-shot accuracy on `lab-val`), effect = treatment minus base.

# %%
effects = E.effects_frame(effect_rows)
ch.save(effects, "effects")
display(Markdown(E.factor_summary(effects)))
