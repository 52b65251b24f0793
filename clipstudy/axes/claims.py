"""Chapter 11, the claims axis: the paper's claims, each judged from one primary effect per source,
declared before it is computed.

The claims and their evidence are declared elsewhere (`axes.evidence`): each claim once, in `clipstudy/claims.csv`
(or by a plugin), and its evidence functions in the axis modules whose chapters publish the tables they read. This
module holds what judging needs: the verdict rules, `judge_results` (a results folder -> the claims table and the
evidence rows), `show` (a chapter's own claims, called at its end) and the claims page's calls (`judge`, `verdicts`,
`forest`, `audit`, `measured`).

The statistics follow DESIGN.md: the unit of replication is named and counted (one model in two record sets is
one model); a bootstrap over fewer than `MIN_UNITS` units claims no interval ("inconclusive (n too small)");
lab effects keep their seed x image interval (Student t, so a few seeds widen it). An inconclusive verdict states
the interval's half-width: no effect larger than that was detectable. A family of contrasts is judged with Holm's
correction over its contrasts.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from .. import chapter, plots, tables
from ..effects import MIN_UNITS, holm, verdict as sign_verdict
from . import evidence as ev
from .core import Axis, display, register, show as show_figure
from .evidence import COLUMNS, SOURCES, listing

AXIS = register(Axis("claims", "claims", "11_claims", summarised=False,
                     order=11, reads_all=True, part="The verdict", smoke_note=(
    "This build uses the `smoke` profile: its lab effects come from tiny models trained for seconds, so the lab "
    "verdicts below are pipeline checks, not findings.")))

# what this chapter publishes for readers: the claims table and every evidence row with its verdict
CLAIMS_TABLE = AXIS.table("claims", id="text", claim="text", records="text", lab="text", live="text", verdict="text",
                          caveat="text", words="text")
CLAIMS_EVIDENCE = AXIS.table("claims_evidence", id="text", source="text", role="text", effect="float64", n="float64",
                             unit="text", ci_low="float64", ci_high="float64", p="float64", p_holm="float64",
                             verdict="text", marginal="bool", measured="text", note="text", caveat="text")
VERDICTS = ("agrees", "disagrees", "inconclusive", "not measured")
ALPHA = 0.05
MARGINAL = 0.01  # a lab verdict whose 99% interval covers 0 (p at or above this) is marginal
BOOTSTRAP_UNITS = ("models", "model pairs", "recipes")  # units whose interval is a bootstrap over them
# the "near zero" rule (no claim of claims.csv uses it; a plugin's may): the whole interval within +-0.05
NEAR_ZERO = 0.05


def verdict(rule: str, effect: float, ci_low: float, ci_high: float) -> str:
    """agrees / disagrees / inconclusive / not measured for one effect under a claim's rule.

    positive / negative: the interval excludes 0 on the expected / the other side, else inconclusive.
    differ: agrees when the interval excludes 0 on either side, else inconclusive (no difference is never
    shown, only not detected). near zero: agrees when the whole interval lies within +-NEAR_ZERO, disagrees
    when it excludes 0, else inconclusive. No interval: not measured.
    """
    if not all(np.isfinite([effect, ci_low, ci_high])):
        return "not measured"
    if rule in ("positive", "negative"):
        return sign_verdict(effect, ci_low, ci_high, rule)
    if rule == "differ":
        return "inconclusive" if ci_low <= 0 <= ci_high else "agrees"
    if rule == "near zero":
        if -NEAR_ZERO <= ci_low and ci_high <= NEAR_ZERO:
            return "agrees"
        return "inconclusive" if ci_low <= 0 <= ci_high else "disagrees"
    raise ValueError(f"unknown rule {rule!r}")


def family_verdict(rule: str, effects: Iterable[float], p_holm: Iterable[float], alpha: float = ALPHA) -> str:
    """The verdict of a family of contrasts from their Holm-adjusted p-values.

    differ: agrees when any contrast is significant after Holm, else inconclusive. positive / negative: agrees
    when the significant contrasts all lie on the expected side, disagrees when they all lie on the other, and
    inconclusive when none is significant or they split. No finite p: not measured."""
    e, p = np.asarray(list(effects), float), np.asarray(list(p_holm), float)
    if not np.isfinite(p).any():
        return "not measured"
    sig = np.isfinite(p) & (p < alpha)
    if rule == "differ":
        return "agrees" if sig.any() else "inconclusive"
    want = {"positive": 1.0, "negative": -1.0}[rule]
    signs = set(np.sign(e[sig]) * want)
    if not signs:
        return "inconclusive"
    return "agrees" if signs == {1.0} else "disagrees" if signs == {-1.0} else "inconclusive"


def marginal(verdict_: str, p: float) -> bool:
    """A verdict at the edge of its evidence: it agrees or disagrees (its 95% interval excludes 0) but its 99%
    interval would not (0.01 <= p < 0.05, p from the same method as the interval; for a family, the Holm-adjusted
    p of its contrast)."""
    return verdict_ in ("agrees", "disagrees") and np.isfinite(p) and MARGINAL <= p < ALPHA


def overall(verdicts: dict[str, str], marginal_lab: bool = False) -> str:
    """One verdict from the sources: real models (records, live) decide when they measured the claim, the
    lab when they did not; real sources that contradict each other make it inconclusive. A marginal lab verdict
    (`marginal`) alone decides nothing: inconclusive."""
    real = [verdicts.get(s, "not measured") for s in ("records", "live")]
    real = [v for v in real if v != "not measured"]
    pool = real or [v for v in [verdicts.get("lab", "not measured")] if v != "not measured"]
    if not pool:
        return "not measured"
    if not real and marginal_lab:
        return "inconclusive"
    if "agrees" in pool and "disagrees" in pool:
        return "inconclusive"
    for v in ("agrees", "disagrees"):
        if v in pool:
            return v
    return "inconclusive"


# ---- judging -------------------------------------------------------------------------------------

def _too_small(r: pd.Series) -> bool:
    return r["unit"] in BOOTSTRAP_UNITS and np.isfinite(r["n"]) and r["n"] < MIN_UNITS


def evidence_rows(results: str | Path, ids: Iterable[str] | None = None, records_root=None) -> pd.DataFrame:
    """Every evidence row of the claims `ids` (default: all), with its per-row verdict.

    A bootstrap over fewer than MIN_UNITS units loses its interval (verdict inconclusive, caveat 'n too small');
    a family gets Holm-adjusted p-values (`p_holm`) and one verdict for all its rows (`family_verdict`)."""
    from . import all_axes

    all_axes()  # every axis module (and plugin) registers its claims' evidence at import
    results = Path(results)
    rows = ev.rows_of(list(ids) if ids is not None else list(listing()["id"]), results, records_root)
    df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    if ids is not None:
        df = df[df["id"].isin(list(ids))]
    # an evidence function registered for two claims (C5, C6) runs for each: keep its rows once
    df = df.drop_duplicates(["id", "source", "role", "measured"]).reset_index(drop=True)
    for c in ("note", "caveat", "unit", "measured"):
        df[c] = df[c].fillna("").astype(str)
    small = (df.apply(_too_small, axis=1) | df["caveat"].str.startswith("n too small")) if len(df) \
        else pd.Series(dtype=bool)
    df.loc[small, ["ci_low", "ci_high", "p"]] = np.nan
    df.loc[small, "caveat"] = [c if c else f"n too small: {int(n)} {u} (under {MIN_UNITS}, no bootstrap interval)"
                               for c, n, u in zip(df.loc[small, "caveat"], df.loc[small, "n"], df.loc[small, "unit"])]
    df["p_holm"] = np.nan
    df["verdict"] = ""
    rules = listing().set_index("id")["rule"]
    for i, r in df.iterrows():
        rule = rules[r["id"]]
        if small[i] if len(small) else False:
            df.at[i, "verdict"] = "inconclusive" if np.isfinite(r["effect"]) else "not measured"
        elif r["role"] != "family":
            df.at[i, "verdict"] = verdict(rule, r["effect"], r["ci_low"], r["ci_high"])
    fam = df[df["role"] == "family"]
    for (cid, src), g in fam.groupby(["id", "source"]):
        adj = holm(g["p"].to_numpy())
        df.loc[g.index, "p_holm"] = adj
        df.loc[g.index, "verdict"] = family_verdict(rules[cid], g["effect"], adj)
    # a lab verdict at the edge: its 95% interval excludes 0 and its 99% does not (for a family: the strongest
    # contrast's Holm p lies in [0.01, 0.05), so every contrast that decides is marginal)
    df["marginal"] = False
    lab = (df["source"] == "lab") & (df["role"] != "secondary")
    for i in df.index[lab & (df["role"] == "primary")]:
        df.at[i, "marginal"] = marginal(df.at[i, "verdict"], df.at[i, "p"])
    for _, g in df[lab & (df["role"] == "family")].groupby(["id", "source"]):
        df.loc[g.index, "marginal"] = marginal(g["verdict"].iloc[0], float(g["p_holm"].min()))
    return df


def _primary(e: pd.DataFrame) -> pd.Series | None:
    """The row a source's cell shows: its primary, or the family member with the smallest Holm p."""
    prim = e[e["role"] == "primary"]
    if len(prim):
        return prim.iloc[0]
    fam = e[e["role"] == "family"]
    if len(fam):
        return fam.loc[fam["p_holm"].fillna(2.0).idxmin()] if fam["p_holm"].notna().any() else fam.iloc[0]
    return None


