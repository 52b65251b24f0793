"""3D common corruptions on 12 real ImageNet models (`robustbench`): ImageNet-model context for the 3D chapter's claim
about CLIPs, not a CLIP result (no CLIP is among them).

- `corruption_table`: per (corruption, severity), the 12 models' accuracy: n, mean, min, max;
- `model_means`: per model, accuracy averaged over every corruption and severity of a benchmark, beside its clean
  accuracy and the mean its JSON publishes;
- `corruption_er`: each model's effective robustness to the corruptions, in accuracy: its mean corrupted accuracy
  minus a logit-linear line in clean accuracy fitted over the 12 (`metrics.effective_robustness`); the logit
  residual is a secondary column;
- `architecture_contrast`: DeiT minus ResNet-50 in that ER, with n stated (two DeiTs: "n too small").
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logit

from .. import effects as E
from .contrasts import grouped

INFO = ["architecture", "family", "paper", "clean_acc", "corruptions_acc", "corruptions_acc_3d", "additional_data"]
PUBLISHED = {"3dcc": "corruptions_acc_3d", "imagenet-c": "corruptions_acc"}


def corruption_table(frame: pd.DataFrame, benchmark: str = "3dcc") -> pd.DataFrame:
    """One row per (corruption, severity) of `benchmark`: n (models), mean, min and max accuracy."""
    f = frame[frame["benchmark"] == benchmark]
    g = f.groupby(["corruption", "severity"], sort=True)["value"]
    return g.agg(n="count", mean="mean", min="min", max="max").reset_index()


def model_means(frame: pd.DataFrame, benchmark: str = "3dcc") -> pd.DataFrame:
    """One row per model: acc (mean over every corruption and severity of `benchmark`), n_cells, published (the
    mean its JSON gives, a fraction), clean_acc and the model's info columns."""
    f = frame[frame["benchmark"] == benchmark]
    g = f.groupby("model", sort=True)["value"].agg(acc="mean", n_cells="count")
    info = f.drop_duplicates("model").set_index("model")[INFO]
    out = g.join(info).reset_index()
    out["published"] = out[PUBLISHED[benchmark]]
    out["benchmark"] = benchmark
    return out


def corruption_er(frame: pd.DataFrame, benchmark: str = "3dcc") -> pd.DataFrame:
    """`model_means` with the line fitted over all its models (logit(acc) on logit(clean_acc)): predicted, er (in
    accuracy: acc - predicted), er_logit (logit(acc) minus the line, the secondary reading), fit_slope,
    fit_intercept, fit_n, fit_r2."""
    from ..metrics import effective_robustness

    m = model_means(frame, benchmark)
    er, fit = effective_robustness(m["clean_acc"].to_numpy(), m["acc"].to_numpy(), m["clean_acc"].to_numpy(),
                                   m["acc"].to_numpy())
    m["predicted"] = m["acc"] - er
    m["er"] = er
    m["er_logit"] = logit(m["acc"].clip(1e-6, 1 - 1e-6)) - (fit.slope * logit(m["clean_acc"].clip(1e-6, 1 - 1e-6))
                                                           + fit.intercept)
    m["fit_slope"], m["fit_intercept"], m["fit_n"], m["fit_r2"] = fit.slope, fit.intercept, fit.n, fit.r2
    return m


def architecture_group(architecture: pd.Series) -> pd.Series:
    """'DeiT' for DeiT Small / Base, 'ResNet-50' for the plain ResNet-50s, else the architecture itself."""
    a = architecture.astype(str)
    return pd.Series(np.where(a.str.startswith("DeiT"), "DeiT", a), index=architecture.index)


def architecture_contrast(er: pd.DataFrame, treatment: str = "DeiT", base: str = "ResNet-50",
                          value: str = "er", n_boot: int = E.N_BOOT, seed: int = 0) -> dict:
    """Mean `value` of the `treatment` architecture group minus the `base` group (`architecture_group`), with n,
    n_treatment, n_base, and a bootstrap interval over models only when both groups hold 5 or more (otherwise the
    note says n is too small); `comparison` names it."""
    f = er.assign(arch_group=architecture_group(er["architecture"]))
    res = grouped(f, "arch_group", treatment, base, value, n_boot=n_boot, seed=seed)
    return {"comparison": f"{treatment} minus {base} ImageNet models (n={res['n_treatment']} vs {res['n_base']})",
            "metric": f"{value} ({er['benchmark'].iloc[0] if len(er) else ''})", **res}


__all__ = ["corruption_table", "model_means", "corruption_er", "architecture_group", "architecture_contrast"]
