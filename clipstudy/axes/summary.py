"""Chapter 10: every factor on every axis, read from the effects.csv each chapter wrote in this build.

Which chapters and axes are expected comes from the axis registry (`Axis.summarised`), never from the
axis strings found in the files, so a chapter that failed still has its column and its reason."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..analysis import summary
from ..analysis.effects import SOURCES
from .core import FACTORS, Axis, display, register, show

AXIS = register(Axis("summary", "summary", "10_summary", summarised=False, smoke_note=(
    "This build uses the `smoke` profile: every lab effect below comes from tiny models trained for seconds on tiny "
    "sets. The table shows that the pipeline carries each number from its chapter to this summary; none of them is "
    "a finding.")))


def expected() -> list:
    """The axes the summary has a column for, in chapter order."""
    from . import all_axes

    return [a for a in all_axes() if a.summarised]


def read(ch: chapter.Chapter) -> dict:
    """Every expected chapter's effects, the problems met reading them, and each chapter's axis (None: no rows)."""
    axes = expected()
    eff, problems = summary.read_effects(ch.results_dir)
    eff = eff[eff["chapter"].isin([a.chapter for a in axes])] if len(eff) else eff
    wrote = set(eff["chapter"]) if len(eff) else set()
    axes_by_chapter = {a.chapter: (a.name if a.chapter in wrote else None) for a in axes}
    ch.save(eff, "all_effects")
    for p in problems:
        chapter.notice("Unreadable effects file", p)
    print(f"{len(eff)} effect rows from {eff['chapter'].nunique() if len(eff) else 0} of {len(axes)} chapters")
    if not (int((eff["source"] == "records").sum()) if len(eff) else 0):
        chapter.notice("No records evidence", "No chapter wrote an effect from the published records in this build: "
                       "the records are missing. Run `clipstudy fetch records` and rebuild the book.")
    # every expected chapter gets a column; one that wrote no effects is named by its chapter
    axes_ = list(dict.fromkeys(a if a is not None else f"{c[3:]} (no effects)" for c, a in axes_by_chapter.items()))
    return dict(eff=eff, problems=problems, axes_by_chapter=axes_by_chapter, heads=summary.headline(eff), axes=axes_,
                present=summary.chapters_with_effects(ch.results_dir))


def table(ch: chapter.Chapter, s: dict) -> pd.DataFrame:
    """One headline effect per (factor, axis, source), grouped by axis in chapter order: one table per axis."""
    heads = s["heads"]
    cols = ["factor", "source", "effect", "ci_low", "ci_high", "n", "metric", "comparison", "n_rows"]
    t = ch.save(heads[["axis", "chapter", *cols]].sort_values(["chapter", "factor", "source"], kind="stable"),
                "summary_table")
    for (_, axis_name), g in t.groupby(["chapter", "axis"], sort=True):
        chapter.heading(axis_name)
        display(g[cols])
    return t


def heatmap(ch: chapter.Chapter, s: dict) -> None:
    """The factor x axis heatmap of headline effects, and how much of it this build measured."""
    heads, axes = s["heads"], s["axes"]
    if not len(heads):
        chapter.notice("No effects", "No chapter wrote an effects table in this build; run the chapters first "
                       "(`clipstudy build`), then this one.")
        return
    fig, ax, long = plots.summary_heatmap(heads, axes)
    ch.figure(fig, long, "summary_heatmap")
    show()
    n_cells, n_filled = len(FACTORS) * len(axes), int(np.isfinite(long["effect"]).sum())
    chapter.finding("This build measured {k:.0f} of the {n:.0f} factor × axis cells ({frac:.3f}); {s:.0f} cells have "
                    "evidence from more than one source, and {z:.0f} headline effects have an interval that covers 0.",
                    k=n_filled, n=n_cells, frac=n_filled / n_cells,
                    s=int((heads.groupby(["factor", "axis"])["source"].nunique() > 1).sum()),
                    z=int(long["no_detectable_effect"].sum()))


def missing(ch: chapter.Chapter, s: dict) -> pd.DataFrame:
    """Every unmeasured cell and why (the chapter's own reason first)."""
    miss = ch.save(summary.missing_cells(s["eff"], s["axes_by_chapter"], summary.read_not_measured(ch.results_dir),
                                         s["problems"], s["present"]), "missing_cells")
    if len(miss):
        display(miss)
    else:
        print("Every factor was measured on every axis in this build.")
    return miss


def sources(ch: chapter.Chapter, s: dict) -> None:
    """How many effects each axis holds from each source."""
    eff = s["eff"]
    if not len(eff):
        return
    per = eff.assign(measured=np.isfinite(eff["effect"])).groupby(["axis", "source"])["measured"].sum().unstack(
        fill_value=0)
    per = per.reindex(columns=[x for x in SOURCES if x in per.columns])
    ch.save(per.reset_index(), "sources_per_axis")
    display(per)
