"""The six factors and the tidy effects table every chapter writes (chapter 10 reads them all).

An effect is "treatment minus base" of one metric on one axis, with the comparison named and the
source of evidence (lab | records | live). Contrasts here are plain differences of group means;
`matched_contrast` first matches on other tags (e.g. compare ViT with ResNet CLIPs trained on the
same data) so that records, which are observational, confound less.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import SchemaError, UnknownNameError

FACTORS: tuple[str, ...] = ("architecture", "training distribution", "training-set size", "fine-tuning",
                            "contrastive loss", "test-time prompts")
SOURCES: tuple[str, ...] = ("lab", "records", "live")
COLUMNS: list[str] = ["factor", "axis", "metric", "effect", "comparison", "source"]


def effect(factor: str, axis: str, metric: str, value: float, comparison: str, source: str) -> dict:
    """One row of the effects table; unknown factor or source names raise with the valid ones."""
    if factor not in FACTORS:
        raise UnknownNameError("factor", factor, list(FACTORS))
    if source not in SOURCES:
        raise UnknownNameError("evidence source", source, list(SOURCES))
    return dict(factor=factor, axis=axis, metric=metric, effect=float(value), comparison=comparison, source=source)


def effects_frame(rows: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """A validated effects table with exactly COLUMNS (an empty table keeps its columns)."""
    df = pd.DataFrame(list(rows) if not isinstance(rows, pd.DataFrame) else rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"effects table lacks column(s) {missing}; expected {COLUMNS}")
    bad = sorted(set(df["factor"]) - set(FACTORS))
    if bad:
        raise UnknownNameError("factor", bad[0], list(FACTORS))
    bad = sorted(set(df["source"]) - set(SOURCES))
    if bad:
        raise UnknownNameError("evidence source", bad[0], list(SOURCES))
    df = df[COLUMNS].copy()
    df["effect"] = df["effect"].astype(float)
    return df.reset_index(drop=True)


def group_contrast(frame: pd.DataFrame, column: str, treatment, base, value: str) -> dict:
    """Mean of `value` where column == treatment minus where column == base (NaN values ignored).

    Returns dict(effect, n_treatment, n_base); effect is NaN when either group is empty.
    """
    t = frame.loc[frame[column] == treatment, value].dropna()
    b = frame.loc[frame[column] == base, value].dropna()
    eff = float(t.mean() - b.mean()) if len(t) and len(b) else float("nan")
    return dict(effect=eff, n_treatment=int(len(t)), n_base=int(len(b)))


def matched_contrast(frame: pd.DataFrame, column: str, treatment, base, value: str,
                     match: Sequence[str] = ()) -> dict:
    """`group_contrast` within each stratum of `match` columns, averaged over strata that have both groups.

    With no stratum holding both groups, falls back to the unmatched contrast and says so
    (`matched` False). Returns dict(effect, n_treatment, n_base, n_strata, matched).
    """
    match = list(match)
    if match:
        diffs, nt, nb = [], 0, 0
        for _, g in frame.groupby(match, dropna=True):
            c = group_contrast(g, column, treatment, base, value)
            if c["n_treatment"] and c["n_base"]:
                diffs.append(c["effect"])
                nt, nb = nt + c["n_treatment"], nb + c["n_base"]
        if diffs:
            return dict(effect=float(np.mean(diffs)), n_treatment=nt, n_base=nb, n_strata=len(diffs), matched=True)
    c = group_contrast(frame, column, treatment, base, value)
    return dict(c, n_strata=0, matched=False)


def factor_summary(effects: pd.DataFrame, not_measured: dict[str, str] | None = None, fmt: str = "{:+.3f}") -> str:
    """Markdown list for 'What the six factors do here': each factor's computed effects, or why it
    was not measured on this axis. Every number comes from `effects`."""
    not_measured = not_measured or {}
    lines = []
    for f in FACTORS:
        rows = effects[effects["factor"] == f] if len(effects) else effects
        if len(rows):
            parts = [f"{r.metric} {fmt.format(r.effect) if np.isfinite(r.effect) else 'n/a'} "
                     f"({r.comparison}; {r.source})" for r in rows.itertuples()]
            lines.append(f"- **{f}**: " + "; ".join(parts))
        else:
            why = not_measured.get(f, "not measured on this axis in this build")
            lines.append(f"- **{f}**: not measured here: {why}")
    return "\n".join(lines)


# the lab zoo's recipe factors (clipstudy.lab.zoo.FACTORS) -> the study's six factors
LAB_FACTORS: dict[str, str] = {"architecture": "architecture", "data": "training distribution",
                               "size": "training-set size", "finetuning": "fine-tuning", "loss": "contrastive loss"}


def lab_effects(values: pd.DataFrame, recipes: pd.DataFrame, axis: str, metric: str, value: str = "value",
                base: str = "base", recipe_col: str = "recipe") -> list[dict]:
    """One effect per non-base lab recipe: its `value` minus base's, under the recipe's factor.

    `values` has one row per recipe (recipe_col, value); `recipes` is `lab.zoo.frame()` (recipe,
    factor). Recipes without a value, or whose factor is not a study factor, are skipped; no base
    value means no effects at all.
    """
    v = values.dropna(subset=[value]).drop_duplicates(recipe_col).set_index(recipe_col)[value]
    if base not in v.index:
        return []
    rows = []
    for r in recipes.itertuples(index=False):
        if r.recipe == base or r.recipe not in v.index or r.factor not in LAB_FACTORS:
            continue
        rows.append(effect(LAB_FACTORS[r.factor], axis, metric, float(v[r.recipe] - v[base]),
                           f"{r.recipe} vs {base}", "lab"))
    return rows


def recipe_contrast(table: pd.DataFrame, factors: Mapping[str, str], value: str, metric: str, axis: str, *,
                    model_col: str = "model", base: str = "base", where: Mapping[str, Any] | None = None,
                    source: str = "lab") -> pd.DataFrame:
    """Each recipe's `value` (mean over the rows matching `where`, column -> value) minus the base recipe's.

    `factors` maps recipe -> study factor; recipes without a finite value, or no base value at all, give no rows.
    """
    t = table
    for k, v in (where or {}).items():
        t = t[t[k] == v]
    per = t.groupby(model_col)[value].mean()
    if base not in per:
        return effects_frame([])
    return effects_frame([effect(fac, axis, metric, float(per[r] - per[base]), f"{r} vs {base}", source)
                          for r, fac in factors.items() if r != base and r in per and np.isfinite(per[r])])

