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
profile = "lab"
lab_profile = "lab"
n_eval = 600
live = False
device = "auto"
data_root = ""
results_dir = "book/results"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from clipstudy import chapter
from clipstudy.analysis import effects as E
from clipstudy.analysis import multimodal

ch = chapter.start("09_lmm", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live,
                   smoke_note=("This build uses the `smoke` profile: tiny lab models and a miniature LLaVA "
                   "trained for seconds. Its numbers are pipeline checks only, not findings."))
effect_parts = []

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
ok = chapter.records_ready("vlm_shapebias")  # else one "Records missing" notice naming the fetch command
if ok:
    from clipstudy import plots, records

    sb = records.shape_bias_table(records.load("vlm_shapebias"))
    pairs = multimodal.lmm_encoder_pairs(sb)
    ch.save(pairs, "records_lmm_vs_encoder")
    towers = pairs.drop_duplicates("lmm")[["lmm", "encoder_label", "encoder_note"]].sort_values("lmm")
    display(towers.rename(columns={"encoder_label": "encoder (among the zero-shot CLIPs)",
                                   "encoder_note": "vision tower (source)"}).fillna("—"))

# %%
if ok:
    long = pd.concat([pairs.dropna(subset=["sb_encoder"]).drop_duplicates("lmm").assign(
                          who="its CLIP (80 templates)", shape_bias=lambda d: d["sb_encoder"]),
                      pairs.assign(who=lambda d: "LMM, " + d["question"], shape_bias=lambda d: d["sb_lmm"])])
    long = long[long["lmm"].isin(pairs.dropna(subset=["sb_encoder"])["lmm"])]
    fig, ax = plots.paired_lines(long, "who", "shape_bias", "lmm", ["its CLIP (80 templates)", "LMM, vqa", "LMM, caption"],
                                 hue="family", ylabel="shape bias", title="LMMs against their own vision encoder",
                                 ylim=(0.3, 0.9))
    ch.figure(fig, long, "records_lmm_vs_encoder")
    plt.show()
    rec = E.effects_frame(multimodal.records_lmm_effects(pairs))
    effect_parts.append(rec)
    display(rec[["factor", "metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rec.to_dict("records"):
        chapter.finding("{comp}: {e:+.3f} ({ci}): {word}.", comp=r["comparison"], e=r["effect"],
                        ci=E.interval_text(r) or f"n={r['n']:.0f}, no interval",
                        word=E.direction_words(r, "the LMM is more shape-biased", "the LMM is less shape-biased"))
    unk = pairs[pairs["sb_encoder"].isna()]["lmm"].unique()
    print(f"{len(unk)} LMMs have no encoder among these CLIPs (listed above, not paired): {', '.join(unk)}")

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
# chapter varies; training one LMM per recipe would multiply the build time.

# %%
from clipstudy.config import resolve_device
from clipstudy.lab import llava
from clipstudy.analysis import lab_eval

dev = resolve_device(device)
LMM_RECIPES = ["base", "arch-vit"]
n_factor_scenes = max(4, n_eval // 20)
details, results, meta = [], [], []
for r in LMM_RECIPES:
    lm = llava.load(r, lab_profile, dev, progress=False)
    meta.append(dict(recipe=r, **{k: lm.meta.get(k) for k in ("params", "n_scenes", "n_instructions", "steps",
                                                              "final_loss", "wall_s", "token_dim")}))
    d1, t1 = llava.evaluate(r, lab_profile, ("lab-val", "lab-sketch"), n=n_eval, device=dev, llava=lm,
                            progress=False)
    d2, t2 = llava.evaluate(r, lab_profile, ("lab-factors",), n=n_factor_scenes, device=dev, llava=lm,
                            progress=False)
    details += [d1.assign(recipe=r), d2.assign(recipe=r)]
    results += [t1, t2]
details = pd.concat(details, ignore_index=True)
results = pd.concat(results, ignore_index=True)
ch.save(pd.DataFrame(meta), "lab_llava_training")
ch.save(results, "lab_comparison")
display(pd.DataFrame(meta))

# %%
gains = multimodal.gain_table(results, "lab-llava", by=("recipe", "set", "group", "clip_full"))
ch.save(gains, "lab_gains")
main = results[results["group"] == "all"]
fig, axes = plt.subplots(1, len(LMM_RECIPES), figsize=(5.2 * len(LMM_RECIPES), 3.8), sharey=True, squeeze=False)
for ax, r in zip(axes[0], LMM_RECIPES):
    sub = main[main["recipe"] == r].assign(who=lambda d: d["model"].map({"lab-llava": "mini-LLaVA", "clip": "its CLIP",
                                                                          llava.PROBE_NAME: "linear probe"}))
    sns.barplot(data=sub, x="clip_full", y="accuracy", hue="who", order=["right", "wrong", "all"], ax=ax,
                errorbar=None)
    ax.set(xlabel="CLIP's full-way prediction was", ylabel="two-choice accuracy, TRUE/(TRUE+FALSE)",
           title=f"{r}: lab-val and lab-sketch", ylim=(0, 1))
    ax.axhline(0.5, color="0.3", lw=0.8, ls="--")
    ax.legend(fontsize=7)
fig.tight_layout()
ch.figure(fig, main, "lab_two_choice")
plt.show()
display(gains[gains["group"] == "all"].round(3))

# %% [markdown]
# Answers that name neither class, or both, are not guessed: the table below counts them. A large
# NEITHER count means the language model has not learnt to answer with a class name, which the
# accuracy (over TRUE and FALSE only) does not show by itself.

# %%
counts = main[main["model"] == "lab-llava"][["recipe", "set", "clip_full", "n", "n_true", "n_false", "n_both",
                                             "n_neither"]]
ch.save(counts, "lab_answer_counts")
display(counts)
ex = details.groupby(["recipe", "match"], as_index=False).head(2)[["recipe", "set", "true", "other", "answer", "match",
                                                                    "clip_correct"]]
display(ex)
b = gains[(gains["recipe"] == "base") & (gains["group"] == "all")]
wrong = b[b["clip_full"] == "wrong"]
right = b[b["clip_full"] == "right"]
allq = main[(main["recipe"] == "base") & (main["model"] == "lab-llava") & (main["clip_full"] == "all")]
answered = float((allq["n_true"] + allq["n_false"]).sum() / max(1, allq["n"].sum()))
def _mean(x):
    x = x.dropna()
    return float(x.mean()) if len(x) else float("nan")


if answered > 0:
    _ = chapter.finding("On the images its CLIP got wrong, the base mini-LLaVA's two-choice accuracy is {w:.3f} (its "
                        "CLIP: {wc:.3f} by construction); where the CLIP was right it is {r:.3f} against the CLIP's "
                        "{rc:.3f}. It named exactly one of the two classes in {a:.3f} of its answers.",
                        w=_mean(wrong["acc_lmm"]), wc=_mean(wrong["acc_clip"]), r=_mean(right["acc_lmm"]),
                        rc=_mean(right["acc_clip"]), a=answered)
else:
    chapter.notice("No scorable answers", "The base mini-LLaVA named neither (or both) of the two classes in every "
                   "answer of this build, so its two-choice accuracy is undefined; the counts above show this.")

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
vs_probe = []
for r in LMM_RECIPES:
    q = details[(details["recipe"] == r) & details["set"].isin(["lab-val", "lab-sketch"])]
    for part, sel in (("all", np.ones(len(q), bool)), ("wrong", ~q["clip_correct"].to_numpy(bool))):
        s = q[sel]
        answered = s["match"].isin(["TRUE", "FALSE"]).to_numpy()  # the probe always names one of the two
        lmm_hit = (s["match"] == "TRUE").to_numpy(float)
        probe_hit = (s["probe_match"] == "TRUE").to_numpy(float)
        res = E.bootstrap_mean(lmm_hit[answered] - probe_hit[answered])
        vs_probe.append(dict(recipe=r, clip_full=part, n_questions=len(s), n_answered=int(answered.sum()),
                             acc_lmm=float(lmm_hit[answered].mean()) if answered.any() else np.nan,
                             acc_probe=float(probe_hit.mean()) if len(s) else np.nan, **res))
vs_probe = pd.DataFrame(vs_probe)
ch.save(vs_probe, "lab_llava_vs_probe")
display(vs_probe.round(3))
for row in vs_probe.to_dict("records"):
    chapter.finding("{r}, {p} lab-val and lab-sketch questions: mini-LLaVA {a:.3f} (on the {k:.0f} of {n:.0f} it "
                    "answered with one class), linear probe {b:.3f}; the LMM's gain over the probe on the questions "
                    "both answered: {w}.", r=row["recipe"], p="CLIP-wrong" if row["clip_full"] == "wrong" else "all",
                    a=row["acc_lmm"], k=row["n_answered"], n=row["n_questions"], b=row["acc_probe"],
                    w=E.effect_words(row))

# %% [markdown]
# ### Where the LMM helps: by visual factor
#
# `lab-factors` pushes one factor at a time out of its training range. The gain is the LMM's accuracy
# minus its CLIP's on the same questions, over all questions of each factor.

# %%
fg = gains[(gains["set"] == "lab-factors") & (gains["clip_full"] == "all") & (gains["group"] != "all")]
ch.save(fg, "lab_factor_gains")
if len(fg) and fg["gain"].notna().any():
    fig, ax = plt.subplots(figsize=(9, 3.6))
    sns.barplot(data=fg, x="group", y="gain", hue="recipe", ax=ax, errorbar=None)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set(xlabel="factor pushed out of range ('none' = control)", ylabel="accuracy gain, LMM − CLIP",
           title="Two-choice gain of the mini-LLaVA over its CLIP")
    ax.tick_params(axis="x", rotation=30)
    ch.figure(fig, fg, "lab_factor_gains")
    plt.show()
    fb = fg[fg["recipe"] == "base"].dropna(subset=["gain"])
    if len(fb):
        top = fb.sort_values("gain")
        _ = chapter.finding("For base, the LMM's gain over its CLIP ranges from {lo:+.3f} ({flo}) to {hi:+.3f} ({fhi}).",
                        lo=top["gain"].iloc[0], flo=top["group"].iloc[0], hi=top["gain"].iloc[-1],
                        fhi=top["group"].iloc[-1])
else:
    chapter.notice("No factor gains", "No lab-factors question got a TRUE or FALSE answer from both models in this "
                   "build, so no per-factor gain is defined (see the NEITHER counts above).")

# %%
factors = {r: f for r, f in lab_eval.recipe_factors().items() if r in LMM_RECIPES}
effect_parts.append(multimodal.recipe_effects(gains[gains["set"].isin(["lab-val", "lab-sketch"]) & (gains["group"] == "all")],
                                              factors, "acc_lmm",
                                              metric="LMM two-choice accuracy (lab-val and lab-sketch, all questions)"))
effect_parts.append(multimodal.recipe_effects(gains[gains["set"].isin(["lab-val", "lab-sketch"]) & (gains["group"] == "all")],
                                              factors, "gain", metric="LMM − CLIP two-choice accuracy (all questions)"))

# %% [markdown]
# ## Live: LLaVA-1.5 / 1.6 on ImageNet-D
#
# With the `live` profile, the LLaVA checkpoints in the local Hugging Face cache and ImageNet-D on
# disk, each checkpoint answers the two-choice question (greedy decoding) against the OpenAI ViT-L/14
# 336 px CLIP it is built on.

# %%
ready, missing = multimodal.live_panel(live)
if not ready:
    chapter.live_missing(missing)

# %%
if ready:
    ld, lt = multimodal.live_lmm(ready, device=dev)
    ch.save(lt, "live_comparison")
    lg = pd.concat([multimodal.gain_table(lt[lt["checkpoint"] == c], c, by=("checkpoint", "clip_full"))
                    for c in ready], ignore_index=True)
    ch.save(lg, "live_gains")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    sns.barplot(data=lg, x="clip_full", y="acc_lmm", hue="checkpoint", order=["right", "wrong", "all"], ax=ax,
                errorbar=None)
    ax.set(xlabel="CLIP's full-way prediction was", ylabel="LLaVA two-choice accuracy", ylim=(0, 1))
    ch.figure(fig, lg, "live_two_choice")
    plt.show()
    lw = lg[lg["clip_full"] == "wrong"]
    _ = chapter.finding("On ImageNet-D images their CLIP gets wrong, {n:.0f} LLaVA checkpoints answer the two-choice "
                    "question with mean accuracy {a:.3f}.", n=len(lw), a=float(lw["acc_lmm"].mean()))

# %% [markdown]
# ## What the six factors do here
#
# Lab rows: the `arch-vit` LMM's accuracy (and gain over its own CLIP) minus the `base` LMM's, on lab-val
# and lab-sketch. Records rows, on cue-conflict shape bias: each real LMM minus its own vision encoder,
# filed under **fine-tuning** (an LMM is its CLIP with a projector and a language model trained on top),
# and captioning minus the 16-way question, under **test-time prompts**. Each number is computed in this
# build; records rows give n and a 95% interval over LMMs.

# %%
effects = E.effects_frame(pd.concat(effect_parts, ignore_index=True) if effect_parts else [])
ch.save(effects, "effects")
why_not = "the miniature LLaVA is trained on base and arch-vit only (one LMM per recipe would multiply the build time)"
not_measured = {"training distribution": why_not, "training-set size": why_not, "contrastive loss": why_not,
                "fine-tuning": "the fine-tuned lab model is a classifier with no text tower: the protocol compares an "
                               "LMM with its own CLIP's zero-shot choice",
                "test-time prompts": "the LMM is asked one fixed question; its CLIP uses the prompt ensemble",
                "architecture": "the LMM's two-choice accuracy is undefined for base or arch-vit in this build (no "
                                "answer named exactly one of the two classes)"}
nm = {f: w for f, w in not_measured.items() if f not in set(effects["factor"])}
ch.save(pd.DataFrame([dict(factor=f, axis=multimodal.AXIS, reason=w) for f, w in nm.items()],
                     columns=["factor", "axis", "reason"]), "not_measured")
display(Markdown(E.factor_summary(effects, nm)))


# %% [markdown]
# ## The paper's claims on this axis
#
# These are the rows of the claims page ("The paper's claims, judged") that this chapter's numbers decide,
# each with its records, lab and live effect, its 95% interval and a verdict computed from them.

# %%
from clipstudy import claims

_ = claims.show(results_dir, ['C4'])
