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
# # Natural distribution shifts and effective robustness
#
# A model trained on ImageNet loses accuracy on ImageNet-V2 (new photos collected the same way),
# ImageNet-Sketch (drawings), ImageNet-R (renditions), ImageNet-A (natural adversarial photos) and
# ObjectNet (unusual poses and backgrounds). Across hundreds of ImageNet models the shifted accuracy
# is close to a line in logit space when plotted against the ImageNet accuracy (Taori et al. 2020).
# **Effective robustness (ER)** is how far a model sits above that line:
#
# $$\mathrm{ER} = \mathrm{acc}_\text{shift} - f(\mathrm{acc}_\text{ImageNet}),\qquad
#   \operatorname{logit} f(a) = \beta_1 \operatorname{logit} a + \beta_0,$$
#
# with $\beta$ fitted over the baseline (ImageNet-trained) models. A positive ER means robustness that
# ImageNet accuracy alone does not buy. Zero-shot CLIP was the first family far above the line
# (Radford et al. 2021). This chapter re-measures that in three ways: published records of real
# models, causal ablations in the lab, and (with the `live` profile) real checkpoints.

# %% tags=["parameters"]
params = {"profile": "lab", "device": "auto", "precision": "auto", "data_root": "", "results_dir": "book/results"}

# %%
from clipstudy import chapter
from clipstudy.axes import shifts as axis

ch = chapter.start(axis.AXIS, **params)

# %% [markdown]
# ## Records: zero-shot CLIPs, fine-tuned CLIPs and ImageNet models
#
# Points come from open_clip's results table (zero-shot CLIPs) and timm's results (ImageNet models
# and ImageNet-fine-tuned CLIPs). The baseline line of each shift is fitted over timm's ImageNet
# models only. ImageNet-A and -R are scored on their 200-class subsets by both sources.

# %%
points = axis.records_points(ch)  # None after one "Records missing" notice

# %%
axis.records_scatter(ch, points)

# %%
_ = axis.records_groups(ch, points)

# %% [markdown]
# ### ER of zero-shot CLIPs by training-set size, architecture and loss
#
# Each point is one zero-shot CLIP's ER averaged over the four shifts. These are observational
# records: training sets, sizes and architectures vary together, so the contrasts below are
# matched on the other tags where the records allow it.

# %%
axis.records_tags(ch, points)

# %%
axis.records_effects(ch, points)

# %%
axis.records_objectnet(ch, points)

# %% [markdown]
# ### Test-time prompts on 21 real CLIPs
#
# Udandarao et al. (2024) evaluated 21 zero-shot CLIPs under three prompt sets: the bare class name, "A photo
# of a {c}.", and the 80-template ensemble. Every contrast is within one model, so it is paired: the ensemble
# minus one template, and one template minus the bare name, on ImageNet top-1 and on ER over Sketch and R (the
# only shifts these records hold), each with a bootstrap interval over the models.

# %%
_ = axis.records_prompts(ch)
_ = axis.records_prompt_classes(ch)

# %% [markdown]
# ### Training data and size over more checkpoints
#
# The same records hold CLIPs open_clip's table does not: CC3M (CyCLIP, SLIP), SLIP's CC12M and YFCC-15M,
# SynthCI-30M (synthetic images), and LAION-400M pruned of images like the test sets. They join open_clip's
# CLIPs on one metric, ER over Sketch and R. A checkpoint in both counts once, with open_clip's value; two
# evaluations built with GELU where the checkpoint was trained with QuickGELU are left out and named: they are
# the activation mistake the live path guards against.

# %%
_ = axis.records_data_size(ch)

# %% [markdown]
# ### 71 fine-tunes of one CLIP
#
# Wortsman et al.'s model soups fine-tuned OpenAI's ViT-B/32 on ImageNet 71 times, drawing the learning rate,
# epochs, mixup, label smoothing and augmentation at random. What they can show: within this one parent and this
# one fine-tuning protocol, which settings go with more or less ER. What they cannot: anything about another
# architecture or training set, or a cause beyond these draws (the settings were not varied one at a time, and
# all 71 start from the same linear probe).

