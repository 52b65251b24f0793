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
# # Calibration: is the confidence right, and does a fix made in distribution survive a shift?
#
# A classifier is **calibrated** when, among the images it labels with confidence $p$, a fraction $p$
# is right. We measure
#
# - **ECE**: $\sum_b \frac{n_b}{N}\,|\mathrm{acc}_b - \mathrm{conf}_b|$ over 15 equal-width confidence bins;
# - **NLL**: mean $-\log p(y\mid x)$; **Brier**: mean $\sum_c (p_c - [c = y])^2$;
# - **reliability diagrams**: accuracy against confidence per bin (the diagonal is perfect).
#
# **Temperature scaling** (Guo et al. 2017) divides the logits by one scalar $T$ fitted to minimise NLL
# on held-out in-distribution data. Here $T$ is fitted on `lab-val` and applied unchanged to the
# shifted sets. Whether ID calibration *transfers* is measured against an oracle: the temperature
# fitted on each shifted set itself. The **transfer gap** is ECE with the ID temperature minus ECE
# with the oracle temperature (0 = the ID fix is as good as possible there; since temperatures are
# fitted to minimise NLL, not ECE, the gap can come out slightly negative).

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import calibration as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## Records: a calibration proxy for real models
#
# Most published records report accuracy only. Galil et al.'s `cood_benchmarking` records (ICLR 2023) also
# publish each model's mean softmax confidence on ImageNet val, so the **confidence-accuracy gap** (mean
# max-softmax minus top-1) can be read for hundreds of ImageNet models and the 9 OpenAI zero-shot CLIPs. It is a proxy
# for calibration error, not ECE: a model can have a gap of 0 and still be miscalibrated per bin. Claim C10
# compares the zero-shot CLIPs with the ImageNet models' linear trend at the same accuracy.

# %%
_ = axis.records_gap(ch)  # None after one "Records missing" notice

# %% [markdown]
# ## Lab: every recipe, in distribution and under four kinds of shift

# %%
lab = axis.lab(ch)

# %% [markdown]
# ### Reliability diagrams of `base`, before and after the ID temperature

# %%
axis.reliability(ch, lab)

# %%
tr = axis.transfer(ch, lab)

# %%
axis.transfer_findings(ch, tr)

# %% [markdown]
# ### Per visual factor: which shifts break the ID temperature?

# %%
_ = axis.factor_ece(ch, lab)

# %% [markdown]
# ### Explorer: reliability diagram of any recipe on any set
#
# The static figure above is the record; this picker (ipywidgets) redraws the diagram live when the
# notebook runs in Jupyter.

# %%
axis.explorer(ch, lab)

# %%
_ = axis.lab_effects(ch, lab, tr)

# %% [markdown]
# ## Live: ImageNet-fitted temperature on the real shifts

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
# Each line is computed in this build (effect = treatment minus base, in ECE units: lower is better).

# %%
_ = ch.effects.write(ch)

# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy.axes import claims

_ = claims.show(ch.results_dir, ['C10', 'C11', 'C12'])
