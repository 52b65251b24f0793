"""The study runner (`clipstudy run`): the grid of models x datasets, planned against the store, executed
on the local machine, on SLURM through submitit, or on Ray, and evaluated into one tidy results table.

    >>> from clipstudy import run
    >>> out = run.run(["ViT-B-32/openai"], ["@shifts"], axes="shifts,calibration", study="study")
    >>> run.read("study", axis="calibration")      # what the chapters' live sections read

Modules: `unit` (one unit and its idempotent execution), `plan` (the grid against the store), `data` (the
datasets units read), `evaluate` (every runner axis' rows from the stored outputs; the table itself is `clipstudy.results`), `executors` (by name:
`local`, `slurm`, `ray`), `runner` (the three steps).
"""
from __future__ import annotations

from ..results import read_study as read, study_path as table_path
from .plan import Plan, plan
from .runner import SUMMARY_KEYS, Outcome, RunInterrupted, Summary, run
from .unit import Unit, UnitResult

__all__ = ["Outcome", "Plan", "RunInterrupted", "SUMMARY_KEYS", "Summary", "Unit", "UnitResult", "plan", "read",
           "run", "table_path"]