# %%
_ = axis.records_finetunes(ch)

# %% [markdown]
# ### How much does the baseline decide?
#
# ER depends on which ImageNet models the line is fitted over. Here every CLIP's ER is computed twice: against
# timm's ImageNet models and against the robustness testbed's non-CLIP models (Taori et al. 2020), the canonical
# population behind the ER line. The table gives how far each group's ER moves, per shift.

# %%
_ = axis.records_baselines(ch)

# %% [markdown]
# ### A controlled contrast between real models: LAION's scaling-law grid
#
# The records above are observational: CLIPs that differ in data also differ in architecture, length of
# training and recipe. Cherti et al. (2023) trained ViT-B/32, B/16 and L/14 on LAION-80M, -400M and -2B
# for 3B, 13B and 34B samples seen, with one recipe. Two neighbouring cells of this grid differ in **one**
# factor, so their difference is a controlled contrast between real, separately trained models (paired
# over the other two axes: 9 pairs per step). ER is measured against the same ImageNet-model line as above.

# %%
_ = axis.laion_grid(ch)

# %% [markdown]
# ## Lab: shifts with one known cause each
#
# In the lab, `lab-val` is the in-distribution test set. `lab-v2` draws fresh scenes from the same
# distribution (the lab's ImageNet-V2); `lab-sketch` and `lab-silhouette` render the *same* scenes as
# `lab-val` as edge drawings and filled silhouettes, so only the style changes. Every lab recipe
# differs from `base` in one factor, so the difference of its ER from `base` is that factor's effect.

# %%
acc_all = axis.lab_accuracy(ch)

# %% [markdown]
# **Comparable quality.** A recipe stands for its factor only if it was trained to a quality comparable with
# `base`: its mean lab-val accuracy over seeds must lie within 15% (relative) of base's. The ViT tower learns
# more slowly than the ResNet at this size, so `arch-vit` trains for more steps on the same images (its recipe
# says how many). Any recipe still below the bar is flagged in every effect below.

# %%
flags = axis.lab_parity(ch, acc_all)

# %% [markdown]
# The lab has no population of "ImageNet models", so the line of each shift is fitted over the lab
# zoo itself (every recipe and seed, ensemble prompts). A recipe's ER is then its distance from the zoo's
# trend, and the difference between a recipe's ER and `base`'s is the causal effect of the one
# factor that recipe changes. With one template instead of the ensemble, `base` is scored against
# the same line. The prompt ensemble names none of the shifts (no "sketch", "silhouette", "background" or
# size words), and a recipe whose training world contains a tested shift (`data-diverse` renders sketches,
# silhouettes and every background) is flagged: its ER there is not transfer.

# %%
ler = axis.lab_er(ch, acc_all)

# %%
_ = axis.lab_effects(ch, acc_all, ler, flags)

# %% [markdown]
# ## Live: real checkpoints on ImageNet and its shifts

# %%
_ = axis.live(ch, points)  # the runner's live results table

# %% [markdown]
# **Checked against published numbers.** For each live model with a row in open_clip's results table (its tag, or
# the hub repo that is a tag's hub file), per dataset: measured top-1 minus published top-1, flagged when the
# measured value lies outside the binomial 95% band of the images evaluated. It compares only under the published
# prompts (OpenAI's 80 templates); under others it says it cannot. A flag points at the activation, the
# preprocessing, the tokenizer or the class names before any finding is read.

# %%
_ = axis.published_check(ch)

# %% [markdown]
# Each of your models (`clipstudy build --models`) against each panel model, paired over the same images of these
# datasets (`clipstudy compare`: a paired bootstrap over images, McNemar's exact p for top-1, Holm across datasets).

# %%
from clipstudy import comparison

_ = comparison.yours(ch)

# %% [markdown]
# ## What the six factors do here
#
# Each line is computed in this build (effect = treatment minus base; ER as a fraction of images).

# %%
_ = ch.effects.write(ch, axis.NOTES)
# Training-set size rows from the LAION grid hold both steps of data size and of samples seen: the grid varies
# how much data a model sees in two ways, and both are listed, each paired and with its interval.
