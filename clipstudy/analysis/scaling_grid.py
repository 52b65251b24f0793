"""Controlled contrasts on LAION's scaling-law grid (`records.scaling`), for any per-model metric.

Each effect pairs grid cells that differ in one factor only: a step in data size (LAION-80M -> 400M ->
2B) at the same architecture and samples seen, a step in samples seen (3B -> 13B -> 34B) at the same
architecture and data, or a larger architecture at the same data and samples seen. With 3 architectures x
3 data sizes x 3 lengths, each step has 9 pairs; the interval resamples those pairs. These are real,
separately trained models, and the training recipe is fixed across the grid, so the contrast is controlled
(up to the learning-rate and batch-size choices the grid's authors made per run, listed in its table).
"""
from __future__ import annotations

import pandas as pd

from ..data_sources import labels
from .effects import effect, paired_effect

DATA_STEPS = (("laion400m", "laion80m"), ("laion2b", "laion400m"))
SAMPLE_STEPS = (("13B", "3B"), ("34B", "13B"))
ARCH_STEPS = (("ViT-L-14", "ViT-B-32"),)
LABEL = labels("laion80m", "laion400m", "laion2b")


def grid_effects(grid: pd.DataFrame, value: str, metric: str, axis: str, arch: bool = True) -> list[dict]:
    """Effects of one step in data size, in samples seen (both under the factor 'training-set size') and,
    with `arch`, of ViT-L/14 over ViT-B/32 ('architecture'), each paired over the other two grid axes."""
    g = grid.assign(arch=grid["arch"].astype(str), data=grid["data"].astype(str),
                    samples=grid["samples_seen_pretty"].astype(str))
    rows = []

    def add(factor, res, text):
        rows.append(effect(factor, axis, metric, res["effect"], text, "records", n=res["n"],
                           ci=(res["ci_low"], res["ci_high"])))

    for t, b in DATA_STEPS:
        add("training-set size", paired_effect(g, ["arch", "samples"], "data", t, b, value),
            f"LAION grid: {LABEL[t]} vs {LABEL[b]}, same architecture and samples seen (paired)")
    for t, b in SAMPLE_STEPS:
        add("training-set size", paired_effect(g, ["arch", "data"], "samples", t, b, value),
            f"LAION grid: {t} vs {b} samples seen, same architecture and data (paired)")
    if arch:
        for t, b in ARCH_STEPS:
            add("architecture", paired_effect(g, ["data", "samples"], "arch", t, b, value),
                f"LAION grid: {t} vs {b}, same data and samples seen (paired)")
    return rows
