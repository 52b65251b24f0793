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
# # Visual factors: pose, background, size, texture, occlusion, ...
#
# Average accuracy under shift hides *which* change hurts. ImageNet-X (Idrissi et al. 2023) annotates
# every ImageNet validation image with the factors that make it unusual (pose, background, pattern,
# colour, smaller, larger, partial view, texture, style, occlusion, lighting, ...). Two numbers per
# factor $f$:
#
# - **factor accuracy**: accuracy over the images annotated with $f$;
# - **error ratio**: $(1-\mathrm{acc}_f)/(1-\mathrm{acc})$; above 1 the factor hurts more than average;
# - **per-factor ER**: factor accuracy above the logit-linear line fitted over ImageNet models.
#
# The lab does the same with a cause we control: `lab-factors` takes in-distribution scenes and pushes
# exactly one factor out of its training range, keeping an unshifted copy of each scene as a control.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import visual_factors as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## Records: ImageNet-X per-factor accuracy of published models
#
# The published ImageNet-X tables (top-factor annotations, class-level labels) hold per-factor
# accuracy for the models of three testbeds, among them zero-shot OpenAI CLIPs (ViT-B/32 and
# ResNet-50; the counts are printed below). The per-factor line is fitted over the ImageNet-trained networks.

# %%
xf, cvr = axis.records_imagenet_x(ch)  # None, None after one "Records missing" notice

# %%
axis.records_factors(ch, xf, cvr)

# %% [markdown]
# ## Records: CLIP against humans on model-vs-human's 17 out-of-distribution sets
#
# Model-vs-human (Geirhos et al. 2021) shows the same images to human observers and to models: 12
# parametric distortions at several levels (colour, contrast, high-pass, low-pass, phase scrambling, power
# equalisation, false colour, rotation, three Eidolon distortions, uniform noise), four renditions
# (sketch, stylized, edge, silhouette) and cue-conflict. Its published raw decisions cover humans, ResNet-50
# and six SWAG models; a fork of it ran OpenAI CLIP ViT-B/32, B/16 and L/14 through the same 16-category
# ImageNet head. Every number below is recomputed from those per-image decisions.

# %%
mvh = axis.mvh_levels(ch)

# %%
axis.mvh_renditions(ch, mvh)

# %% [markdown]
# **Error consistency.** Two deciders with the same accuracy can still err on different images. Over the
# trials of each condition matched by image, Cohen's kappa compares how often two deciders are both right
# or both wrong with what their accuracies alone predict (`metrics.error_consistency`; Geirhos et al.
# 2020). Each model is compared with every human observer; each human with the other humans, the ceiling.

# %%
axis.mvh_consistency(ch, mvh)

# %% [markdown]
# ## Lab: one factor out of range at a time
#
# Each `lab-factors` image is a copy of an in-distribution control scene with one factor moved
# outside the training range: pose (steep tilt or upside down), an unseen background, texture or
# colour, smaller or larger than ever seen, partial view (cut by the border), heavier occlusion,
# dark lighting from below, or an unseen style. The error ratio divides each factor's error by the
# error on the control copies of the same scenes; the effects use effective robustness per factor (below).

# %%
lab = axis.lab_factors(ch)

# %% [markdown]
# The error ratio (1 - acc_factor) / (1 - acc_control) is a description of one model, but a poor measure of a
# *difference* between models: its denominator shrinks as a model gets better, so a more accurate recipe gets a
# larger ratio for the same relative damage. The effects below therefore use **effective robustness per factor**:
# for each factor, a logit-linear line over the whole zoo (every recipe and seed) predicts the factor's accuracy
# from the control accuracy, and a model's ER is how far above that line it sits. A recipe that is only more
# accurate moves along the line and keeps ER near 0. Cells marked `*` are factors the recipe trains on.

# %%
base_rows = axis.lab_heatmap(ch, lab)

# %%
_ = axis.lab_effects(ch, lab, base_rows)

# %% [markdown]
# ## Live: ImageNet-X on real checkpoints

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
# Each line is computed in this build (effect = treatment minus base).

# %%
_ = ch.effects.write(ch, axis.NOTES)

# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy.axes import claims

_ = claims.show(ch.results_dir, ['C5', 'C6', 'C7'])
