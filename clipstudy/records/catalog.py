"""Every records table by name: `load(name)` dispatches to the loader of its format.

Kept apart from the loaders (`tables`, `decisions`, `scaling`) so that they can share helpers without
importing each other in a circle.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from ..registry import Registry
from . import cood, decisions, frequency, robustbench, scaling, soups, tables, testbed

LOADERS: Registry[Callable[..., pd.DataFrame]] = Registry("records table")
LOADERS.update({
    "open_clip": tables.load_open_clip, "timm": tables.load_timm, "clip_benchmark": tables.load_clip_benchmark,
    "imagenet_x": tables.load_imagenet_x, "cue_conflict": tables.load_cue_conflict,
    "model_vs_human": decisions.load_model_vs_human, "model_vs_human_clip": decisions.load_model_vs_human_clip,
    "vlm_shapebias": decisions.load_vlm_shapebias, "texture_vs_shape": decisions.load_texture_vs_shape,
    "scaling_laws_openclip": scaling.load_scaling_laws, "cood_benchmarking": cood.load_cood,
    "frequency_determines_performance": frequency.load_frequency, "model_soups": soups.load_soups,
    "imagenet_testbed": testbed.load_testbed, "robustbench": robustbench.load_robustbench,
}, replace=False)


def load(name: str, root: str | Path | None = None, **options) -> pd.DataFrame:
    """A records table as a tidy frame; `root` defaults to CLIPSTUDY_DATA (records/ under it).

    Decision records (`model_vs_human`, `model_vs_human_clip`, `vlm_shapebias`, `texture_vs_shape`)
    come back one row per decision (see `records.decisions`); `options` go to the loader (e.g.
    `datasets=["cue-conflict"]` for model-vs-human; `per_class=True` for frequency_determines_performance, one row
    per class; `benchmarks=("3dcc",)` for robustbench). `model_soups` comes back one row per model (72), its seven
    accuracies as columns (`soups.soups_long` makes it tidy)."""
    return LOADERS.get(name)(root, **options)
