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
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import retrieval as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## Records: open_clip's retrieval results against ImageNet accuracy
#
# open_clip publishes recall@1/5/10 in both directions on Flickr30k (1k test images) and MSCOCO (5k
# test images) for its pretrained models. For each (dataset, metric) we fit a least-squares line of
# recall on ImageNet zero-shot accuracy (without the CoCa models fine-tuned on MSCOCO captions, whose
# COCO retrieval is in-distribution) and keep each model's **residual**: retrieval beyond what its
# classification predicts.

# %%
rv = axis.records(ch)  # None after one "Records missing" notice

# %%
axis.records_correlations(ch, rv)

# %%
axis.records_residuals(ch, rv)

# %% [markdown]
# ### A controlled contrast: LAION's scaling-law grid
#
# Cherti et al. (2023) trained ViT-B/32, B/16 and L/14 on LAION-80M, -400M and -2B for 3B, 13B and 34B
# samples seen with one recipe, and report recall@5 on Flickr30k and MSCOCO in both directions. Grid
# neighbours differ in one factor only, so their difference is a controlled contrast between real models
# (9 pairs per step). `recall@5` below is the mean over the two datasets and the two directions.

# %%
_ = axis.laion_grid(ch)

# %% [markdown]
# ## Lab: retrieval on captions the models never saw
#
# `lab-retrieval` renders in-distribution scenes with five captions each, written from the scene's
# factors with *held-out* caption templates, so a model must match content, not memorised phrasing.
# Each contrastive recipe is scored in both directions; its x coordinate is its zero-shot accuracy on
# `lab-val`. The fine-tuned recipe is a classifier without a text tower and cannot retrieve.

# %%
lr = axis.lab(ch)

# %%
axis.lab_vs_accuracy(ch, lr)

# %% [markdown]
# ## Live: COCO 5k and Flickr30k 1k
#
# With the `live` profile and the Karpathy test splits present, real checkpoints are scored the same way.

# %%
_ = axis.live(ch)  # the runner's live results table

# %% [markdown]
# ## What the six factors do here
#
# Records rows: the mean residual of MSCOCO text→image recall@5 over the ImageNet-accuracy line,
# treatment group minus base group (observational: groups differ in more than one factor). Lab rows:
# a recipe's recall@5 (both directions averaged) minus `base`'s. Each number is computed in this build.

# %%
_ = ch.effects.write(ch)
