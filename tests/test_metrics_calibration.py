"""Calibration metrics against torchmetrics, torch and brute-force bins."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax
from torchmetrics.functional import calibration_error

from clipstudy.metrics import brier, ece, fit_temperature, nll, reliability


def _tm_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    return float(
        calibration_error(
            torch.as_tensor(probs), torch.as_tensor(labels), task="multiclass",
            num_classes=probs.shape[1], n_bins=n_bins, norm="l1",
        )
    )


def _random_case(seed: int, n: int = 3000, c: int = 10):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * rng.uniform(0.5, 4.0)
    labels = np.where(rng.random(n) < 0.6, logits.argmax(1), rng.integers(0, c, n))
    return softmax(logits, axis=1), labels


@pytest.mark.parametrize("seed", range(5))
def test_ece_matches_torchmetrics_random(seed):
    probs, labels = _random_case(seed)
    assert ece(probs, labels, n_bins=15) == pytest.approx(_tm_ece(probs, labels, 15), abs=1e-6)


@pytest.mark.parametrize("n_bins", [1, 4, 10, 15])
def test_ece_matches_torchmetrics_other_bin_counts(n_bins):
    probs, labels = _random_case(100 + n_bins, n=800, c=5)
    assert ece(probs, labels, n_bins=n_bins) == pytest.approx(_tm_ece(probs, labels, n_bins), abs=1e-6)


def test_ece_edge_cases_match_torchmetrics():
    # confidences exactly on bin edges (exact in float32 too with 4 bins): left-closed bins
    probs = np.array(
        [[0.5, 0.25, 0.25, 0.0], [0.75, 0.25, 0.0, 0.0], [0.25] * 4, [0.25, 0.5, 0.25, 0.0],
         [0.0, 0.0, 0.25, 0.75], [0.5, 0.5, 0.0, 0.0]]
    )
    labels = np.array([0, 1, 0, 2, 3, 1])  # ties in the top prob: argmax picks the first
    assert ece(probs, labels, 4) == pytest.approx(_tm_ece(probs, labels, 4), abs=1e-7)
    assert reliability(probs, labels, 4)["count"].tolist() == [0, 1, 3, 2]
    # all correct, and many empty bins
    rng = np.random.default_rng(0)
    p = softmax(rng.normal(size=(200, 3)) * 0.3 + np.array([5.0, 0, 0]), axis=1)
    y = np.zeros(200, dtype=int)
    table = reliability(p, y, 15)
    assert (table["count"] == 0).sum() >= 10
    assert ece(p, y) == pytest.approx(_tm_ece(p, y), abs=1e-6)
    assert ece(p, y) == pytest.approx(1 - p.max(1).mean(), abs=1e-12)  # all correct: 1 - mean conf


def test_ece_single_class_and_torch_input():
    probs = np.ones((7, 1))
    assert ece(probs, np.zeros(7, dtype=int)) == 0.0
    probs, labels = _random_case(7, n=500)
    t = ece(torch.as_tensor(probs, dtype=torch.float32), torch.as_tensor(labels))
    assert t == pytest.approx(ece(probs, labels), abs=1e-5)


def test_ece_confidence_one_joins_last_bin():
    # documented difference from torchmetrics: conf == 1.0 is pooled into the last bin
    # (numpy.histogram convention); torchmetrics gives it a 16th bin of its own
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.96, 0.04], [0.96, 0.04]])
    labels = np.array([1, 1, 0, 0])
    # pooled last bin: mean conf 0.98, accuracy 0.5
    assert ece(probs, labels) == pytest.approx(0.48)
    assert reliability(probs, labels)["count"].iloc[-1] == 4
    # separate bins: 0.5 * |0 - 1| + 0.5 * |1 - 0.96|
    assert _tm_ece(probs, labels) == pytest.approx(0.52, abs=1e-6)


def test_reliability_bins_by_brute_force():
    probs, labels = _random_case(3, n=1000)
    table = reliability(probs, labels, 15)
    assert list(table.columns) == ["bin", "lower", "upper", "confidence", "accuracy", "count"]
    assert len(table) == 15 and table["count"].sum() == 1000
    conf, correct = probs.max(1), probs.argmax(1) == labels
    for b, row in table.iterrows():
        lo, hi = b / 15, (b + 1) / 15
        sel = (conf >= lo) & ((conf < hi) if b < 14 else (conf <= hi))
        assert row["count"] == sel.sum()
        if sel.any():
            assert row["confidence"] == pytest.approx(conf[sel].mean())
            assert row["accuracy"] == pytest.approx(correct[sel].mean())
        else:
            assert np.isnan(row["confidence"]) and np.isnan(row["accuracy"])


def test_nll_matches_torch_cross_entropy():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(300, 7)) * 3, rng.integers(0, 7, 300)
    ref = torch.nn.functional.cross_entropy(torch.as_tensor(z), torch.as_tensor(y)).item()
    assert nll(z, y) == pytest.approx(ref, rel=1e-10)
    assert nll(torch.as_tensor(z), torch.as_tensor(y)) == pytest.approx(ref, rel=1e-10)


def test_brier_sum_over_classes_convention():
    rng = np.random.default_rng(2)
    p, y = softmax(rng.normal(size=(50, 4)), axis=1), rng.integers(0, 4, 50)
    ref = np.mean([sum((p[i, c] - (c == y[i])) ** 2 for c in range(4)) for i in range(50)])
    assert brier(p, y) == pytest.approx(ref)
    assert brier(np.eye(3), [0, 1, 2]) == 0.0
    assert brier(np.eye(3), [1, 2, 0]) == 2.0


def test_fit_temperature_recovers_known_temperature():
    rng = np.random.default_rng(0)
    n, c, t_true = 20000, 10, 2.5
    z = rng.normal(size=(n, c)) * 2.0  # calibrated logits: labels are drawn from softmax(z)
    p = softmax(z, axis=1)
    y = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    over = z * t_true  # an over-confident model: the right temperature is t_true
    t = fit_temperature(over, y)
    assert t == pytest.approx(t_true, rel=0.05)
    assert nll(over / t, y) < nll(over, y)
    assert fit_temperature(over, y) == t  # deterministic
    assert fit_temperature(z, y) == pytest.approx(1.0, rel=0.05)


def test_fit_temperature_warns_at_bound():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="search bound"):
        t = fit_temperature(rng.normal(size=(500, 5)), rng.integers(0, 5, 500))  # logits carry no signal
    assert t == pytest.approx(100.0, rel=1e-2)


def test_calibration_bad_input():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(10, 3)) * 5
    with pytest.raises(ValueError, match="look like logits"):
        ece(z, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        ece(softmax(z, axis=1), np.full(10, 3))
    with pytest.raises(ValueError, match="n_bins"):
        ece(softmax(z, axis=1), np.zeros(10, dtype=int), n_bins=0)
    with pytest.raises(ValueError, match="length"):
        nll(z, np.zeros(9, dtype=int))
    with pytest.raises(ValueError, match="empty"):
        brier(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="NaN"):
        nll(np.full((2, 2), np.nan), [0, 1])
