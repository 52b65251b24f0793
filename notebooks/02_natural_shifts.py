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
from clipstudy.analysis import shifts

pd.set_option("display.max_colwidth", 140)
ch = chapter.start("02_natural_shifts", results_dir, profile, data_root=data_root, lab_profile=lab_profile, n_eval=n_eval, live=live)
effect_rows = []

# %% [markdown]
# ## Records: zero-shot CLIPs, fine-tuned CLIPs and ImageNet models
#
# Points come from open_clip's results table (zero-shot CLIPs) and timm's results (ImageNet models
# and ImageNet-fine-tuned CLIPs). The baseline line of each shift is fitted over timm's ImageNet
# models only. ImageNet-A and -R are scored on their 200-class subsets by both sources.

# %%
ok = chapter.records_ready()  # else one "Records missing" notice
if ok:
    from clipstudy import records

    points = records.natural_shift_er()
    ch.save(points, "records_er_points")
    display(points.groupby("group")["model"].nunique().rename("models").to_frame())

# %%
if ok:
    from clipstudy import plots
    from clipstudy.metrics import LogitFit

    order = [s for s in records.SHIFTS if s in set(points["dataset"])]
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.6))
    axes = axes.ravel()
    for ax in axes[len(order):]:
        ax.axis("off")
    for ax, s in zip(axes, order):
        d = points[points["dataset"] == s]
        r = d.iloc[0]
        fit = LogitFit(r["fit_slope"], r["fit_intercept"], int(r["fit_n"]), r["fit_r2"])
        plots.effective_robustness(d, fit=fit, hue="group", ax=ax, ylabel=f"{s} top-1 (%)",
                                   title=f"{s} (line: {int(r['fit_n'])} ImageNet models)")
        shifts.logit_ticks(ax)
        if ax is not axes[0]:
            ax.get_legend().remove()
    fig.tight_layout()
    ch.figure(fig, points[["model", "group", "dataset", "id_acc", "ood_acc", "predicted", "er"]], "records_er_scatter")
    plt.show()

# %%
if ok:
    table = shifts.shift_group_table(points)
    ch.save(table, "records_er_by_group")
    display(table.pivot(index="dataset", columns="group", values="er_mean").round(3))
    mean = shifts.mean_er(points)
    by_group = mean.groupby("group")["er"].mean()
    chapter.finding("Averaged over V2, Sketch, R and A, zero-shot CLIPs have mean effective robustness {zs:.3f}, "
                    "ImageNet-fine-tuned CLIPs {ft:.3f} and ImageNet models {inet:.3f} (accuracy as a fraction).",
                    zs=by_group.get("zero-shot CLIP", np.nan), ft=by_group.get("CLIP fine-tuned", np.nan),
                    inet=by_group.get("ImageNet model", np.nan))
    v2 = table[(table["dataset"] == "imagenet-v2") & (table["group"] == "zero-shot CLIP")]["er_mean"]
    r_ = table[(table["dataset"] == "imagenet-r") & (table["group"] == "zero-shot CLIP")]["er_mean"]
    if len(v2) and len(r_):
        chapter.finding("For zero-shot CLIPs the gain is {word} on ImageNet-R (mean ER {r:.3f}) than on ImageNet-V2 "
                        "({v2:.3f}), the shift that changes least.",
                        word=chapter.direction(float(r_.iloc[0] - v2.iloc[0]), "larger", "smaller"),
                        r=float(r_.iloc[0]), v2=float(v2.iloc[0]))

# %% [markdown]
# ### ER of zero-shot CLIPs by training-set size, architecture and loss
#
# Each point is one zero-shot CLIP's ER averaged over the four shifts. These are observational
# records: training sets, sizes and architectures vary together, so the contrasts below are
# matched on the other tags where the records allow it.

# %%
if ok:
    long = shifts.er_by_tags(mean, ("data_scale", "family", "loss"))
    g = sns.catplot(data=long, x="value", y="er", col="tag", kind="box", sharex=False, height=3.6, aspect=1.1,
                    color="C0", fliersize=2)
    for ax in g.axes.flat:
        ax.set(xlabel="", ylabel="ER, mean over 4 shifts (fraction)")
        ax.axhline(0, color="0.4", lw=0.8, ls="--")
        ax.tick_params(axis="x", rotation=30)
    g.set_titles("{col_name}")
    ch.figure(g.figure, long, "records_er_by_tag")
    plt.show()
    by_data = records.er_summary(points[points["group"] == "zero-shot CLIP"], by="data")
    ch.save(by_data, "records_er_by_data")

