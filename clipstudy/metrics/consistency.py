"""Error consistency (Geirhos, Meding & Wichmann 2020): do two deciders err on the same trials?

Over trials matched by image, c_obs is the fraction where both are right or both are wrong;
c_exp = p1 p2 + (1 - p1)(1 - p2) is what two independent deciders with accuracies p1, p2 would
reach by chance. Cohen's kappa = (c_obs - c_exp) / (1 - c_exp): 0 is chance, 1 identical errors.
As in model-vs-human's `ErrorConsistency`, kappa is 1 when c_obs is 1 (c_exp may then be 1 too).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import to_numpy


def error_consistency(correct_a: Any, correct_b: Any) -> dict[str, float]:
    """Cohen's kappa between two deciders' per-trial correctness (bool arrays, the same trials in the
    same order). Returns dict(n, p1, p2, c_obs, c_exp, kappa)."""
    a = to_numpy(correct_a, name="correct_a")
    b = to_numpy(correct_b, name="correct_b")
    for x, name in ((a, "correct_a"), (b, "correct_b")):
        if x.ndim != 1 or not (x.dtype == bool or np.isin(x, (0, 1)).all()):
            raise ValueError(f"{name}: expected a 1-D array of booleans (trial correct or not)")
    if len(a) != len(b):
        raise ValueError(f"correct_a and correct_b differ in length: {len(a)} vs {len(b)} (match trials first)")
    if not len(a):
        raise ValueError("error consistency needs at least one matched trial")
    a, b = a.astype(bool), b.astype(bool)
    p1, p2 = float(a.mean()), float(b.mean())
    c_obs = float((a == b).mean())
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    kappa = 1.0 if c_obs == 1.0 else (c_obs - c_exp) / (1 - c_exp)
    return dict(n=int(len(a)), p1=p1, p2=p2, c_obs=c_obs, c_exp=c_exp, kappa=kappa)
