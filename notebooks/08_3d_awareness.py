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
# # 3D awareness
#
# Two questions about the three-dimensional world behind an image:
#
# 1. **Robustness to 3D common corruptions.** Real image degradations follow the scene's geometry:
#    a camera focused near blurs what is far, fog thickens with distance, motion towards the camera
#    blurs radially. ImageNet-3DCC (Kar et al. 2022) computes such corruptions from estimated depth.
#    How much accuracy survives them, severity by severity, compared with flat 2D corruptions?
# 2. **Cross-view correspondence.** Does the vision tower's dense feature map describe a point on an
#    object the same way when the object is seen from another viewpoint? After El Banani et al.
#    (2024), we match each pixel of one view to the most similar pixel of the other view and count a
#    hit when the match lands within r pixels of the true point (**correspondence recall@r px**).
#
# The lab renders true depth and true object-space coordinates, so both its corruptions and its
# correspondences are exact rather than estimated.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import threed as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## Records: ImageNet models under 3D corruptions (context, not CLIPs)
#
# No published table holds CLIPs under ImageNet-3DCC or any correspondence measure. RobustBench publishes 12
# ImageNet models (AlexNet, ResNet-50s trained in several ways, DeiT-S and DeiT-B) under the 12 3D common
# corruptions at five severities. They are context for C1, not a CLIP result: their 3D effective robustness
# (accuracy under the corruptions beyond what their clean accuracy predicts, a line over the 12) and the DeiT
# against ResNet-50 contrast, whose two DeiTs are too few for an interval.

# %%
_ = axis.records(ch)

# %% [markdown]
# ## Lab: 3D and 2D corruptions by severity
#
# `lab-3dcc` renders clean scenes and corrupts each one with five depth-aware corruptions computed
# from the true depth (near focus, far focus, 3D fog, motion along z, camera flash) and three flat
# ones from the `imagecorruptions` package (Gaussian noise, contrast, defocus blur), at severities 1-5.
# Every recipe of the zoo is scored zero-shot with the prompt ensemble (the fine-tuned recipe with
# its classifier head).
#
# The flat corruptions keep ImageNet-C's standard severities. The strength of each 3D corruption at
# severity *s* is **calibrated** (`clipstudy.lab.severity`): on scenes of their own, the base recipe
# (seed 0) must lose as much accuracy to it as it loses, on average, to the flat corruptions at *s*.
# A recipe that then loses more to 3D than to 2D corruptions does so because of the model, not because
# the lab happened to make one kind stronger.

# %%
axis.lab_examples(ch)

# %%
axis.lab_calibration(ch)

# %%
acc3 = axis.lab_3dcc(ch)

# %%
axis.lab_drop(ch, acc3)

# %% [markdown]
# ### Explore by severity
#
# The figure above is the static record of this build. In a live notebook, the slider below redraws
# the accuracy of every recipe at one severity (it changes nothing that was saved).

# %%
axis.explorer(ch, acc3)

# %% [markdown]
# ## Lab: cross-view correspondence
#
# `lab-multiview` shows each object twice, the second view turned by 15-45° in yaw and up to 10° in
# pitch; the renderer's object-space coordinates give, for every visible pixel of view A, its exact
# pixel in view B. Each tower's dense features are taken at the same resolution, one cell per 8×8
# pixels (ViT: its last block's patch tokens; ResNet and ConvNeXt: their deepest stage that still has
# that grid; the `grid` column below says which) and upsampled to the image;
# queries are matched to view B's object pixels. `pixels` is a no-learning baseline that matches
# 3×3 RGB patches.

# %%
_ = axis.correspondence(ch)

# %% [markdown]
# ## Live: ImageNet-3DCC
#
# With the `live` profile and ImageNet-3DCC present, real checkpoints are scored per corruption and
# severity with OpenAI's 80 templates.

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
# For each recipe: its mean accuracy over the 3D corruptions at severities 1-5 minus `base`'s (first
# row), and its correspondence recall at 4 px minus `base`'s (second row). Each number is computed in
# this build.

# %%
_ = ch.effects.write(ch, sort=True)

# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy.axes import claims

_ = claims.show(ch.results_dir, ['C1'])