# %%
if ok:
    rec = shifts.records_effects(points)
    effect_rows += rec
    display(pd.DataFrame(rec)[["factor", "effect", "comparison"]].round(3))
    ft = next(r for r in rec if r["factor"] == "fine-tuning")
    chapter.finding("Fine-tuning CLIPs on ImageNet changes their mean ER by {e:+.3f} against zero-shot CLIPs of the "
                    "same family and data: effective robustness is {word}.", e=ft["effect"],
                    word=chapter.direction(ft["effect"], "gained", "lost"))

# %%
if ok:
    on = points.pipe(lambda d: d[d["group"] == "zero-shot CLIP"])
    oc = records.load("open_clip")
    obj = oc[(oc["metric"] == "acc1") & oc["dataset"].isin(["imagenet", "objectnet"])].pivot_table(
        index="model", columns="dataset", values="value", aggfunc="first").dropna()
    if len(obj) > 2:
        from scipy import stats

        rho = stats.spearmanr(obj["imagenet"], obj["objectnet"]).statistic
        ch.save(obj.reset_index(), "records_objectnet")
        chapter.finding("ObjectNet has no ImageNet-model baseline in these records, so no ER is computed for it; over "
                        "{n:.0f} zero-shot CLIPs its accuracy tracks ImageNet accuracy with Spearman rho {rho:.3f}.",
                        n=len(obj), rho=rho)

# %% [markdown]
# ### A controlled contrast between real models: LAION's scaling-law grid
#
# The records above are observational: CLIPs that differ in data also differ in architecture, length of
# training and recipe. Cherti et al. (2023) trained ViT-B/32, B/16 and L/14 on LAION-80M, -400M and -2B
# for 3B, 13B and 34B samples seen, with one recipe. Two neighbouring cells of this grid differ in **one**
# factor, so their difference is a controlled contrast between real, separately trained models (paired
# over the other two axes: 9 pairs per step). ER is measured against the same ImageNet-model line as above.

