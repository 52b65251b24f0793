"""Effective robustness and the logit fit (clipstudy.metrics.robustness) against known lines."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.special import expit, logit

from clipstudy.metrics import LogitFit, effective_robustness, logit_fit


def test_effective_robustness_on_and_above_the_line():
    slope, intercept = 1.3, -0.9
    base_id = np.array([0.55, 0.62, 0.70, 0.76, 0.81])
    base_ood = expit(slope * logit(base_id) + intercept)
    er, fit = effective_robustness(base_id, base_ood, base_id, base_ood)
    assert isinstance(fit, LogitFit)
    assert fit.slope == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)
    assert fit.n == 5 and fit.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(er, 0.0, atol=1e-12)
    on_line = expit(slope * logit(0.74) + intercept)
    er2, _ = effective_robustness([0.74, 0.74, 0.74], [on_line + 0.05, on_line, on_line - 0.02], base_id, base_ood)
    np.testing.assert_allclose(er2, [0.05, 0.0, -0.02], atol=1e-12)
    assert fit(0.74) == pytest.approx(on_line)
    assert er2.shape == (3,)


def test_logit_fit_noisy_and_clipping():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.9, 40)
    y = expit(0.8 * logit(x) - 0.5 + rng.normal(0, 0.1, 40))
    fit = logit_fit(torch.as_tensor(x), y)
    ref = np.polyfit(logit(x), logit(y), 1)
    assert (fit.slope, fit.intercept) == pytest.approx(tuple(ref))
    assert 0 < fit.r2 < 1
    assert np.isfinite(fit(np.array([0.0, 1.0]))).all()  # logit clipped at 0 and 1
    er, _ = effective_robustness([1.0], [1.0], [0.0, 0.5, 1.0], [0.1, 0.3, 1.0])
    assert np.isfinite(er).all()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.slope = 2.0


def test_effective_robustness_bad_input():
    with pytest.raises(ValueError, match="percentages"):
        effective_robustness([76.2], [50.0], [70.0, 80.0], [40.0, 55.0])
    with pytest.raises(ValueError, match="NaN"):
        logit_fit([0.7, np.nan, 0.8], [0.5, 0.6, 0.7])
    er, _ = effective_robustness([0.7, np.nan], [0.5, 0.5], [0.6, 0.8], [0.4, 0.6])
    assert np.isfinite(er[0]) and np.isnan(er[1])  # a point without an accuracy gets NaN, not an error
    with pytest.raises(ValueError, match="at least 2"):
        logit_fit([0.7], [0.5])
    with pytest.raises(ValueError, match="same ID accuracy"):
        logit_fit([0.7, 0.7], [0.5, 0.6])
    with pytest.raises(ValueError, match="length"):
        logit_fit([0.7, 0.8], [0.5])
    with pytest.raises(ValueError, match="shape"):
        effective_robustness([0.7, 0.8], [0.5], [0.6, 0.8], [0.4, 0.6])
