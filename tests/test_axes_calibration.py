"""The calibration tables of clipstudy.axes.calibration: temperature scaling and its transfer, metrics per group,
reliability. Pure functions on small synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from clipstudy.axes import calibration as C


def _overconfident(n=3000, c=5, seed=0):
    """Labels drawn from softmax(z); the model reports 3*z: overconfident, best temperature ~3."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, c))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(c, p=row) for row in p])
    return 3 * z, y


def test_temperature_scaling_fixes_overconfidence_and_transfers_to_a_same_distribution_set():
    z, y = _overconfident(seed=0)
    z2, y2 = _overconfident(seed=1)
    t = C.calibration_table({"val": (z, y), "v2": (z2, y2)}, "val")
    ece = t.pivot_table(index="set", columns="scaling", values="ece")
    temp = t[(t["set"] == "val") & (t["scaling"] == "id")]["temperature"].iloc[0]
    assert 2.5 < temp < 3.5
    assert ece.loc["val", "id"] < 0.5 * ece.loc["val", "none"]
    tr = C.transfer_table(t, "val").set_index("set")
    assert tr.loc["v2", "gain"] > 0 and abs(tr.loc["v2", "transfer_gap"]) < 0.02
    assert not tr.loc["val", "shifted"] and tr.loc["v2", "shifted"]
    with pytest.raises(ValueError, match="ID set"):
        C.calibration_table({"v2": (z2, y2)}, "val")


def test_id_temperature_does_not_transfer_to_a_differently_scaled_shift():
    z, y = _overconfident(seed=0)
    zs, ys = _overconfident(seed=2)
    tr = C.transfer_table(C.calibration_table({"val": (z, y), "shift": (zs / 9, ys)}, "val"), "val").set_index("set")
    # the shift is underconfident at T=1 already; dividing again by ~3 makes it worse than its oracle
    assert tr.loc["shift", "transfer_gap"] > 0.05


def test_calibration_metrics_and_per_group_and_reliability():
    z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    y = np.array([0, 1, 1, 1])
    m = C.calibration_metrics(z, y)
    assert m["accuracy"] == pytest.approx(0.75)
    p1 = 1 / (1 + np.exp(-2))
    assert m["confidence"] == pytest.approx(p1) and m["ece"] == pytest.approx(abs(p1 - 0.75))
    g = C.per_group_ece(z, y, ["a", "a", "b", "b"], temperature=1.0).set_index("group")
    assert g.loc["a", "accuracy"] == 1.0 and g.loc["b", "accuracy"] == 0.5 and g.loc["a", "gain"] == 0.0
    r = C.reliability_frame({"s": (z, y)}, temperature=2.0, n_bins=5)
    assert len(r) == 10 and set(r["scaling"]) == {"none", "id"} and r["count"].sum() == 8