def _contrast(measured: str) -> str:
    """The short name of a contrast from its description: `metric: A vs B (caveat)` or `metric, A vs B` -> `A vs B`."""
    m = re.search(r"([\w.-]+ vs [\w.-]+)", measured) or re.search(r"(\w+ minus [\w-]+)", measured)
    return m.group(1) if m else measured


def _fmt(x: float) -> str:
    return f"{x:+.3f}"


def cell(r: pd.Series | None, family: pd.DataFrame | None = None) -> str:
    """A source's cell: effect [95% interval], n and unit; a family says how many contrasts were tried and how
    many differ after Holm; an inconclusive effect says the smallest effect it could have detected."""
    if r is None or not np.isfinite(r["effect"]):
        return "—"
    unit = f"n={int(r['n'])} {r['unit']}".strip() if np.isfinite(r["n"]) else str(r["unit"])
    if np.isfinite(r["ci_low"]):
        s = f"{_fmt(r['effect'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}], {unit}"
    else:
        s = f"{_fmt(r['effect'])} (no interval), {unit}"
    if family is not None and len(family) > 1:
        k = int((family["p_holm"] < ALPHA).sum())
        shown = _contrast(r["measured"])
        s += f"; family of {len(family)} contrasts, {k} differ after Holm (shown: {shown})"
    if r["verdict"] == "inconclusive" and np.isfinite(r["ci_low"]):
        s += f"; no effect larger than ±{(r['ci_high'] - r['ci_low']) / 2:.3f} detected"
    if bool(r.get("marginal", False)):
        s += "; marginal: its 95% interval excludes 0, its 99% interval does not"
    return s


