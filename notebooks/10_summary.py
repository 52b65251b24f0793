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
# # Summary: every factor on every axis
#
# Each chapter ends with "What the six factors do here" and writes its effects to
# `book/results/<chapter>/effects.csv`: one row per measured effect, **treatment minus base** on one
# metric, with the comparison named and the source of the evidence (**lab**: a causal ablation in the
# rendered world; **records**: an observational contrast between groups of published real models;
# **live**: real checkpoints on real data). This chapter reads every one of those files produced in
# this build; it computes nothing new, and a cell it cannot fill is listed with the reason.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import summary as axis

ch = chapter.start(axis.AXIS, **params)

# %%
s = axis.read(ch)

# %% [markdown]
# ## The heatmap
#
# Each cell shows the headline effect of one factor on one axis. Real models come first, as on the claims
# page: the cell comes from the records where they measured it, else from live checkpoints (never from a
# pipeline check on random weights), else from the lab; the letter under the number says which (R, V or L).
# The lab's own value stays beside a real-model headline in the table below. Each column has its own colour
# scale, because the axes use different metrics: compare colours within a column. **ns** marks an effect
# whose 95% interval covers 0, which this book reports as no detectable effect; those cells are pale. Grey
# cells were not measured (see below).

# %%
axis.heatmap(ch, s)

# %% [markdown]
# ## The table
#
# One table per axis, in chapter order; one row per (factor, source): the chapter's headline effect for that
# cell (the first effect the chapter wrote for it; `n_rows` says how many it wrote in all; `all_effects.csv`
# has every row), with its 95% interval in the same cell. Effects
# are in the units of their metric (accuracy, AUROC, recall, ER: fractions). Records effects come with
# `n` (models or model pairs) and a 95% bootstrap interval over models (stratified where the contrast is
# matched on other tags); with fewer than 5 models in a group there is no interval, and `all_effects.csv`
# says "n too small" in its `note`. A lab effect is the mean over the profile's training seeds, with `n` the
# recipe-and-base models it averages and an interval from the seeds and the images together. A dash marks a
# value that was not measured.

# %%
_ = axis.table(ch, s)

# %% [markdown]
# ## Missing cells, and why
#
# Reasons come from the chapters themselves (`not_measured.csv`, where a chapter wrote one), else from
# what this build left behind: a chapter that did not run or failed, or one that wrote no effect for a
# factor.

# %%
_ = axis.missing(ch, s)

# %% [markdown]
# ## Sources per axis
#
# How many effects each axis holds from each source (lab, records, live) in this build.

# %%
axis.sources(ch, s)
