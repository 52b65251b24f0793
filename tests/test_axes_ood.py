"""The OOD tables of clipstudy.axes.ood: detection, near/far gap, prompt and recipe effects. Pure functions on
small synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipstudy.axes import ood


def _logits(n, c, hi, rng):
    z = rng.normal(0, 0.01, (n, c))
    z[:, 0] += hi
    return z


def test_detection_table_separates_and_groups():
    rng = np.random.default_rng(0)
    id_l = _logits(50, 4, 10.0, rng)  # confident ID
    near = _logits(30, 4, 5.0, rng)  # less confident
    far = _logits(20, 4, 0.0, rng)  # flat
    ood_l = np.r_[near, far]
    groups = ["near"] * 30 + ["far"] * 20
    t = ood.detection_table(id_l, ood_l, groups, id_cosine=id_l / 20, ood_cosine=ood_l / 20)
    assert set(t["method"]) == {"msp", "maxlogit", "energy", "mcm"}
    assert set(t["ood"]) == {"near", "far", "all"}
    assert (t["auroc"] == 1.0).all() and (t["fpr95"] == 0.0).all()
    assert t.loc[t["ood"] == "near", "n_ood"].unique().tolist() == [30]
    assert t.loc[t["ood"] == "all", "n_ood"].unique().tolist() == [50]
    # an OOD set scored like ID gives chance-level AUROC
    t2 = ood.detection_table(id_l, id_l.copy(), ["x"] * 50, methods=["maxlogit"])
    assert t2["auroc"].iloc[0] == pytest.approx(0.5)


def test_detection_table_mcm_needs_cosines_and_checks_inputs():
    rng = np.random.default_rng(1)
    a, b = _logits(10, 3, 5, rng), _logits(8, 3, 0, rng)
    t = ood.detection_table(a, b, ["far"] * 8)
    assert "mcm" not in set(t["method"]) and len(t) == 3  # no pooled row for one group
    with pytest.raises(ValueError, match="ood_groups has 7"):
        ood.detection_table(a, b, ["far"] * 7)
    with pytest.raises(ValueError, match="both id_cosine and ood_cosine"):
        ood.detection_table(a, b, ["far"] * 8, id_cosine=a / 10)
    with pytest.raises(ValueError, match="mcm expects cosine"):  # logits passed where cosines belong
        ood.detection_table(a, b, ["far"] * 8, id_cosine=a, ood_cosine=b)


def test_near_far_gap_and_prompt_effect():
    t = pd.DataFrame(dict(model=["m"] * 4, method=["msp"] * 4, ood=["near", "far"] * 2,
                          prompts=["single", "single", "ensemble", "ensemble"], auroc=[0.6, 0.9, 0.7, 0.95]))
    g = ood.near_far_gap(t[t["prompts"] == "single"])
    assert g["gap"].iloc[0] == pytest.approx(0.3)
    p = ood.prompt_effect(t)
    assert p.set_index("ood")["effect"].to_dict() == pytest.approx({"near": 0.1, "far": 0.05})
    with pytest.raises(ValueError, match="near"):
        ood.near_far_gap(t[t["ood"] == "far"])
    with pytest.raises(ValueError, match="ensemble"):
        ood.prompt_effect(t[t["prompts"] == "single"])


def test_ood_recipe_effects_falls_back_for_classifiers():
    t = pd.DataFrame(dict(model=["base", "base", "ft", "arch"], method=["mcm", "msp", "msp", "mcm"],
                          ood="all", auroc=[0.8, 0.7, 0.9, 0.6]))
    e = ood.recipe_effects(t, {"ft": "fine-tuning", "arch": "architecture", "absent": "contrastive loss"})
    got = e.set_index("factor")
    assert got.loc["fine-tuning", "effect"] == pytest.approx(0.2)  # msp vs msp
    assert "msp" in got.loc["fine-tuning", "metric"]
    assert got.loc["architecture", "effect"] == pytest.approx(-0.2)
    assert len(e) == 2 and set(e["source"]) == {"lab"}
