"""The summary (chapter 10): every factor x every axis, read from the effects.csv that each chapter wrote
in this build, with the source of each number and the reason for every empty cell.

A chapter may also write `not_measured.csv` (columns factor, axis, reason) to say why a factor has no
effect on its axis; without one, an empty cell says only that the chapter wrote no effect for it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .effects import COLUMNS, FACTORS, INTERVAL, effects_frame

SOURCE_ORDER = ("lab", "records", "live")


def read_effects(results_dir: str | Path, chapters: Iterable[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Every <results_dir>/<chapter>/effects.csv as one frame with a `chapter` column, and the problems met.

    A file that cannot be read or does not follow the effects schema is reported in the problems list
    (chapter and error), never silently dropped. `chapters` restricts which folders are read.
    """
    root = Path(results_dir)
    frames, problems = [], []
    wanted = set(chapters) if chapters is not None else None
    for path in sorted(root.glob("*/effects.csv")):
        chap = path.parent.name
        if wanted is not None and chap not in wanted:
            continue
        try:
            raw = pd.read_csv(path)
            df = effects_frame(raw) if len(raw) else pd.DataFrame(columns=COLUMNS)
        except Exception as e:  # a broken file is a named problem in the summary, not a crash
            problems.append(f"{chap}: {path.name} unreadable ({type(e).__name__}: {e})")
            continue
        if len(df):  # an empty file is known through chapters_with_effects
            frames.append(df.assign(chapter=chap))
    if not frames:
        return pd.DataFrame(columns=COLUMNS + ["chapter"]), problems
    return pd.concat(frames, ignore_index=True), problems


def read_not_measured(results_dir: str | Path) -> pd.DataFrame:
    """Every <chapter>/not_measured.csv (factor, axis, reason) with a `chapter` column."""
    frames = []
    for path in sorted(Path(results_dir).glob("*/not_measured.csv")):
        try:
            d = pd.read_csv(path)
        except Exception:
            continue
        if {"factor", "axis", "reason"} <= set(d.columns):
            frames.append(d[["factor", "axis", "reason"]].assign(chapter=path.parent.name))
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


def chapters_with_effects(results_dir: str | Path) -> set[str]:
    """The chapters that wrote an effects.csv (possibly empty) under results_dir."""
    return {p.parent.name for p in Path(results_dir).glob("*/effects.csv")}


def missing_cells(effects: pd.DataFrame, axes_by_chapter: dict[str, str | None], not_measured: pd.DataFrame | None = None,
                  problems: Sequence[str] = (), present: Iterable[str] = ()) -> pd.DataFrame:
    """Every (factor, axis) without a finite effect, and why.

    axes_by_chapter maps each expected chapter to its axis name (None when the chapter wrote no effects.csv
    in this build). Reasons, most specific first: the chapter's own not_measured.csv; the chapter wrote no
    effects.csv (not executed, or failed: see problems) or an empty one (`present` names the chapters whose
    file exists); it wrote no effect for that factor.
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
                    reason = f"{chap} measured no effect in this build (its effects.csv is empty)"
                else:
                    reason = f"{chap} wrote no effects.csv in this build (not executed, or it failed)"
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
