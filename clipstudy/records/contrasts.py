"""Effects over models for the records analyses: `clipstudy.effects`' bootstraps, with the study's rule on small n.

Every function returns a dict with the same keys (`KEYS`): effect, n (models or model pairs), n_treatment, n_base,
ci_low, ci_high, p (the interval and the p both from one bootstrap over models: `effects.paired_effect`,
`effects.grouped_effect` or `effects.bootstrap_mean`) and note. Under `effects.MIN_UNITS` units in either group
there is no interval and no p, and the note says "n too small". A pair (one model under two conditions) counts once
in each group, so a paired effect's n_treatment and n_base are its number of pairs.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import effects as E

KEYS = ("effect", "n", "n_treatment", "n_base", "ci_low", "ci_high", "p", "note")


small_note = E.small_note  # the n < MIN_UNITS rule, as every effect of the book applies it


def _finish(res: dict, sizes: dict[str, int], unit: str) -> dict:
    out = {k: res.get(k, np.nan) for k in KEYS if k != "note"}
    for k in ("n", "n_treatment", "n_base"):
        out[k] = int(out[k]) if np.isfinite(out[k]) else 0
    note = small_note(sizes, unit)
    if note:
        out.update(ci_low=np.nan, ci_high=np.nan, p=np.nan)
    out["effect"] = float(out["effect"])
    out["note"] = note
    return out


def paired(frame: pd.DataFrame, pair_on: str | Sequence[str], column: str, treatment, base, value: str,
           n_boot: int = E.N_BOOT, seed: int = 0) -> dict:
    """Mean over models of (treatment - base), each model its own pair (`effects.paired_effect`)."""
    res = E.paired_effect(frame, pair_on, column, treatment, base, value, n_boot=n_boot, seed=seed)
    n = int(res["n"])
    return _finish({**res, "n_treatment": n, "n_base": n}, {"": n}, "model pairs")


def grouped(frame: pd.DataFrame, column: str, treatment, base, value: str, unit: str = "model",
            match: Sequence[str] = (), n_boot: int = E.N_BOOT, seed: int = 0) -> dict:
    """Mean of `value` in the treatment group minus the base group, over the strata of `match` holding both
    (`effects.grouped_effect`: models resampled within each group)."""
    res = E.grouped_effect(frame, column, treatment, base, value, unit=unit, match=match, n_boot=n_boot, seed=seed)
    out = _finish(res, {str(treatment): res["n_treatment"], str(base): res["n_base"]}, "models")
    out["n_strata"] = int(res.get("n_strata", 0))
    return out


def mean_of(values: Sequence[float], n_boot: int = E.N_BOOT, seed: int = 0, unit: str = "models") -> dict:
    """Mean of one value per model (`effects.bootstrap_mean`)."""
    res = E.bootstrap_mean(values, n_boot=n_boot, seed=seed)
    n = int(res["n"])
    return _finish({**res, "n_treatment": n, "n_base": 0}, {"": n}, unit)


percentile_interval = E.percentile_interval


__all__ = ["KEYS", "small_note", "paired", "grouped", "mean_of", "percentile_interval"]
