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
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import introduction as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## The profile of this build
#
# Every chapter is executed by papermill with the parameters of one profile: `lab` (the default:
# offline, CPU, plus the published records where present), `live` (adds real checkpoints on real data)
# and `smoke` (tiny sizes; what the tests execute).

# %%
_ = axis.profiles(ch)

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
_ = axis.sources(ch)

# %%
_ = axis.live(ch)

# %% [markdown]
# ## The lab world and its zoo
#
# Each lab recipe differs from `base` in exactly one factor. Test-time prompts are an evaluation knob:
# the same model is scored with one template or with the lab's template ensemble.

# %%
_ = axis.zoo(ch)

# %% [markdown]
# ## Zero-shot classification in the lab
#
# Below: `lab-val` images (in-distribution scenes) with the `base` CLIP's zero-shot prediction from the
# prompt ensemble. Green titles are correct, red wrong.

# %%
axis.example_grid(ch)

# %%
_ = axis.accuracy(ch)

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
_ = ch.effects.write(ch)
