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
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import shape_bias as axis

ch = chapter.start(axis.AXIS, **params)

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
sb = axis.records(ch)  # None after one "Records missing" notice

# %% [markdown]
# Two contrasts are paired within a model: the three prompt sets of each zero-shot CLIP (left), and each
# fine-tuned CLIP against its own zero-shot version with the 80 templates (right).

# %%
axis.records_paired(ch, sb)

# %%
_ = axis.records_effects(ch, sb)

# %% [markdown]
# ## Lab: what sets the shape bias?
#
# Every recipe is scored on the same `lab-cue-conflict` images (built with the base world). The
# relevant recipes: `data-corr-high` (texture predicts the class 90% of the time in training),
# `data-corr-low` (texture independent of class), `base` (50%), and `finetuned` (base's image tower
# fine-tuned with cross-entropy on class labels).

# %%
lab_sb = axis.lab(ch)

# %%
axis.lab_figure(ch, lab_sb)

# %%
_ = axis.lab_effects(ch, lab_sb)

# %% [markdown]
# ## Lab: does the kind of fine-tuning matter?
#
# The paper reads its records as saying that shape bias persists under contrastive or parameter-efficient
# fine-tuning, unlike standard fine-tuning (claim C9). The lab fine-tunes each seed's `base` three ways, on the
# same images with the same steps, batch, learning rate and weight decay: `finetuned` (cross-entropy, the whole
# image tower and a class head), `finetuned-contrastive` (FLYP: open_clip's CLIP loss on class captions, both
# towers updated; it stays a CLIP) and `finetuned-peft` (the same cross-entropy, with the tower frozen except
# its last block). Each is scored by its own classifier, and all three start from the same one: the class
# heads are initialised from base's zero-shot head with the template ensemble, and the contrastive model is
# read zero-shot with that ensemble, as base is. A kind's **drop** is base's shape bias minus the fine-tune's,
# within a seed; the effect is the standard drop minus the kind's drop (positive: the kind keeps more shape
# bias), with the lab's interval over seeds and images.

# %%
_ = axis.lab_finetune_kinds(ch, lab_sb)

# %% [markdown]
# ## Real models against the lab's causal direction
#
# Where a lab recipe and a records contrast vary the same factor the same way (a ViT tower instead of a
# ResNet; fine-tuning on class labels; one template instead of the ensemble), the lab's effect is causal
# but in a toy world, and the records' effect is real but observational. The verdict says whether the
# real-model interval agrees with the lab's sign.

# %%
_ = axis.agreement(ch)

# %% [markdown]
# ## Live: real CLIPs on the real cue-conflict, edge and silhouette stimuli
#
# Zero-shot CLIPs decide among the 16 categories with a direct 16-way head; ImageNet classifiers
# average their probabilities over each category's ImageNet classes, as the original code does.

# %%
_ = axis.live(ch)  # the runner's live results table

# %% [markdown]
# ## What the six factors do here
#
# Each line is computed in this build (effect = treatment minus base, in shape-bias units).

# %%
_ = ch.effects.write(ch)

# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy.axes import claims

_ = claims.show(ch.results_dir, ['C2', 'C3', 'C9', 'C14'])
