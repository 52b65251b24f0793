"""The Python entry for notebooks and scripts: one call runs the study runner and returns its tidy results.

    >>> from clipstudy import api
    >>> df = api.evaluate(["ViT-B-32/openai", "hf-hub:timm/ViT-B-16-SigLIP"], ["imagenet", "@shifts"],
    ...                   axes="shifts,calibration", prompts="openai80", study="study")

It is `clipstudy run` as a function (as RobustBench's `benchmark()` is for its leaderboard): the same plan,
executors and feature cache, so a unit the CLI computed is reused here and the other way round, and the same
`STUDY/results.csv` is written. The frame returned is that table's rows of this grid.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd


def evaluate(models: Iterable[str] | str, datasets: Iterable[str] | str, axes: Sequence[str] | str = "all",
             prompts: Sequence[str] | str = "openai80", study: str | os.PathLike = "study", *,
             precision: str = "auto", device: str = "auto", executor: str = "local",
             executor_options: dict | None = None, model_info: str | os.PathLike | None = None,
             lab_profile: str | None = None, batch_size: int = 64, progress: bool = True) -> pd.DataFrame:
    """Evaluate `models` (names or `@collections`, any name form) on `datasets` over `axes` through the study
    runner, and return the tidy results of this grid: one row per (model, dataset, axis, part, metric, prompts,
    precision) with its value, n and revision, exactly as `clipstudy run` writes them to `STUDY/results.csv`.

    `model_info` is a `--model-info` CSV (factor columns and `parent`), validated first. Units that fail do not
    stop the others: they are named in a warning and in `frame.attrs["failed"]` ({"model x dataset": error})."""
    from .models import info
    from .results import read_study
    from .run import run

    if model_info is not None:
        info.use(model_info)
    out = run(models, datasets, axes=axes, prompts=prompts, executor=executor, executor_options=executor_options,
              precision=precision, device=device, study=study, lab_profile=lab_profile, batch_size=batch_size,
              progress=progress)
    grid = {(u.model, u.dataset) for u in out.plan.units}
    table = read_study(Path(study).expanduser().resolve()) if out.table_path is not None else pd.DataFrame()
    if len(table):
        mine = table[[(m, d) in grid for m, d in zip(table["model"], table["dataset"])]]
        keep = set(out.table[["model", "dataset", "axis", "prompts", "precision"]].astype(str).apply(tuple, axis=1)) \
            if out.table is not None and len(out.table) else set()
        table = mine[mine[["model", "dataset", "axis", "prompts", "precision"]].astype(str)
                     .apply(tuple, axis=1).isin(keep)].reset_index(drop=True)
    failed = {f"{r.model} x {r.dataset}": r.error for r in out.failed}
    table.attrs["failed"] = failed
    if failed:
        warnings.warn(f"{len(failed)} unit(s) failed (the others ran): " +
                      "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3]), stacklevel=2)
    return table
