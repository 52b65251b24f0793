"""The visual-factor tables of clipstudy.axes.visual_factors: the lab's error ratios against the control, the
ImageNet-X records effects. Pure functions on small synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import pandas as pd
import pytest

from clipstudy.axes import visual_factors as V


def test_lab_factor_table_error_ratio_against_control():
    factor = ["none"] * 4 + ["pose"] * 4 + ["color"] * 4
    correct = [1, 1, 1, 0] + [1, 0, 0, 0] + [1, 1, 1, 1]
    t = V.lab_factor_table(correct, factor).set_index("factor")
    assert set(t.index) == {"pose", "color"}
    assert t.loc["pose", "accuracy"] == pytest.approx(0.25) and t.loc["pose", "control_accuracy"] == pytest.approx(0.75)
    assert t.loc["pose", "error_ratio"] == pytest.approx(0.75 / 0.25)
    assert t.loc["color", "error_ratio"] == pytest.approx(0.0)
    assert t.loc["pose", "count"] == 4
    with pytest.raises(ValueError, match="control"):
        V.lab_factor_table([1, 0], ["pose", "color"])


def test_imagenet_x_records_effects_and_long_table():
    f = pd.DataFrame({"model": ["c1", "c1", "c2", "c2", "r1", "r1"], "testbed": ["t"] * 6,
                      "group": ["zero-shot CLIP"] * 4 + ["ImageNet model"] * 2,
                      "family": ["vit", "vit", "resnet", "resnet", "resnet", "resnet"],
                      "baseline": [False] * 4 + [True] * 2, "factor": ["pose", "color"] * 3,
                      "er": [0.2, 0.4, 0.1, 0.1, 0.0, 0.0]})
    eff = {r["factor"]: r["effect"] for r in V.records_effects(f)}
    assert eff["architecture"] == pytest.approx(0.3 - 0.1)
    assert eff["training distribution"] == pytest.approx(0.2 - 0.0)
    cvr = pd.DataFrame({"factor": ["pose"], "error_ratio_clip": [1.2], "error_ratio_rest": [1.5], "er_clip": [0.1],
                        "er_rest": [0.0]})
    long = V.records_factor_table(cvr)
    assert len(long) == 2 and set(long["who"]) == {"zero-shot CLIP", "ImageNet models"}
