"""OOD scores and metrics against sklearn and brute-force definitions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from clipstudy.errors import UnknownNameError
from clipstudy.metrics import fpr_at_tpr, ood_metrics, ood_scores


def _brute_fpr95(s_id, s_ood, tpr=0.95):
    """Scan every candidate threshold; keep the largest one with TPR >= tpr."""
    cands = np.unique(np.r_[s_id, s_ood, np.inf])
    best = None
    for t in cands:
        if np.mean(s_id >= t) >= tpr and (best is None or t > best):
            best = t
    return np.mean(s_ood >= best)


def _brute_auroc(s_id, s_ood):
    d = s_id[:, None] - s_ood[None, :]
    return ((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size


def _brute_ap(pos, neg):
    """Average precision: sum over distinct thresholds of (R_t - R_prev) * P_t."""
    ap, prev_r = 0.0, 0.0
    for t in np.unique(np.r_[pos, neg])[::-1]:
        tp, fp = (pos >= t).sum(), (neg >= t).sum()
        r = tp / len(pos)
        ap += (r - prev_r) * tp / (tp + fp)
        prev_r = r
    return ap


def _cases():
    rng = np.random.default_rng(0)
    yield rng.normal(1, 1, 200), rng.normal(0, 1, 300)
    yield rng.normal(0.3, 1, 37), rng.normal(0, 2, 11)
    yield np.round(rng.normal(1, 1, 120)), np.round(rng.normal(0, 1, 90))  # heavy ties
    yield np.arange(20.0), np.arange(20.0)  # identical
    yield np.ones(5), np.ones(8)  # all tied
    yield np.array([3.0]), np.array([1.0, 5.0])  # a single ID sample


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: f"n{len(c[0])}-{len(c[1])}")
def test_ood_metrics_against_sklearn_and_brute_force(case):
    s_id, s_ood = case
    m = ood_metrics(s_id, s_ood)
    y = np.r_[np.ones(len(s_id)), np.zeros(len(s_ood))]
    s = np.r_[s_id, s_ood]
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert m["auroc"] == pytest.approx(_brute_auroc(s_id, s_ood))
    assert m["aupr_in"] == pytest.approx(average_precision_score(y, s))
    assert m["aupr_in"] == pytest.approx(_brute_ap(s_id, s_ood))
    assert m["aupr_out"] == pytest.approx(average_precision_score(1 - y, -s))
    assert m["aupr_out"] == pytest.approx(_brute_ap(-s_ood, -s_id))
    assert m["fpr95"] == pytest.approx(_brute_fpr95(s_id, s_ood))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tpr", [0.5, 0.9, 0.95, 1.0])
def test_fpr_at_tpr_brute_force(seed, tpr):
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 300)
    s_id = np.round(rng.normal(1, 1, n), 1)
    s_ood = np.round(rng.normal(0, 1, rng.integers(1, 300)), 1)
    assert fpr_at_tpr(s_id, s_ood, tpr) == pytest.approx(_brute_fpr95(s_id, s_ood, tpr))


def test_fpr95_by_hand_and_extremes():
    s_id = np.arange(1.0, 101.0)  # keep 95 of 100 ID samples: threshold 6
    s_ood = np.array([0.0, 5.9, 6.0, 50.0])  # 6.0 ties the threshold and counts
    assert fpr_at_tpr(s_id, s_ood) == 0.5
    m = ood_metrics([5.0, 6.0, 7.0], [1.0, 2.0])
    assert (m["auroc"], m["aupr_in"], m["aupr_out"], m["fpr95"]) == (1.0, 1.0, 1.0, 0.0)
    m = ood_metrics([1.0, 2.0], [5.0, 6.0, 7.0])
    assert m["auroc"] == 0.0 and m["fpr95"] == 1.0


def test_ood_scores_definitions():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 6)) * 10
    zt = torch.as_tensor(z)
    assert np.allclose(ood_scores(z, "msp"), torch.softmax(zt, 1).max(1).values.numpy())
    assert np.allclose(ood_scores(z, "msp", temperature=3.0), torch.softmax(zt / 3, 1).max(1).values.numpy())
    assert np.allclose(ood_scores(z, "maxlogit"), z.max(1))
    assert np.allclose(ood_scores(zt, "energy"), torch.logsumexp(zt, 1).numpy())
    assert np.allclose(ood_scores(z, "energy", temperature=2.0), 2 * torch.logsumexp(zt / 2, 1).numpy())
    cos = np.tanh(rng.normal(size=(50, 6)))
    assert np.allclose(ood_scores(cos, "mcm"), torch.softmax(torch.as_tensor(cos), 1).max(1).values.numpy())
    assert np.allclose(
        ood_scores(cos, "mcm", temperature=0.01), torch.softmax(torch.as_tensor(cos) / 0.01, 1).max(1).values.numpy()
    )


@pytest.mark.parametrize("method", ["msp", "maxlogit", "energy", "mcm"])
def test_ood_scores_higher_means_more_in_distribution(method):
    confident = np.array([[0.9, 0.1, 0.0, -0.1]])
    flat = np.array([[0.2, 0.2, 0.2, 0.2]])
    assert ood_scores(confident, method)[0] > ood_scores(flat, method)[0]


def test_ood_bad_input():
    with pytest.raises(UnknownNameError, match="msp"):
        ood_scores(np.zeros((2, 3)), "mps")
    with pytest.raises(UnknownNameError, match="energy"):
        ood_scores(np.zeros((2, 3)), "odin")
    with pytest.raises(ValueError, match="cosine"):
        ood_scores(np.full((2, 3), 30.0), "mcm")
    with pytest.raises(ValueError, match="temperature"):
        ood_scores(np.zeros((2, 3)), "msp", temperature=0)
    with pytest.raises(ValueError, match="empty"):
        ood_metrics([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        ood_metrics([np.nan, 1.0], [1.0])
    with pytest.raises(ValueError, match="1-D"):
        ood_metrics(np.zeros((3, 2)), [1.0])
