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
# Each claim was given, before anything was computed, one **primary effect** per source: its metric, its
# contrast and its unit of replication (`clipstudy/claims.csv`; the methods page explains the rules). The
# verdict of a source comes from its primary effect alone:
#
# - **agrees**: the 95% interval lies on the expected side of 0 (a two-sided claim: either side).
# - **disagrees**: it lies on the other side.
# - **inconclusive**: it covers 0, and the page gives the smallest effect it could have detected; or the
#   effect rests on fewer than 5 models, too few for a bootstrap interval ("n too small").
# - **not measured**: no evidence.
#
# A claim that a family differs ("families differ", "differs by source") is judged on all its contrasts
# at once, with Holm's correction for their number. The overall verdict follows the real models
# (records, live) where they measured the claim, and the lab where they did not. Other contrasts are
# shown as secondary and never judged. The claim ids are those of `paper_claims.csv`. This chapter runs
# after every other one and reads what they wrote.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import claims as axis

ch = chapter.start(axis.AXIS, **params)
table, evidence = axis.judge(ch)

# %% [markdown]
# ## The verdicts
#
# One row per claim. Each source's cell gives its primary effect, its 95% interval, and n with its unit
# (models, model pairs, recipes, seeds, images), in the claim's own units (see each claim below).

# %%
axis.verdicts(table)

# %% [markdown]
# ## The evidence, source by source
#
# Each dot is one judged effect: a primary, or one contrast of a family (numbered). The bar is its 95%
# interval, and the colour is that source's verdict.

# %%
axis.forest(ch, evidence)

# %% [markdown]
# ## Each claim, for audit
#
# The paper's sentence, our operational definition, and per source every effect computed for it: its role
# (primary, family or secondary), n and unit, interval and p-value (Holm-adjusted in a family), and the
# caveat that applies.

# %%
axis.audit(table, evidence)

# %% [markdown]
# ## What each number measures
#
# Each source's evidence for each claim: what was measured, or why nothing was.

# %%
axis.measured(evidence)
