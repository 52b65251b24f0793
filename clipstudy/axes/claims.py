"""Chapter 11: the paper's claims, each judged from its declared primary effects (`clipstudy.claims`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, claims, plots
from .core import Axis, display, register, show

AXIS = register(Axis("claims", "claims", "11_claims", summarised=False, smoke_note=(
    "This build uses the `smoke` profile: its lab effects come from tiny models trained for seconds, so the lab "
    "verdicts below are pipeline checks, not findings.")))


def judge(ch: chapter.Chapter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every claim's verdict and the evidence of each source."""
    chapter.records_ready()
    table, evidence = claims.judge(ch.results_dir)
    ch.save(table, "claims")
    ch.save(evidence, "claims_evidence")
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
    show()


def audit(table: pd.DataFrame, evidence: pd.DataFrame) -> None:
    """Per claim: the paper's sentence, our operational definition, and per source what was measured, its
    effect with n, unit and interval, its role and verdict (Holm-adjusted p for a family), and the caveat."""
    for c in table.itertuples():
        e = evidence[evidence["id"] == c.id]
        lines = [f"### {c.id}: {c.claim}", "",
                 f"*Operational definition.* {c.definition}. Expected: {c.expected} (rule: {c.rule}).", ""]
        for s in claims.SOURCES:
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