# %%
grid_ok = chapter.records_ready("scaling_laws_openclip", "timm")  # else one notice naming the fetch command
if grid_ok:
    from clipstudy import plots, records
    from clipstudy.analysis import scaling_grid

    grid = records.scaling.grid_er(records.scaling.grid(records.load("scaling_laws_openclip")), records.load("timm"))
    ch.save(grid, "records_laion_grid")
    fig1, _ = plots.grid_lines(grid, "imagenet", "ImageNet zero-shot top-1", title="LAION grid: ImageNet accuracy")
    ch.figure(fig1, grid, "records_laion_grid_imagenet")
    plt.show()
    fig2, _ = plots.grid_lines(grid, "er", "ER, mean over V2, Sketch, R, A", title="LAION grid: effective robustness")
    ch.figure(fig2, grid, "records_laion_grid_er")
    plt.show()
    grid_rows = (scaling_grid.grid_effects(grid, "imagenet", "ImageNet top-1 (LAION grid)", "natural shifts")
                 + scaling_grid.grid_effects(grid, "er", "effective robustness (mean over shifts, LAION grid)",
                                             "natural shifts"))
    effect_rows += grid_rows
    g = E.effects_frame(grid_rows)
    display(g[["factor", "metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(4))
    for r in g[g["metric"].str.startswith("effective")].to_dict("records"):
        chapter.finding("{comp}: ER changes by {e:+.4f} ({ci}): {word}.", comp=r["comparison"], e=r["effect"],
                        ci=E.interval_text(r, "{:+.4f}"), word=E.direction_words(r, "more robust", "less robust"))

# %% [markdown]
# ## Lab: shifts with one known cause each
#
# In the lab, `lab-val` is the in-distribution test set. `lab-v2` draws fresh scenes from the same
# distribution (the lab's ImageNet-V2); `lab-sketch` and `lab-silhouette` render the *same* scenes as
# `lab-val` as edge drawings and filled silhouettes, so only the style changes. Every lab recipe
# differs from `base` in one factor, so the difference of its ER from `base` is that factor's effect.

# %%
from clipstudy.analysis import lab_eval
from clipstudy.config import resolve_device

dev = resolve_device(device)
recs = lab_eval.recipes(lab_profile)
lab_seeds = lab_eval.seeds(lab_profile)
lab_sets = ["lab-val", *shifts.LAB_SHIFTS]
acc = lab_eval.accuracy_table(recs["recipe"], lab_sets, n=n_eval, profile=lab_profile, device=dev, seeds_="all",
                              per_image=True)
acc_single = lab_eval.accuracy_table(["base"], lab_sets, n=n_eval, profile=lab_profile, prompts="single", device=dev,
                                     seeds_="all", per_image=True)
acc_all = pd.concat([acc.assign(model=acc["recipe"] + "#" + acc["seed"].astype(str)),
                     acc_single.assign(model="base, one prompt#" + acc_single["seed"].astype(str),
                                       recipe="base, one prompt")], ignore_index=True)
ch.save(acc_all.drop(columns="correct"), "lab_accuracy")
print(f"{len(lab_seeds)} training seeds per recipe; mean top-1 over seeds:")
display(acc_all.pivot_table(index="recipe", columns="dataset", values="accuracy", aggfunc="mean").round(3))

# %% [markdown]
# **Comparable quality.** A recipe stands for its factor only if it was trained to a quality comparable with
# `base`: its mean lab-val accuracy over seeds must lie within 15% (relative) of base's. The ViT tower learns
# more slowly than the ResNet at this size, so `arch-vit` trains for more steps on the same images (its recipe
# says how many). Any recipe still below the bar is flagged in every effect below.

# %%
par = lab_eval.parity(acc)
ch.save(par, "lab_parity")
display(par.round(3))
under = par[par["undertrained"]]
flags = {r: f"undertrained: lab-val {a:.3f} vs base {a - g:.3f}" for r, a, g in
         zip(under["recipe"], under["accuracy"], under["gap"])}
pv = par.set_index("recipe")
if {"base", "arch-vit"} <= set(pv.index):
    _ = chapter.finding("Mean lab-val top-1 over {k} seeds: base {b:.3f}, arch-vit {v:.3f} (gap {g:+.3f}); {n} recipe(s) "
                        "fall more than 15% below base{who}.", k=len(lab_seeds), b=float(pv.loc["base", "accuracy"]),
                        v=float(pv.loc["arch-vit", "accuracy"]), g=float(pv.loc["arch-vit", "gap"]), n=len(under),
                        who=(": " + ", ".join(under["recipe"])) if len(under) else "")

# %% [markdown]
# The lab has no population of "ImageNet models", so the line of each shift is fitted over the lab
# zoo itself (every recipe and seed, ensemble prompts). A recipe's ER is then its distance from the zoo's
# trend, and the difference between a recipe's ER and `base`'s is the causal effect of the one
# factor that recipe changes. With one template instead of the ensemble, `base` is scored against
# the same line. The prompt ensemble names none of the shifts (no "sketch", "silhouette", "background" or
# size words), and a recipe whose training world contains a tested shift (`data-diverse` renders sketches,
# silhouettes and every background) is flagged: its ER there is not transfer.

# %%
ler = shifts.lab_er(acc_all, baseline=list(acc_all.loc[acc_all["recipe"] != "base, one prompt", "model"].unique()))
ler = ler.merge(acc_all[["model", "recipe", "seed"]].drop_duplicates("model"), on="model", how="left")
ler = ler.merge(recs[["recipe", "factor"]], on="recipe", how="left")
ler["factor"] = ler["factor"].map(E.LAB_FACTORS).fillna(ler["factor"]).fillna("test-time prompts")
ler["flag"] = [lab_eval.shift_flag(r, d) for r, d in zip(ler["recipe"], ler["dataset"])]
ch.save(ler, "lab_er")
from clipstudy import plots
from clipstudy.metrics import LogitFit

fig, axes = plt.subplots(1, len(shifts.LAB_SHIFTS), figsize=(5.0 * len(shifts.LAB_SHIFTS), 4.4))
for ax, s in zip(np.atleast_1d(axes), shifts.LAB_SHIFTS):
    d = ler[ler["dataset"] == s]
    r = d.iloc[0]
    fit = LogitFit(r["fit_slope"], r["fit_intercept"], int(r["fit_n"]), np.nan) if np.isfinite(r["fit_slope"]) else None
    plots.effective_robustness(d, fit=fit, hue="factor", ax=ax, xlabel="lab-val top-1 (%)", ylabel=f"{s} top-1 (%)",
                               title=f"{s} (line: {int(r['fit_n'])} lab models)")
    for row in d[d["seed"] == lab_seeds[0]].itertuples():
        ax.annotate(row.recipe + (" *" if row.flag else ""), (shifts.logit_clip(row.id_acc), shifts.logit_clip(row.ood_acc)),
                    fontsize=6, xytext=(3, 2), textcoords="offset points")
    shifts.logit_ticks(ax)
    if ax is not np.atleast_1d(axes)[0]:
        ax.get_legend().remove()
fig.tight_layout()
ch.figure(fig, ler, "lab_er_scatter")
plt.show()
print("* the recipe trains on this shift (flagged); labels mark seed", lab_seeds[0])

# %%
boots = shifts.lab_er_replicates(acc_all, ler)
lab_mean = ler.groupby(["model", "recipe", "seed"])["er"].mean().rename("er").reset_index()
lab_mean["boot"] = [boots.get(m) for m in lab_mean["model"]]
er_flags = {r: "; ".join(sorted({f for f in ler.loc[ler["recipe"] == r, "flag"] if f})) for r in recs["recipe"]}
er_flags = {r: "; ".join(x for x in (f, flags.get(r, "")) if x) for r, f in er_flags.items()}
metric = "effective robustness (mean over lab shifts)"
rows = E.lab_seed_effects(lab_mean, recs, "natural shifts", metric, value="er",
                          flags={r: f for r, f in er_flags.items() if f})


def seed_arrays(name):
    g = lab_mean[lab_mean["recipe"] == name].sort_values("seed")
    return g["er"].to_numpy(), np.stack(g["boot"].to_list())


if {"base", "base, one prompt"} <= set(lab_mean["recipe"]):
    (tv, tb), (bv, bb) = seed_arrays("base, one prompt"), seed_arrays("base")
    pe = E.seed_image_effect(tv, bv, tb, bb)
    rows.append(E.effect("test-time prompts", "natural shifts", metric, pe["effect"],
                         "one template vs the template ensemble (base)", "lab", n=pe["n"], ci=(pe["ci_low"], pe["ci_high"])))
effect_rows += rows
lab_eff = pd.DataFrame(rows)
display(lab_eff[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(4))
fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(lab_eff) + 1.2))
yy = np.arange(len(lab_eff))
ax.errorbar(lab_eff["effect"], yy, xerr=[lab_eff["effect"] - lab_eff["ci_low"], lab_eff["ci_high"] - lab_eff["effect"]],
            fmt="o", color="C0", ecolor="0.4", capsize=3)
ax.set_yticks(yy, [c.split(" (flagged")[0] + (" *" if "flagged" in c else "") for c in lab_eff["comparison"]], fontsize=8)
ax.invert_yaxis()
ax.axvline(0, color="0.3", lw=0.8)
ax.set(xlabel="change in mean ER over lab shifts (treatment minus base), 95% CI over seeds and images", ylabel="",
       title="Lab: effect of one factor at a time on ER")
ch.figure(fig, lab_eff, "lab_effects")
plt.show()
for r in rows:
    chapter.finding("{comp}, effect on ER: {words}.", comp=r["comparison"], words=E.effect_words(r, "{:+.4f}"))

# %%
means = lab_mean.groupby("recipe")["er"].mean()
fair = means.drop([r for r in means.index if er_flags.get(r) or r == "base, one prompt"], errors="ignore")
best = fair.sort_values(ascending=False)
_ = chapter.finding("Among recipes whose training world holds none of the tested shifts, the one furthest above the "
                    "zoo's trend is '{r}' (mean ER {er:+.3f} over seeds); base sits at {b:+.3f}.",
                    r=best.index[0], er=float(best.iloc[0]), b=float(means.get("base", np.nan)))

# %% [markdown]
# ## Live: real checkpoints on ImageNet and its shifts

# %%
panel = chapter.live_panel(["imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "objectnet"],
                           enabled=live)

# %%
if panel is not None:
    from clipstudy.live import zero_shot_table

    zs_table = zero_shot_table(panel.models, panel.datasets, device=device)
    ch.save(zs_table, "live_zero_shot")
    ler = shifts.live_er(zs_table, points if ok else None)
    ch.save(ler, "live_er")
    display(ler.pivot_table(index="model", columns="dataset", values="er").round(3))
    chapter.finding("Over {n:.0f} live models and their shifts, the mean ER against the records' ImageNet-model "
                    "line is {er:.3f}.", n=ler["model"].nunique(), er=float(ler["er"].mean()))

# %% [markdown]
# ## What the six factors do here
#
# Each line is computed in this build (effect = treatment minus base; ER as a fraction of images).

# %%
effects = E.effects_frame(effect_rows)
ch.save(effects, "effects")
display(Markdown(E.factor_summary(effects, {
    "test-time prompts": "the records fix the prompts (OpenAI's 80 templates); see the lab rows when present"})))
# Training-set size rows from the LAION grid hold both steps of data size and of samples seen: the grid varies
# how much data a model sees in two ways, and both are listed, each paired and with its interval.
