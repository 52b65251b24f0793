"""One module per study axis: its declaration, its runner evaluator, its records, lab and live parts as tidy
frames, its figures and its effects.

A chapter notebook holds markdown, a one-line parameters cell and short calls into its axis module and
`clipstudy.plots`. Each module declares its `AXIS` (`core.Axis`, registered at import); `all_axes()` imports
every module of this package and the plugins named in `CLIPSTUDY_PLUGINS`, so the registry is complete
without a list to keep in step: the runner's axes, the `@` dataset collections and the book's live grid all
derive from it.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Sequence

from .core import FACTORS, REGISTRY, Axis, Effects, IdLookup, Outputs, Row, register, row

__all__ = ["Axis", "Effects", "FACTORS", "IdLookup", "Outputs", "Row", "register", "row", "all_axes", "of_chapter",
           "runner_axes", "runner", "resolve", "unit_versions"]


def all_axes() -> list[Axis]:
    """Every registered axis, in chapter order (importing each axis module and each plugin once)."""
    from .. import plugins

    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_") and m.name != "core":
            importlib.import_module(f"{__name__}.{m.name}")
    plugins.load()  # a plugin may declare an axis of its own
    return sorted(REGISTRY.values(), key=lambda a: a.chapter)


def of_chapter(stem: str) -> Axis | None:
    """The axis whose chapter is the notebook `stem` (None for a notebook without an axis module)."""
    return next((a for a in all_axes() if a.chapter == stem), None)


def runner_axes() -> dict[str, Axis]:
    """The axes the study runner evaluates, by runner name, in chapter order."""
    return {a.runner: a for a in all_axes() if a.evaluate is not None}


def runner(name: str) -> Axis:
    """The axis of a runner name (`clipstudy run --axes NAME`); unknown names raise with the close ones."""
    from ..errors import UnknownNameError

    axes = runner_axes()
    if name not in axes:
        raise UnknownNameError("axis", name, list(axes) + ["all"])
    return axes[name]


def resolve(axes: Sequence[str] | str) -> list[str]:
    """`all`, or a comma-separated list of runner axis names (each checked)."""
    items = [a.strip() for a in (axes.split(",") if isinstance(axes, str) else axes) if a.strip()]
    if not items or items == ["all"]:
        return list(runner_axes())
    for a in items:
        runner(a)
    return list(dict.fromkeys(items))


def unit_versions(task: str) -> dict[str, int]:
    """The versions of the axes that read a unit of `task`: part of the unit's key, so bumping one axis'
    version re-runs only the units that axis reads."""
    return {a.runner: a.version for a in runner_axes().values() if task in a.tasks}