def caveat(e: pd.DataFrame, v: dict[str, str]) -> str:
    """One computed caveat for a claim, where one applies: n too small, a proxy metric, lab only."""
    judged = e[e["role"] != "secondary"]
    for text in judged["caveat"]:
        if text:
            return text
    measured = [s for s, x in v.items() if x != "not measured"]
    if measured == ["lab"]:
        edge = e[(e["source"] == "lab") & e.get("marginal", pd.Series(False, index=e.index)).astype(bool)]
        if len(edge):
            return ("lab only, and marginal: its 95% interval excludes 0 but its 99% interval does not, so another "
                    "draw of the training seeds could turn it; the overall verdict does not rest on it")
        return "lab only: no real model measured this claim in this build"
    return ""


# A build whose live numbers are a pipeline check (`live.mark_live_evidence`: random weights) shows each live
# cell with this mark; its verdict is this word and it never enters a claim's overall verdict.
PIPELINE_CAVEAT = "pipeline check (random weights), not a finding"
PIPELINE_VERDICT = "pipeline check"


def judge_results(results: str | Path, ids: Iterable[str] | None = None, records_root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims table, evidence rows): one row per claim with its operational definition, each source's primary
    effect (n, unit, interval) and verdict, the overall verdict (real models first, see `overall`), one caveat and
    words computed from the verdicts."""
    from ..config import live_pipeline_check

    ev = evidence_rows(results, ids, records_root)
    check = live_pipeline_check(results)  # the build's mark: its live numbers are a pipeline check
    if check:
        live = ev["source"] == "live"
        ev.loc[live & ev["effect"].map(np.isfinite), "verdict"] = PIPELINE_VERDICT
        ev.loc[live, "caveat"] = [PIPELINE_CAVEAT + (f"; {c}" if c else "") for c in ev.loc[live, "caveat"]]
    rows = []
    for c in listing().itertuples():
        if ids is not None and c.id not in set(ids):
            continue
        e = ev[ev["id"] == c.id]
        v = {}
        row_ = dict(id=c.id, axis=c.axis, factor=c.factor, claim=c.claim, definition=c.metric, expected=c.expected,
                    rule=c.rule)
        for s in SOURCES:
            es = e[e["source"] == s]
            p = _primary(es)
            fam = es[es["role"] == "family"]
            v[s] = p["verdict"] if p is not None and np.isfinite(p["effect"]) else "not measured"
            row_[s] = cell(p, fam if len(fam) else None)
            row_[f"{s}_verdict"] = v[s]
            if s == "live" and check and v[s] != "not measured":  # shown, marked, and never judged
                row_[s] = f"{PIPELINE_CAVEAT}: {row_[s]}"
                v[s] = "not measured"
            row_[f"{s}_unit"] = p["unit"] if p is not None else ""
            row_[f"{s}_marginal"] = bool(p is not None and p.get("marginal", False))
        row_["verdict"] = overall(v, marginal_lab=row_["lab_marginal"])
        row_["caveat"] = caveat(e[e["source"] != "live"] if check else e, v)
        row_["words"] = words(c.id, v, e, marginal_lab=row_["lab_marginal"])
        if row_["live_verdict"] == PIPELINE_VERDICT:
            row_["words"] += f" Live: {PIPELINE_CAVEAT} (its number is shown, not judged)."
        rows.append(row_)
    return pd.DataFrame(rows), ev


def words(cid: str, v: dict[str, str], e: pd.DataFrame | None = None, marginal_lab: bool = False) -> str:
    """A sentence from the per-source verdicts: where real models and the lab agree or disagree, for each
    inconclusive source the smallest effect it could have detected, and whether the lab's verdict is marginal."""
    measured = {s: x for s, x in v.items() if x != "not measured"}
    if not measured:
        return "Not measured in this build."
    parts = []
    for s, x in measured.items():
        if x != "inconclusive":
            parts.append(f"{s}: {x}" + (" (marginal: its 99% interval covers 0)" if s == "lab" and marginal_lab else ""))
            continue
        p = _primary(e[e["source"] == s]) if e is not None else None
        if p is not None and np.isfinite(p["ci_low"]):
            parts.append(f"{s}: no effect larger than ±{(p['ci_high'] - p['ci_low']) / 2:.3f} detected")
        elif p is not None and "n too small" in str(p["caveat"]):
            parts.append(f"{s}: inconclusive (n too small)")
        else:
            parts.append(f"{s}: no detectable effect")
    real = {v.get("records"), v.get("live")} - {"not measured", None}
    lab = v.get("lab", "not measured")
    tail = ""
    if lab in ("agrees", "disagrees") and real & {"agrees", "disagrees"} and lab not in real:
        tail = " The lab and the real models point opposite ways: the lab's rendered world and tiny CLIPs may " \
               "not carry the mechanism the real models show."
    return "; ".join(parts) + "." + tail


