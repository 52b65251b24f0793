"""Chapter 10: every factor on every axis, read from the effects each chapter published in this build.

Which chapters and axes are expected comes from the axis registry (`Axis.summarised`), never from the
axis strings found in the files, so a chapter that failed still has its column and its reason. Each chapter's
effects and its reasons for unmeasured factors are read through their declarations (`core.EFFECTS`,
`core.NOT_MEASURED`). The tables (functions over frames) give the source of each number and the reason for every
empty cell; without a chapter's own reason, an empty cell says only that the chapter wrote no effect for it."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..effects import COLUMNS, INTERVAL, SOURCES, effects_frame
from .core import EFFECTS, FACTORS, NOT_MEASURED, Axis, display, register, show

AXIS = register(Axis("summary", "summary", "10_summary", summarised=False, smoke_note=(
    "This build uses the `smoke` profile: every lab effect below comes from tiny models trained for seconds on tiny "
    "sets. The table shows that the pipeline carries each number from its chapter to this summary; none of them is "
    "a finding.")))


# ---- tables: pure functions over frames and the results folder -------------------------------------

SOURCE_ORDER = ("lab", "records", "live")

# what this chapter publishes for readers: every effect of the build, the headline table, the unmeasured cells and
# the count of effects per axis and source
ALL_EFFECTS = AXIS.table("all_effects", **EFFECTS.dtypes, chapter="text")
SUMMARY_TABLE = AXIS.table("summary_table", axis="text", chapter="text", factor="text", source="text",
                           effect="float64", ci_low="float64", ci_high="float64", n="float64", n_rows="int64")
MISSING_CELLS = AXIS.table("missing_cells", chapter="text", axis="text", factor="text", reason="text")
SOURCES_PER_AXIS = AXIS.table("sources_per_axis", axis="text")


def read_effects(results_dir: str | Path, axes: Iterable[Axis] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Every expected chapter's published effects (`core.EFFECTS`) as one frame with a `chapter` column, in chapter
    order, and the problems met.

    A table that cannot be read or does not follow the effects schema is reported in the problems list (chapter and
    error), never silently dropped. `axes` restricts which chapters are read (default: the summary's `expected`).
    """
    frames, problems = [], []
    for a in (expected() if axes is None else axes):
        try:
            raw = EFFECTS.read(results_dir, a)
            if raw is None:
                continue
            df = effects_frame(raw) if len(raw) else pd.DataFrame(columns=COLUMNS)
        except Exception as e:  # a broken table is a named problem in the summary, not a crash
            problems.append(f"{a.chapter}: {EFFECTS} unreadable ({type(e).__name__}: {e})")
            continue
        if len(df):  # an empty table is known through chapters_with_effects
            frames.append(df.assign(chapter=a.chapter))
    if not frames:
        return pd.DataFrame(columns=COLUMNS + ["chapter"]), problems
    return pd.concat(frames, ignore_index=True), problems


def read_not_measured(results_dir: str | Path, axes: Iterable[Axis] | None = None) -> pd.DataFrame:
    """Every expected chapter's published reasons for the factors it did not measure (`core.NOT_MEASURED`), with a
    `chapter` column."""
    frames = []
    for a in (expected() if axes is None else axes):
        try:
            d = NOT_MEASURED.read(results_dir, a)
        except Exception:  # noqa: BLE001: an unreadable table gives no reasons; the cell says the chapter wrote none
            d = None
        if d is not None:
            frames.append(d[["factor", "axis", "reason"]].assign(chapter=a.chapter))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["factor", "axis", "reason",
                                                                                      "chapter"])


def headline(effects: pd.DataFrame, sources: Sequence[str] = SOURCE_ORDER) -> pd.DataFrame:
    """One effect per (factor, axis, source): the first finite row in file order (chapters write their
    headline metric first). Columns: factor, axis, source, metric, effect, n, ci_low, ci_high (NaN where
    the chapter gave no interval), comparison, chapter, n_rows (how many effects that cell holds in all)."""
    e = effects[np.isfinite(pd.to_numeric(effects["effect"], errors="coerce"))]
    rows = []
    for (f, a, s), g in e.groupby(["factor", "axis", "source"], sort=False):
        first = g.iloc[0]
        rows.append(dict(factor=f, axis=a, source=s, metric=first["metric"], effect=float(first["effect"]),
                         **{k: float(first.get(k, np.nan)) for k in INTERVAL},
                         comparison=first["comparison"], chapter=first.get("chapter", ""), n_rows=len(g)))
    out = pd.DataFrame(rows, columns=["factor", "axis", "source", "metric", "effect", *INTERVAL, "comparison",
                                      "chapter", "n_rows"])
    order = {s: i for i, s in enumerate(sources)}
    return out.sort_values(["factor", "axis", "source"], key=lambda c: c.map(order) if c.name == "source" else c,
                           ignore_index=True)


