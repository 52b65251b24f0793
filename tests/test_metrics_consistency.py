"""Error consistency (Cohen's kappa over matched trials) against a brute-force count."""
from __future__ import annotations

import numpy as np
import pytest

from clipstudy.metrics import error_consistency


def _brute(a, b):
    """Count the four cells of the 2x2 table by hand, trial by trial."""
    both_right = both_wrong = only_a = only_b = 0
    for x, y in zip(a, b):
        if x and y:
            both_right += 1
        elif not x and not y:
            both_wrong += 1
        elif x:
            only_a += 1
        else:
            only_b += 1
    n = both_right + both_wrong + only_a + only_b
    p1, p2 = (both_right + only_a) / n, (both_right + only_b) / n
    c_obs = (both_right + both_wrong) / n
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    return c_obs, c_exp, (c_obs - c_exp) / (1 - c_exp)


@pytest.mark.parametrize("seed", range(6))
def test_kappa_matches_brute_force_count(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    a = rng.random(n) < rng.uniform(0.1, 0.9)
    flip = rng.random(n) < rng.uniform(0.0, 0.6)  # b copies a's outcome except where flipped
    b = np.where(flip, rng.random(n) < 0.5, a)
    if (a == b).all():
        b[0] = ~b[0]
    got = error_consistency(a, b)
    c_obs, c_exp, kappa = _brute(a.tolist(), b.tolist())
    assert got["c_obs"] == pytest.approx(c_obs) and got["c_exp"] == pytest.approx(c_exp)
    assert got["kappa"] == pytest.approx(kappa) and got["n"] == n


def test_kappa_reference_points():
    a = np.array([1, 1, 0, 0, 1, 0, 1, 0], bool)
    assert error_consistency(a, a)["kappa"] == 1.0                 # identical errors
    assert error_consistency(a, ~a)["kappa"] == pytest.approx(-1.0)  # opposite errors, both at 50%
    # a hand-computed 2x2 table: 3 both right, 1 both wrong, 2 only a, 2 only b (n = 8)
    x = np.array([1, 1, 1, 0, 1, 1, 0, 0], bool)
    y = np.array([1, 1, 1, 0, 0, 0, 1, 1], bool)
    r = error_consistency(x, y)
    assert r["c_obs"] == pytest.approx(4 / 8) and r["c_exp"] == pytest.approx(5 / 8 * 5 / 8 + 3 / 8 * 3 / 8)
    assert r["kappa"] == pytest.approx((0.5 - 34 / 64) / (1 - 34 / 64))


def test_kappa_rejects_unmatched_input():
    with pytest.raises(ValueError, match="differ in length"):
        error_consistency([True, False], [True])
    with pytest.raises(ValueError, match="booleans"):
        error_consistency([0.5, 1.0], [1, 0])
    with pytest.raises(ValueError, match="at least one"):
        error_consistency([], [])