def show(results: str | Path, ids: Iterable[str], records_root=None) -> pd.DataFrame:
    """A chapter's own claims: its rows of the claims table, displayed with their computed words.

    Call it at the end of a chapter, once its effects are written; the claims page repeats them all.
    """
    table, _ = judge_results(results, ids=list(ids), records_root=records_root)
    tables.show(table[["id", "claim", "records", "lab", "live", "verdict", "caveat"]])
    for r in table.itertuples():
        chapter.finding(f"{r.id}: {r.claim}. Verdict: **{r.verdict}**. {r.words}")
    return table


# ---- the claims page (notebooks/11_claims.py) ----------------------------------------------------

def judge(ch: chapter.Chapter, ids: Iterable[str] | None = None,
          records_root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every claim's verdict and the evidence of each source, saved as the chapter's `claims` and
    `claims_evidence` tables (`judge_results` judges a results folder without a chapter).

    A results folder in place of the chapter is the deprecated form, `clipstudy.claims.judge(results, ids,
    records_root)`: it returns `judge_results`'s answer, with a DeprecationWarning."""
    if isinstance(ch, (str, Path)):
        warnings.warn("clipstudy.claims.judge(results, ...) is deprecated: use "
                      "clipstudy.axes.claims.judge_results", DeprecationWarning, stacklevel=2)
        return judge_results(ch, ids, records_root)
    chapter.records_ready()
    table, evidence = judge_results(ch.results_dir, ids, records_root)
    ch.publish(CLAIMS_TABLE, table)
    ch.publish(CLAIMS_EVIDENCE, evidence)
    return table, evidence


def verdicts(table: pd.DataFrame) -> None:
    """The verdict table: one row per claim, each source's primary effect in one cell."""
    display(table[["id", "claim", "records", "lab", "live", "verdict", "caveat"]])


def forest(ch: chapter.Chapter, evidence: pd.DataFrame) -> None:
    """The judged effects (primaries and family members; secondaries left out) as a forest plot."""
    ev = evidence[evidence["role"] != "secondary"].copy()
    k = ev.groupby(["id", "source"]).cumcount() + 1
    size = ev.groupby(["id", "source"])["id"].transform("size")
    ev["label"] = ev["id"] + " · " + ev["source"] + np.where(size > 1, " (" + k.astype(str) + "/" + size.astype(str)
                                                             + ")", "")
    fig, ax = plots.claims_forest(ev)
    ch.figure(fig, ev, "claims_forest")
    show_figure()


def audit(table: pd.DataFrame, evidence: pd.DataFrame) -> None:
    """Per claim: the paper's sentence, our operational definition, and per source what was measured, its
    effect with n, unit and interval, its role and verdict (Holm-adjusted p for a family), and the caveat."""
    for c in table.itertuples():
        e = evidence[evidence["id"] == c.id]
        lines = [f"### {c.id}: {c.claim}", "",
                 f"*Operational definition.* {c.definition}. Expected: {c.expected} (rule: {c.rule}).", ""]
        for s in SOURCES:
            es = e[e["source"] == s]
            measured = es[np.isfinite(es["effect"])]
            if measured.empty:
                why = "; ".join(n for n in es["note"] if n) or "no evidence"
                lines.append(f"- **{s}**: not measured ({why}).")
                continue
            lines.append(f"- **{s}** ({getattr(c, s + '_verdict')}):")
            for r in measured.itertuples():
                p = (f", Holm p={r.p_holm:.3f}" if r.role == "family" and np.isfinite(r.p_holm) else
                     f", p={r.p:.3f}" if np.isfinite(r.p) else "")
                ci = f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]" if np.isfinite(r.ci_low) else "no interval"
                n = f"n={int(r.n)} {r.unit}" if np.isfinite(r.n) else r.unit
                lines.append(f"  - {r.role}: {r.measured}: {r.effect:+.3f} {ci}, {n}{p}."
                             + (f" *{r.caveat}.*" if r.caveat else ""))
        lines += ["", f"**Verdict: {c.verdict}.** {c.words}" + (f" Caveat: {c.caveat}." if c.caveat else "")]
        chapter.markdown("\n".join(lines))


def measured(evidence: pd.DataFrame) -> None:
    """What each source measured for each claim, or why it measured nothing."""
    display(evidence[["id", "source", "role", "verdict", "measured", "unit", "note"]])
