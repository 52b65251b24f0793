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
# These are the scores registered in `clipstudy.metrics.ood`; a score registered there (one function that
# declares whether it reads logits, cosines or image features, e.g. from a plugin named in
# `CLIPSTUDY_PLUGINS`) joins every table and figure below.
#
# Each score is summarised by **AUROC** (the probability that a random ID image scores above a
# random OOD image; 0.5 is chance) and **FPR95** (the fraction of OOD images still accepted when the
# threshold keeps 95% of ID images; lower is better). *Near* OOD shares the look of the ID data but
# not its classes; *far* OOD shares neither.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import ood as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## Records: class-OOD detection of real models
#
# open_clip's results table has an ImageNet-O column, but it is zero-shot *classification* accuracy on
# ImageNet-O's images over its 200 ImageNet classes, not a measure of telling ImageNet-O apart from ImageNet.
# We show it only to make that distinction visible; it is not used as an OOD effect anywhere in this book.

# %%
_ = axis.records(ch)  # None after one "Records missing" notice

# %% [markdown]
# The detection records are Galil, Dabbah & El-Yaniv's (ICLR 2023, `cood_benchmarking`): for 690 ImageNet
# classifiers, the 9 OpenAI zero-shot CLIPs and 7 of them fine-tuned on ImageNet (how is not published), the
# AUROC of telling ImageNet val apart from ImageNet-21k classes the model was not trained on, at 11 severity
# levels chosen per model (0 easiest, 10 hardest), for up to five confidence functions. Each model below is one
# point: the softmax confidence (MSP), AUROC averaged over the 11 levels. "Matched accuracy" compares each CLIP
# with the ImageNet models' linear AUROC-on-accuracy trend at that CLIP's accuracy.

# %%
cood = axis.records_cood(ch)  # None after one "Records missing" notice

# %% [markdown]
# ### Claims C8 and C13 on the records
#
# **C8**: among CLIPs of one training source (here OpenAI's), does ID accuracy track AUROC? Spearman's rho over
# the 9 zero-shot CLIPs, with a bootstrap over models; the other confidence functions are secondary.
# **C13**: does fine-tuning on ImageNet change AUROC beyond what its accuracy gain predicts? Each fine-tuned CLIP
# against its own zero-shot parent, minus the change the zero-shot CLIPs' accuracy-AUROC line predicts.

# %%
_ = axis.records_claims(ch, cood)

# %% [markdown]
# ## Lab: held-out shapes (near) and textures or noise (far)
#
# The lab's ID set is `lab-val`. `lab-ood` holds two kinds of images: **near** OOD, scenes rendered
# exactly like training scenes but of three shapes held out of training (snowman, hourglass, cross),
# and **far** OOD, full-frame texture patches and smooth noise with no object. Every recipe of the
# lab zoo is scored with every registered score, and the contrastive recipes with both prompt sets:
# one template (`a photo of a {}.`) and the lab's ensemble of eight templates.

# %%
axis.lab_examples(ch)

# %%
det = axis.lab_detection(ch)

# %%
axis.lab_base(ch, det)

# %%
axis.lab_recipes(ch, det)

# %% [markdown]
# ### The effect of prompts
#
# MSP, MaxLogit, Energy and MCM all read the class head, and the head is built from the prompts.
# Below, each contrastive recipe's AUROC with the eight-template ensemble minus its AUROC with one
# template (positive: the ensemble separates ID from OOD better).

# %%
_ = axis.lab_prompts(ch, det)

# %% [markdown]
# ## Live: ImageNet against six real OOD sets
#
# With the `live` profile and the data present, ImageNet val is the ID set and iNaturalist, SUN,
# Places, Textures (the MOS/MCM subsets), NINCO and ImageNet-O are the OOD sets, each model with
# OpenAI's 80 ImageNet templates.

# %%
_ = axis.live(ch)  # the runner's live results table

# %% [markdown]
# Each of your models (`clipstudy build --models`) against each panel model, paired over the same images of these
# datasets (`clipstudy compare`: a paired bootstrap over images, McNemar's exact p for top-1, Holm across datasets).

# %%
from clipstudy import comparison

_ = comparison.yours(ch)

# %% [markdown]
# ## What the six factors do here
#
# Effects are AUROC of the recipe minus AUROC of `base` (MCM over near and far OOD pooled, with the
# prompt ensemble; the fine-tuned classifier has no image-text cosines, so it and base are compared on
# MSP). Each number is computed in this build.

# %%
_ = ch.effects.write(ch)

# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy.axes import claims

_ = claims.show(ch.results_dir, ['C8', 'C13'])