def grid(heads: pd.DataFrame, axes: Sequence[str], source: str | None = None) -> pd.DataFrame:
    """factor x axis table of headline effects (of one source, or the first available source per cell in
    SOURCE_ORDER); NaN where nothing was measured."""
    h = heads if source is None else heads[heads["source"] == source]
    order = {s: i for i, s in enumerate(SOURCE_ORDER)}
    h = h.assign(_o=h["source"].map(order)).sort_values("_o").drop_duplicates(["factor", "axis"])
    g = h.pivot_table(index="factor", columns="axis", values="effect", aggfunc="first")
    return g.reindex(index=list(FACTORS), columns=list(axes))


def chapters_with_effects(results_dir: str | Path, axes: Iterable[Axis] | None = None) -> set[str]:
    """The chapters that published an effects table (possibly empty) under results_dir."""
    return {a.chapter for a in (expected() if axes is None else axes) if EFFECTS.path(results_dir, a).is_file()}


def missing_cells(effects: pd.DataFrame, axes_by_chapter: dict[str, str | None], not_measured: pd.DataFrame | None = None,
                  problems: Sequence[str] = (), present: Iterable[str] = ()) -> pd.DataFrame:
    """Every (factor, axis) without a finite effect, and why.

    axes_by_chapter maps each expected chapter to its axis name (None when the chapter published no effects
    in this build). Reasons, most specific first: the chapter's own reason (`core.NOT_MEASURED`); the chapter
    published no effects table (not executed, or failed: see problems) or an empty one (`present` names the
    chapters whose table exists); it wrote no effect for that factor.
    """
    present = set(present)
    e = effects[np.isfinite(pd.to_numeric(effects["effect"], errors="coerce"))] if len(effects) else effects
    have = set(zip(e["factor"], e["axis"])) if len(e) else set()
    nm = not_measured if not_measured is not None else pd.DataFrame(columns=["factor", "axis", "reason"])
    why = {(r.factor, r.axis): r.reason for r in nm.itertuples()}
    rows = []
    for chap, axis in axes_by_chapter.items():
        for f in FACTORS:
            if axis is None:
                bad = [p for p in problems if p.startswith(chap)]
                if bad:
                    reason = bad[0]
                elif chap in present:
                    reason = f"{chap} measured no effect in this build (its effects table is empty)"
                else:
                    reason = f"{chap} published no effects table in this build (not executed, or it failed)"
                rows.append(dict(chapter=chap, axis="(unknown)", factor=f, reason=reason))
            elif (f, axis) not in have:
                rows.append(dict(chapter=chap, axis=axis, factor=f,
                                 reason=why.get((f, axis), f"{chap} wrote no effect for this factor")))
    return pd.DataFrame(rows, columns=["chapter", "axis", "factor", "reason"])


def chapter_axes(effects: pd.DataFrame, expected: Iterable[str]) -> dict[str, str | None]:
    """Each expected chapter's axis name as written in its effects (the most common one), or None."""
    out: dict[str, str | None] = {}
    for chap in expected:
        a = effects.loc[effects["chapter"] == chap, "axis"] if len(effects) else pd.Series(dtype=object)
        out[chap] = a.mode().iloc[0] if len(a) else None
    return out


def expected() -> list:
    """The axes the summary has a column for, in chapter order."""
    from . import all_axes

    return [a for a in all_axes() if a.summarised]


def read(ch: chapter.Chapter) -> dict:
    """Every expected chapter's effects, the problems met reading them, and each chapter's axis (None: no rows)."""
    axes = expected()
    eff, problems = read_effects(ch.results_dir, axes)
    wrote = set(eff["chapter"]) if len(eff) else set()
    axes_by_chapter = {a.chapter: (a.name if a.chapter in wrote else None) for a in axes}
    ch.publish(ALL_EFFECTS, eff)
    for p in problems:
        chapter.notice("Unreadable effects file", p)
    print(f"{len(eff)} effect rows from {eff['chapter'].nunique() if len(eff) else 0} of {len(axes)} chapters")
    if not (int((eff["source"] == "records").sum()) if len(eff) else 0):
        chapter.notice("No records evidence", "No chapter wrote an effect from the published records in this build: "
                       "the records are missing. Run `clipstudy fetch records` and rebuild the book.")
    # every expected chapter gets a column; one that wrote no effects is named by its chapter
    axes_ = list(dict.fromkeys(a if a is not None else f"{c[3:]} (no effects)" for c, a in axes_by_chapter.items()))
    return dict(eff=eff, problems=problems, axes_by_chapter=axes_by_chapter, heads=headline(eff), axes=axes_,
                present=chapters_with_effects(ch.results_dir, axes))


def table(ch: chapter.Chapter, s: dict) -> pd.DataFrame:
    """One headline effect per (factor, axis, source), grouped by axis in chapter order: one table per axis."""
    heads = s["heads"]
    cols = ["factor", "source", "effect", "ci_low", "ci_high", "n", "metric", "comparison", "n_rows"]
    t = ch.publish(SUMMARY_TABLE, heads[["axis", "chapter", *cols]].sort_values(["chapter", "factor", "source"],
                                                                              kind="stable"))
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
    miss = ch.publish(MISSING_CELLS, missing_cells(s["eff"], s["axes_by_chapter"], read_not_measured(ch.results_dir),
                                                   s["problems"], s["present"]))
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
    ch.publish(SOURCES_PER_AXIS, per.reset_index())
    display(per)
