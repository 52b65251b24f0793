"""The paper's claims as declarations, and the evidence each axis gives them.

A claim is declared once: the paper's, as `../shared/paper_claims.csv` words them, in `clipstudy/claims.csv` (id,
axis, factor, claim, effect, expected, source, and what is measured: its `rule`, its `metric` and, per source, the
primary contrast and its unit of replication); a plugin's with `claim(...)`. The claims page reads them through
`listing()` and never repeats a sentence.

The evidence of a claim lives in the axis module whose chapter publishes the tables it reads, registered with
`@evidence("C4")`. An evidence function takes a results folder (and an optional records root) and returns rows
(`row`, `result_row`) with a `role`:

- `primary`: the declared effect; the source's verdict comes from it alone;
- `family`: one contrast of a declared family ("families differ"), judged together with Holm's correction;
- `secondary`: shown beside the primary, never judged.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from ..effects import seed_image_effect
from ..errors import ClipstudyError, UnknownNameError
from ..registry import Registry
from .core import EFFECTS, Axis

SOURCES = ("records", "lab", "live")
ROLES = ("primary", "family", "secondary")
COLUMNS = ["id", "source", "role", "effect", "n", "unit", "ci_low", "ci_high", "p", "measured", "note", "caveat"]
CLAIMS_CSV = Path(__file__).resolve().parents[1] / "claims.csv"


# ---- claims ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """One claim to judge: the paper's words (id, axis, factor, claim, effect, expected, source) and what is
    measured (rule: positive, negative, differ or near zero; metric; each source's primary contrast and unit)."""

    id: str
    axis: str
    factor: str
    claim: str
    effect: str
    expected: str
    source: str
    rule: str
    metric: str
    records_primary: str = ""
    records_unit: str = ""
    lab_primary: str = ""
    lab_unit: str = ""
    live_primary: str = ""
    live_unit: str = ""


CLAIM_COLUMNS = [f.name for f in fields(Claim)]
RULES = ("positive", "negative", "differ", "near zero")
DECLARED: Registry[Claim] = Registry("claim")  # claims declared outside claims.csv (plugins)


def claim(**declared: str) -> Claim:
    """Declare a claim outside `clipstudy/claims.csv` (a plugin's): the fields of `Claim`. Its evidence is a
    function registered with `@evidence(id)`; the claims page judges it with the others."""
    c = Claim(**declared)
    if c.rule not in RULES:
        raise UnknownNameError("claim rule", c.rule, list(RULES))
    if c.id in set(_builtin()["id"]):
        raise ClipstudyError(f"claim {c.id!r} is already declared in {CLAIMS_CSV.name}")
    DECLARED.register(c.id, c, replace=True)
    return c


def _builtin() -> pd.DataFrame:
    return pd.read_csv(CLAIMS_CSV, keep_default_na=False, dtype=str)


def listing() -> pd.DataFrame:
    """Every declared claim (claims.csv, then those declared with `claim`), one row each, the `Claim` columns."""
    extra = pd.DataFrame([c.__dict__ for c in DECLARED.registered()], columns=CLAIM_COLUMNS)
    return pd.concat([_builtin()[CLAIM_COLUMNS], extra], ignore_index=True)


def rule_of(cid: str) -> str:
    """The verdict rule of a declared claim."""
    found = listing().set_index("id")["rule"]
    if cid not in found.index:
        raise UnknownNameError("claim", cid, list(found.index))
    return str(found[cid])


# ---- evidence functions ---------------------------------------------------------------------------

Evidence = Callable[[Path, "str | Path | None"], "list[dict]"]
EVIDENCE: dict[str, dict[str, Evidence]] = {}  # claim id -> {function's qualified name: function}


def evidence(*ids: str) -> Callable[[Evidence], Evidence]:
    """Register a function as evidence for claims `ids`; it returns rows with the COLUMNS (id added when judged).
    A module imported again registers its functions again in their place."""
    def wrap(fn: Evidence) -> Evidence:
        for i in ids:
            EVIDENCE.setdefault(i, {})[f"{fn.__module__}.{fn.__qualname__}"] = fn
        return fn
    return wrap


def functions(cid: str) -> list[Evidence]:
    """The evidence functions of one claim, in registration order."""
    return list(EVIDENCE.get(cid, {}).values())


def row(source: str, measured: str, effect: float = np.nan, n: float = np.nan, ci: tuple = (np.nan, np.nan),
        note: str = "", *, role: str = "primary", unit: str = "", p: float = np.nan, caveat: str = "") -> dict:
    """One evidence row: what `source` measured, its effect, n and unit, 95% interval and p, and why not (`note`)."""
    if role not in ROLES:
        raise UnknownNameError("evidence role", role, list(ROLES))
    return dict(source=source, role=role, effect=float(effect), n=float(n), unit=unit, ci_low=float(ci[0]),
                ci_high=float(ci[1]), p=float(p), measured=measured, note=note, caveat=caveat)


def result_row(source: str, measured: str, res: dict, **kw: Any) -> dict:
    """A row from a result dict (effect, n, ci_low, ci_high and optionally p, unit, note, caveat, measured)."""
    for k in ("unit", "note", "caveat"):
        if k in res and k not in kw and isinstance(res[k], str):
            kw[k] = res[k]
    return row(source, res.get("measured", measured) or measured, res.get("effect", np.nan), res.get("n", np.nan),
               (res.get("ci_low", np.nan), res.get("ci_high", np.nan)), p=res.get("p", np.nan), **kw)


def effect_rows(results: Path, axis: Axis, factor: str, metric_prefix: str, source: str) -> pd.DataFrame:
    """The rows of an axis' published effects on one factor and source whose metric starts with `metric_prefix`."""
    e = EFFECTS.read(results, axis)
    if e is None or e.empty:
        return pd.DataFrame(columns=[c for c, _ in EFFECTS.columns])
    return e[(e["factor"] == factor) & (e["source"] == source) & e["metric"].str.startswith(metric_prefix)]


def from_effects(source: str, results: Path, axis: Axis, factor: str, metric: str, unit: str, *,
                 comparison: str | None = None, role: str = "primary") -> list[dict]:
    """Rows of an axis' effects table as evidence: the first matching row as the primary, or every matching row as
    a family (`role='family'`)."""
    rows = effect_rows(results, axis, factor, metric, source)
    if comparison is not None and len(rows):
        rows = rows[rows["comparison"].str.startswith(comparison)]
    if rows.empty:
        return []
    pick = rows if role == "family" else rows.iloc[:1]
    return [row(source, f"{r['metric']}: {r['comparison']}", r["effect"], r["n"], (r["ci_low"], r["ci_high"]),
                role=role, unit=unit, p=r["p"]) for _, r in pick.iterrows()]


def lab_seed_contrast(values: pd.DataFrame, treatment: str, base: str, value: str = "value") -> dict:
    """treatment minus base over the seeds of each (`values`: recipe, seed, value), Welch t over seeds."""
    t = values[values["recipe"] == treatment].sort_values("seed")[value].to_numpy(float)
    b = values[values["recipe"] == base].sort_values("seed")[value].to_numpy(float)
    return seed_image_effect(t, b)


def rows_of(ids: Iterable[str], results: Path, records_root: Any = None) -> list[dict]:
    """Every evidence row of the claims `ids`, each with its claim id."""
    out = []
    for cid in ids:
        for fn in functions(cid):
            out += [dict(r, id=r.get("id", cid)) for r in fn(results, records_root)]
    return out
