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
# # Summary: every factor on every axis
#
# Each chapter ends with "What the six factors do here" and writes its effects to
# `book/results/<chapter>/effects.csv`: one row per measured effect, **treatment minus base** on one
# metric, with the comparison named and the source of the evidence (**lab**: a causal ablation in the
# rendered world; **records**: an observational contrast between groups of published real models;
# **live**: real checkpoints on real data). This chapter reads every one of those files produced in
# this build; it computes nothing new, and a cell it cannot fill is listed with the reason.

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
from IPython.display import display

from clipstudy import book, chapter, plots
from clipstudy.analysis import effects as E
from clipstudy.analysis import summary

ch = chapter.start("10_summary", results_dir, profile, data_root=data_root,
                   smoke_note=("This build uses the `smoke` profile: every lab effect below comes from tiny "
                   "models trained for seconds on tiny sets. The table shows that the pipeline carries each number "
                   "from its chapter to this summary; none of them is a finding."))

# %%
expected = [p.stem for p in book.chapters() if p.stem[:2] not in ("01", "10", "11")]
eff, problems = summary.read_effects(results_dir)
eff = eff[eff["chapter"].isin(expected)] if len(eff) else eff
present = summary.chapters_with_effects(results_dir)
axes_by_chapter = summary.chapter_axes(eff, expected)
ch.save(eff, "all_effects")
for p in problems:
    chapter.notice("Unreadable effects file", p)
print(f"{len(eff)} effect rows from {eff['chapter'].nunique() if len(eff) else 0} of {len(expected)} chapters")
n_records = int((eff["source"] == "records").sum()) if len(eff) else 0
if not n_records:
    chapter.notice("No records evidence", "No chapter wrote an effect from the published records in this build: "
                   "the records are missing. Run `clipstudy fetch records` and rebuild the book.")

# %% [markdown]
# ## The table
#
# One row per (factor, axis, source): the chapter's headline effect for that cell (the first effect the
# chapter wrote for it; `n_rows` says how many it wrote in all; `all_effects.csv` has every row). Effects
# are in the units of their metric (accuracy, AUROC, recall, ER: fractions). Records effects come with
# `n` (models or model pairs) and a 95% bootstrap interval over models (`ci_low`, `ci_high`); a lab
# effect is one trained contrast and has none.

# %%
heads = summary.headline(eff)
# every expected chapter gets a column; one that wrote no effects is named by its chapter
axes = list(dict.fromkeys(a if a is not None else f"{c[3:]} (no effects)" for c, a in axes_by_chapter.items()))
table = heads.round({"effect": 4, "ci_low": 4, "ci_high": 4})[["factor", "axis", "source", "effect", "n", "ci_low",
                                                               "ci_high", "metric", "comparison", "chapter", "n_rows"]]
ch.save(table, "summary_table")
display(table)

# %% [markdown]
# ## The heatmap
#
# Each cell shows the headline effect of one factor on one axis. It comes from the lab when the lab
# measured it, else from the records, else from live models; the letter under the number says which
# (L, R or V). Each column has its own colour scale, because the axes use different metrics: compare
# colours within a column. **ns** marks an effect whose 95% interval covers 0, which this book reports as
# no detectable effect; those cells are pale. Grey cells were not measured (see below).

# %%
if len(heads):
    fig, ax, long = plots.summary_heatmap(heads, axes)
    ch.figure(fig, long, "summary_heatmap")
    plt.show()
    g = long.pivot_table(index="factor", columns="axis", values="effect", aggfunc="first")
    n_cells, n_filled = len(E.FACTORS) * len(axes), int(np.isfinite(long["effect"]).sum())
    chapter.finding("This build measured {k:.0f} of the {n:.0f} factor × axis cells ({frac:.3f}); {s:.0f} cells have "
                    "evidence from more than one source, and {z:.0f} headline effects have an interval that covers 0.",
                    k=n_filled, n=n_cells, frac=n_filled / n_cells,
                    s=int((heads.groupby(["factor", "axis"])["source"].nunique() > 1).sum()),
                    z=int(long["no_detectable_effect"].sum()))
else:
    chapter.notice("No effects", "No chapter wrote an effects table in this build; run the chapters first "
                   "(`clipstudy build`), then this one.")

# %% [markdown]
# ## Missing cells, and why
#
# Reasons come from the chapters themselves (`not_measured.csv`, where a chapter wrote one), else from
# what this build left behind: a chapter that did not run or failed, or one that wrote no effect for a
# factor.

# %%
miss = summary.missing_cells(eff, axes_by_chapter, summary.read_not_measured(results_dir), problems, present)
ch.save(miss, "missing_cells")
if len(miss):
    display(miss)
else:
    print("Every factor was measured on every axis in this build.")

# %% [markdown]
# ## Sources per axis
#
# How many effects each axis holds from each source (lab, records, live) in this build.

# %%
if len(eff):
    per = eff.assign(measured=np.isfinite(eff["effect"])).groupby(["axis", "source"])["measured"].sum().unstack(
        fill_value=0)
    per = per.reindex(columns=[s for s in E.SOURCES if s in per.columns])
    ch.save(per.reset_index(), "sources_per_axis")
    display(per)
