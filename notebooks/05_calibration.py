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
from clipstudy.analysis import calibration as C
from clipstudy.analysis import effects as E

pd.set_option("display.max_colwidth", 140)
ch = chapter.start("05_calibration", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live)
effect_rows = []

# %% [markdown]
# ## Records
#
# The published records this study uses (open_clip, timm, ImageNet-X, cue-conflict) report accuracy,
# not confidence, so calibration has no records section: it is measured in the lab and live only.

# %% [markdown]
# ## Lab: every recipe, in distribution and under four kinds of shift

# %%
from clipstudy.analysis import lab_eval
from clipstudy.config import resolve_device

dev = resolve_device(device)
recs = lab_eval.recipes(lab_profile)
SETS = ["lab-val", "lab-v2", "lab-sketch", "lab-silhouette", "lab-factors"]
n_of = {"lab-factors": max(8, n_eval // 4)}
lab_seeds = lab_eval.seeds(lab_profile)
seed0 = lab_seeds[0]  # figures and the explorer show one seed; tables and effects use every seed
tables, logits = [], {}
for r in recs["recipe"]:
    for sd in lab_seeds:
        for prompts in (("ensemble", "single") if r == "base" else ("ensemble",)):
            sets_ = {}
            for s in SETS:
                zs, ls = lab_eval.zero_shot(r, s, n=n_of.get(s, n_eval), profile=lab_profile, prompts=prompts,
                                            device=dev, seed=sd)
                sets_[s] = (zs.logits.numpy(), zs.labels.numpy())
                if s == "lab-factors":
                    factor_of_image = ls.factors["factor"].to_numpy()
            logits[(r, prompts, sd)] = sets_
            tables.append(C.calibration_table(sets_, "lab-val").assign(recipe=r, prompts=prompts, seed=sd))
cal = pd.concat(tables, ignore_index=True)
ch.save(cal, "lab_calibration")
base = cal[(cal["recipe"] == "base") & (cal["prompts"] == "ensemble")]
print(f"base, mean over {len(lab_seeds)} training seeds:")
display(base.pivot_table(index="set", columns="scaling", values=["ece", "nll", "brier"], aggfunc="mean").round(3))

# %% [markdown]
# ### Reliability diagrams of `base`, before and after the ID temperature

# %%
t_base = float(base[(base["set"] == "lab-val") & (base["scaling"] == "id") & (base["seed"] == seed0)]["temperature"].iloc[0])
rel = C.reliability_frame(logits[("base", "ensemble", seed0)], t_base)
g = sns.relplot(data=rel[rel["count"] > 0], x="confidence", y="accuracy", hue="label", col="set", kind="line",
                marker="o", height=3.0, aspect=0.9, facet_kws=dict(xlim=(0, 1), ylim=(0, 1)))
for ax in g.axes.flat:
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
g.set_axis_labels("confidence (max softmax)", "accuracy (fraction)")
g.legend.set_title("temperature")
g.set_titles("{col_name}")
g.figure.suptitle(f"base (seed {seed0}): T=1 vs T={t_base:.2f} fitted on lab-val", y=1.04)
ch.figure(g.figure, rel, "lab_reliability_base")
plt.show()

# %%
tr = pd.concat([C.transfer(t, "lab-val").assign(recipe=r, prompts=p, seed=sd)
                for (r, p, sd), t in cal.groupby(["recipe", "prompts", "seed"])], ignore_index=True)
ch.save(tr, "lab_transfer")
long = tr.melt(id_vars=["recipe", "prompts", "seed", "set"], value_vars=["ece_none", "ece_id", "ece_oracle"],
               var_name="temperature", value_name="ece")
long["temperature"] = long["temperature"].map({"ece_none": C.SCALING_LABELS["none"], "ece_id": C.SCALING_LABELS["id"],
                                               "ece_oracle": C.SCALING_LABELS["oracle"]})
fig, ax = plt.subplots(figsize=(8.5, 3.8))
sns.barplot(data=long[long["prompts"] == "ensemble"], x="set", y="ece", hue="temperature", order=SETS, ax=ax,
            errorbar="sd")
ax.set(xlabel="", ylabel="ECE, 15 bins (mean ± sd over recipes and seeds)",
       title="Does the in-distribution temperature transfer? (all recipes)")
ax.legend(fontsize=8)
ch.figure(fig, long, "lab_transfer")
plt.show()

# %%
bt = tr[(tr["recipe"] == "base") & (tr["prompts"] == "ensemble")].groupby("set")[["ece_none", "ece_id", "ece_oracle"]].mean()
shifted = tr[(tr["prompts"] == "ensemble") & tr["shifted"]]
chapter.finding("For base (mean over seeds), temperature scaling fitted on lab-val changes ECE there from {a:.3f} to {b:.3f}. Under the "
                "sketch shift the same temperature gives ECE {c:.3f}, against {d:.3f} with the sketch set's own "
                "(oracle) temperature.", a=float(bt.loc["lab-val", "ece_none"]), b=float(bt.loc["lab-val", "ece_id"]),
                c=float(bt.loc["lab-sketch", "ece_id"]), d=float(bt.loc["lab-sketch", "ece_oracle"]))
_ = chapter.finding("Over all recipes and the four shifted sets, the ID temperature {word} ECE on average (mean gain "
                "{g:+.3f}); the mean transfer gap to the oracle is {gap:.3f}.", g=float(shifted["gain"].mean()),
                word=chapter.direction(float(shifted["gain"].mean()), "lowers", "raises", "leaves unchanged"),
                gap=float(shifted["transfer_gap"].mean()))

# %% [markdown]
# ### Per visual factor: which shifts break the ID temperature?

# %%
z, y = logits[("base", "ensemble", seed0)]["lab-factors"]
pf = C.per_group_ece(z, y, factor_of_image, t_base)
ch.save(pf, "lab_factor_ece")
pl = pf.melt(id_vars=["group"], value_vars=["ece_none", "ece_id"], var_name="scaling", value_name="ece")
pl["scaling"] = pl["scaling"].map({"ece_none": C.SCALING_LABELS["none"], "ece_id": C.SCALING_LABELS["id"]})
fig, ax = plt.subplots(figsize=(8.5, 3.6))
sns.barplot(data=pl, x="group", y="ece", hue="scaling", ax=ax, errorbar=None)
ax.set(xlabel="factor pushed out of range ('none' = control)", ylabel="ECE (15 bins)", title="base on lab-factors")
ax.tick_params(axis="x", rotation=35)
ax.legend(fontsize=8)
ch.figure(fig, pf, "lab_factor_ece")
plt.show()
w = pf[pf["group"] != "none"].sort_values("ece_id", ascending=False).iloc[0]
_ = chapter.finding("After ID temperature scaling, base is worst calibrated when '{f}' is out of range (ECE {e:.3f}; "
                "control {c:.3f}).", f=w["group"], e=float(w["ece_id"]),
                c=float(pf.set_index("group").loc["none", "ece_id"]) if "none" in set(pf["group"]) else float("nan"))

# %% [markdown]
# ### Explorer: reliability diagram of any recipe on any set
#
# The static figure above is the record; this picker (ipywidgets) redraws the diagram live when the
# notebook runs in Jupyter.

# %%
def show_reliability(recipe="base", set_name="lab-sketch"):
    sets_ = logits[(recipe, "ensemble", seed0)]
    t = float(cal[(cal["recipe"] == recipe) & (cal["prompts"] == "ensemble") & (cal["set"] == "lab-val")
                  & (cal["scaling"] == "id") & (cal["seed"] == seed0)]["temperature"].iloc[0])
    from clipstudy import plots

    r = C.reliability_frame({set_name: sets_[set_name]}, t)
    fig, ax = plots.reliability(r, hue="label", title=f"{recipe} on {set_name} (T_id={t:.2f})")
    plt.show()


try:
    import ipywidgets as widgets

    widgets.interact(show_reliability, recipe=widgets.Dropdown(options=list(recs["recipe"]), value="base"),
                     set_name=widgets.Dropdown(options=SETS, value="lab-sketch"))
except ImportError:
    print("ipywidgets is not installed: the explorer is unavailable (the static figures above are complete).")

# %%
ece_id = cal[(cal["set"] == "lab-val") & (cal["scaling"] == "none") & (cal["prompts"] == "ensemble")]
shift_id = tr[(tr["prompts"] == "ensemble") & tr["shifted"]].groupby(["recipe", "seed"])["ece_id"].mean().rename("value")
lab_rows = E.lab_effects(ece_id.rename(columns={"ece": "value"}), recs, "calibration", "ECE on lab-val (T=1)")
lab_rows += E.lab_effects(shift_id.reset_index(), recs, "calibration",
                          "ECE under shift with the lab-val temperature (mean of 4 sets)")
one = cal[(cal["recipe"] == "base") & (cal["set"] == "lab-val") & (cal["scaling"] == "none")].sort_values("seed")
if {"single", "ensemble"} <= set(one["prompts"]):
    pe = E.seed_image_effect(one[one["prompts"] == "single"]["ece"], one[one["prompts"] == "ensemble"]["ece"])
    lab_rows.append(E.effect("test-time prompts", "calibration", "ECE on lab-val (T=1)", pe["effect"],
                             "one template vs the 8-template ensemble (base)", "lab", n=pe["n"],
                             ci=(pe["ci_low"], pe["ci_high"])))
effect_rows += lab_rows
display(pd.DataFrame(lab_rows)[["factor", "metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
for r in lab_rows:
    chapter.finding("{comp}, {m}: {w}.", comp=r["comparison"], m=r["metric"], w=E.effect_words(r))

# %% [markdown]
# ## Live: ImageNet-fitted temperature on the real shifts

# %%
panel = chapter.live_panel(["imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a"], enabled=live)

# %%
if panel is not None and "imagenet" in panel.datasets:
    from clipstudy import datasets, zeroshot, zoo

    live_tables = []
    for m in panel.models:
        loaded = zoo.load(m, device)
        sets_ = {}
        for dname in panel.datasets:
            ds = datasets.get(dname).load(transform=loaded.preprocess)
            zs = zeroshot.run(loaded, ds, dataset_id=dname, device=device)
            sets_[dname] = (zs.logits.float().numpy(), zs.labels.numpy())
        live_tables.append(C.calibration_table(sets_, "imagenet").assign(model=m))
    live_cal = pd.concat(live_tables, ignore_index=True)
    ch.save(live_cal, "live_calibration")
    display(live_cal.pivot_table(index=["model", "set"], columns="scaling", values="ece").round(3))

# %% [markdown]
# ## What the six factors do here
#
# Each line is computed in this build (effect = treatment minus base, in ECE units: lower is better).

# %%
effects = E.effects_frame(effect_rows)
ch.save(effects, "effects")
display(Markdown(E.factor_summary(effects)))
