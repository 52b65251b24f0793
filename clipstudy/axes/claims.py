"""Chapter 11: the paper's claims, each judged from the effects the other chapters wrote."""
from __future__ import annotations

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


def forest(ch: chapter.Chapter, evidence: pd.DataFrame) -> None:
    fig, ax = plots.claims_forest(evidence)
    ch.figure(fig, evidence, "claims_forest")
    show()


def measured(evidence: pd.DataFrame) -> None:
    """What each source measured for each claim, or why it measured nothing."""
    display(evidence[["id", "source", "verdict", "measured", "note"]].style.hide(axis="index"))
