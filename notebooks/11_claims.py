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
# # The paper's claims, judged
#
# Tu, Deng & Gedeon make claims about how robust CLIP models are. This page tests each one against
# what this build computed. There are three sources of evidence:
#
# - **records**: published results of real models;
# - **lab**: a causal ablation in the rendered world;
# - **live**: real checkpoints on real data.
#
# Each source gives an effect, its n and a 95% interval. A verdict follows from that interval and the
# claim's expected direction:
#
# - **agrees**: the interval lies on the expected side of 0.
# - **disagrees**: it lies on the other side.
# - **inconclusive**: it covers 0. The book then reports "no detectable effect".
# - **not measured**: no evidence, or an effect without an interval.
#
# A two-sided claim ("families differ") agrees when any interval excludes 0. A "near zero" claim
# agrees when the whole interval lies within ±0.05. The overall verdict follows the real models
# (records, live) where they measured the claim, and the lab where they did not. The claim ids are
# those of `paper_claims.csv`. This chapter runs after every other one and reads what they wrote.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter, claims
from clipstudy.axes import claims as axis

ch = chapter.start(axis.AXIS, **params)
table, evidence = axis.judge(ch)

# %% [markdown]
# ## The verdicts
#
# One row per claim. The records, lab and live columns show the effect, its 95% interval and n, in
# the claim's own units (listed at the end), followed by the verdict in words.

# %%
_ = claims.show(ch.results_dir, table["id"])

# %% [markdown]
# ## The evidence, source by source
#
# Each dot is one source's effect for one claim. The bar is its 95% interval, and the colour is that
# source's verdict.

# %%
axis.forest(ch, evidence)

# %% [markdown]
# ## What each number measures
#
# Each source's evidence for each claim: what was measured, or why nothing was.

# %%
axis.measured(evidence)
