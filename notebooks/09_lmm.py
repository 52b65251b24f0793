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
# # Large multimodal models against their own CLIP
#
# LLaVA-style models feed a CLIP vision tower's features, through a small projector, into a language
# model. Does the language model classify better than the CLIP it looks through? ImageNet-D (Zhang et
# al. 2024) asks a **two-choice question** per image: "What is the main object in this image? Choose
# from the following list: *a*, *b*." One choice is the true class; the other is the class the
# reference CLIP confuses it with (its top-1 when wrong, else its top-2). Answers are matched to class
# names as TRUE, FALSE, BOTH or NEITHER, and **accuracy = TRUE / (TRUE + FALSE)**; BOTH and NEITHER are
# counted and reported, never guessed.
#
# The same CLIP answers the same pairs by comparing its two class logits. On images where the CLIP's
# full-way top-1 was wrong, the other choice *is* that top-1, so the CLIP's two-choice accuracy there is
# 0 by construction: any LMM accuracy above 0 on those rows is an image the LMM rescues.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import lmm as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## Records: real LMMs against their own vision encoder
#
# Gavrikov et al. (2025) published the per-image decisions of about twenty LMMs on the 1,280 cue-conflict
# images, asked a 16-way multiple-choice question (`vqa`) or to caption the image (the caption then
# classified), next to the zero-shot CLIPs that several of them look through. An LMM's vision tower is
# named below from each model's own paper or checkpoint (LLaVA-1.5: OpenAI CLIP ViT-L/14-336, frozen);
# the pair compares the LMM's **shape bias** with its encoder's, both on the same images. This is the
# cue-conflict question, not ImageNet-D's two-choice accuracy of the lab and live sections below.

# %%
pairs = axis.records(ch)  # None after one "Records missing" notice

# %%
axis.records_effects(ch, pairs)

# %% [markdown]
# ## Lab: a miniature LLaVA on a frozen lab CLIP
#
# `clipstudy.lab.llava` freezes a lab CLIP's vision tower, adds a two-layer MLP projector and a tiny
# two-layer Llama over the lab's word vocabulary, and trains projector and language model on
# instruction pairs generated from each training scene's factor record (object, colour, texture,
# background, style, and two-choice object and colour questions). It then answers the ImageNet-D
# question on lab images, with the other choice taken from its own CLIP's zero-shot failures.
#
# Two CLIPs are given an LMM: `base` (a ResNet tower, whose pooled embedding alone the LMM sees) and
# `arch-vit` (a ViT tower, whose patch tokens the LMM also sees), so architecture is the one factor this
# chapter varies; training one LMM per recipe would multiply the build time. `base` gets one LMM per
# training seed of its CLIP (each seed an independent CLIP and LMM), so the claims page can put an
# interval over seeds and images on its gain over its CLIP; `arch-vit` gets one (seed 0).

# %%
lab = axis.lab(ch)

# %%
axis.two_choice(ch, lab)

# %% [markdown]
# Answers that name neither class, or both, are not guessed: the table below counts them. A large
# NEITHER count means the language model has not learnt to answer with a class name, which the
# accuracy (over TRUE and FALSE only) does not show by itself.

# %%
axis.answers(ch, lab)

# %% [markdown]
# ### A linear probe on the same features
#
# The mini-LLaVA is trained on the object labels of its training scenes (its `object` answers), so part of
# any gain over the zero-shot CLIP may come from any trained readout of the frozen features, not from the
# language model. The control is a linear probe (multinomial logistic regression) trained on the same frozen
# CLIP features of the same training scenes, with the same labels; it answers each two-choice question by the
# higher of its two class logits. The LMM's gain over the probe is computed per question (answered by both;
# TRUE = 1, FALSE = 0), with a bootstrap interval over questions.

# %%
_ = axis.versus_probe(ch, lab)

# %% [markdown]
# ### Where the LMM helps: by visual factor
#
# `lab-factors` pushes one factor at a time out of its training range. The gain is the LMM's accuracy
# minus its CLIP's on the same questions, over all questions of each factor.

# %%
axis.factor_gains(ch, lab)

# %%
axis.lab_effects(ch, lab)

# %% [markdown]
# ## Live: LLaVA-1.5 / 1.6 on ImageNet-D
#
# With the `live` profile, the LLaVA checkpoints in the local Hugging Face cache and ImageNet-D on
# disk, each checkpoint answers the two-choice question (greedy decoding) against the OpenAI ViT-L/14
# 336 px CLIP it is built on.

# %%
_ = axis.live(ch)

# %% [markdown]
# ## What the six factors do here
#
# Lab rows: the `arch-vit` LMM's accuracy (and gain over its own CLIP) minus the `base` LMM's, on lab-val
# and lab-sketch. Records rows, on cue-conflict shape bias: each real LMM minus its own vision encoder,
# filed under **fine-tuning** (an LMM is its CLIP with a projector and a language model trained on top),
# and captioning minus the 16-way question, under **test-time prompts**. Each number is computed in this
# build; records rows give n and a 95% interval over LMMs.

# %%
_ = ch.effects.write(ch)

# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy.axes import claims

_ = claims.show(ch.results_dir, ['C4'])
