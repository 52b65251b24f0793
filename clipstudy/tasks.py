"""The task vocabulary (what an axis reads a dataset as), and the lab's evaluation sets with their tasks.

A leaf (standard library and `clipstudy.errors` only), so that the configuration, the collections and the
runner read the lab's sets without importing the lab (torch) or `clipstudy.config` (which `lab.sets` imports):
`clipstudy.lab.sets` renders these sets and describes them (`DESCRIPTIONS`, with `lab-train` and
`lab-multiview`, which no axis reads).
"""
from __future__ import annotations

from .errors import UnknownNameError

TASKS: tuple[str, ...] = ("classification", "ood", "retrieval", "shape-bias", "factors", "3d", "lmm")
# `lmm` is no dataset's task: it is the task of a runner unit whose model is an LMM (`llava:`) on a labelled
# set (its per-question answers to the two-choice protocol), which only the `lmm` axis reads
LMM = "lmm"

# the lab sets a model is evaluated on, in order, each with its task: `@lab`, the runner's lab grid, the profiles
LAB_SETS: dict[str, str] = {
    "lab-val": "classification", "lab-v2": "classification", "lab-sketch": "classification",
    "lab-silhouette": "classification", "lab-cue-conflict": "shape-bias", "lab-factors": "factors",
    "lab-3dcc": "3d", "lab-ood": "ood", "lab-retrieval": "retrieval",
}


def check(*tasks: str) -> None:
    """Raise UnknownNameError for a task not in TASKS."""
    for t in tasks:
        if t not in TASKS:
            raise UnknownNameError("task", t, TASKS)


check(*LAB_SETS.values())

__all__ = ["TASKS", "LMM", "LAB_SETS", "check"]
