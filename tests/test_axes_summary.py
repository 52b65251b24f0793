"""The summary of clipstudy.axes.summary: effects read from chapter folders, headlines, the grid and the missing
cells, on small synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipstudy.axes import summary
from clipstudy.axes.core import EFFECTS, NOT_MEASURED, Axis

# chapters of a test build (declared, never registered): each publishes its effects through the declaration
AXES = {c: Axis(c, name, c) for c, name in (("06_ood", "OOD"), ("07_ret", "retrieval"), ("08_bad", "3D"),
                                             ("09_empty", "LMM"), ("05_none", "calibration"))}


def _write(root, chap, rows):
    EFFECTS.write(root, pd.DataFrame(rows, columns=["factor", "axis", "metric", "effect", "comparison", "source", "n",
                                                    "ci_low", "ci_high", "p"]), AXES[chap])


def test_summary_reads_headlines_and_missing_cells(tmp_path):
    _write(tmp_path, "06_ood", [
        dict(factor="architecture", axis="OOD", metric="auroc", effect=0.1, comparison="a vs base", source="lab"),
        dict(factor="architecture", axis="OOD", metric="fpr95", effect=-0.3, comparison="a vs base", source="lab"),
        dict(factor="fine-tuning", axis="OOD", metric="auroc", effect=float("nan"), comparison="n/a", source="lab")])
    _write(tmp_path, "07_ret", [dict(factor="architecture", axis="retrieval", metric="r", effect=-0.05,
                                     comparison="x", source="records")])
    bad = EFFECTS.path(tmp_path, AXES["08_bad"])  # a table of another schema: a named problem, not a crash
    bad.parent.mkdir(parents=True)
    pd.DataFrame(dict(factor=["wizardry"], axis=["3D"])).to_parquet(bad)
    _write(tmp_path, "09_empty", [])
    NOT_MEASURED.write(tmp_path, pd.DataFrame([dict(factor="fine-tuning", axis="OOD", reason="classifier only")]),
                       AXES["06_ood"])
    eff, problems = summary.read_effects(tmp_path, AXES.values())
    assert set(eff["chapter"]) == {"06_ood", "07_ret"}
    assert len(problems) == 1 and problems[0].startswith("08_bad")
    heads = summary.headline(eff)
    arch = heads[(heads["factor"] == "architecture") & (heads["axis"] == "OOD")]
    assert arch["metric"].tolist() == ["auroc"] and arch["n_rows"].iloc[0] == 2  # the first row is the headline
    assert "fine-tuning" not in set(heads["factor"])  # NaN is not a measurement
    g = summary.grid(heads, ["OOD", "retrieval", "3D"])
    assert g.loc["architecture", "OOD"] == pytest.approx(0.1) and np.isnan(g.loc["fine-tuning", "OOD"])
    assert g.shape == (6, 3)
    axes = summary.chapter_axes(eff, ["06_ood", "07_ret", "08_bad", "09_empty", "05_none"])
    assert axes["06_ood"] == "OOD" and axes["08_bad"] is None
    miss = summary.missing_cells(eff, axes, summary.read_not_measured(tmp_path, AXES.values()), problems,
                                 present=summary.chapters_with_effects(tmp_path, AXES.values()))
    why = {(r.chapter, r.factor): r.reason for r in miss.itertuples()}
    assert why[("06_ood", "fine-tuning")] == "classifier only"
    assert "no effect for this factor" in why[("06_ood", "contrastive loss")]
    assert ("06_ood", "architecture") not in why
    assert "unreadable" in why[("08_bad", "architecture")]
    assert "empty" in why[("09_empty", "architecture")]
    assert "no effects table" in why[("05_none", "fine-tuning")]
    assert len(miss[miss["chapter"] == "07_ret"]) == 5
