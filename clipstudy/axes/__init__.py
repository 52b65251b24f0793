"""One module per study axis: its declaration, its runner evaluator, its records, lab and live parts as tidy
frames, its figures and its effects.

A chapter notebook holds markdown, a one-line parameters cell and short calls into its axis module and
`clipstudy.plots`. Each module declares its `AXIS` (`core.Axis`, registered at import); `all_axes()` imports
every module of this package and the plugins named in `CLIPSTUDY_PLUGINS`, so the registry is complete
without a list to keep in step: the runner's axes, the `@` dataset collections and the book's live grid all
derive from it.
"""
from __future__ import annotations

from typing import Sequence

from .core import FACTORS, REGISTRY, Axis, Effects, IdLookup, Outputs, Row, chapter_order, register, row

__all__ = ["Axis", "Effects", "FACTORS", "IdLookup", "Outputs", "Row", "chapter_order", "register", "row", "all_axes",
           "of_chapter",
           "runner_axes", "runner", "resolve", "unit_versions", "collections", "datasets", "expand_datasets"]


def all_axes() -> list[Axis]:
    """Every registered axis, in the declared chapter order (`core.chapter_order`), importing each axis module and
    each plugin once."""
    from .. import plugins

    REGISTRY.load()  # imports every axis module of this package
    plugins.load()  # a plugin may declare an axis of its own (CLIPSTUDY_PLUGINS, read again each time)
    return sorted(REGISTRY.values(), key=chapter_order)


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


def collections() -> dict[str, tuple[str, ...]]:
    """Every dataset collection (`@NAME` wherever dataset names are taken), derived: one per runner axis (the
    live datasets it declares: `@shifts`, `@factors`, `@shape`, `@calibration`, `@ood`, `@retrieval`, `@3d`, `@lmm`),
    `@lab` (the lab sets), `@book` (every live dataset a chapter reads) and `@wds` (CLIP_benchmark's
    webdatasets on the hub, `clipstudy.datasets.wds`)."""
    from .. import tasks
    from ..datasets import wds

    everything = all_axes()
    out = {a.runner: a.live for a in everything if a.runner and a.live}
    out["lab"] = tuple(tasks.LAB_SETS)
    out["book"] = tuple(dict.fromkeys(d for a in everything for d in a.live))
    out["wds"] = tuple(wds.PREFIX + n for n in wds.FAMILIES)
    return out


def datasets(name: str) -> list[str]:
    """The members of a dataset collection (`name` without the @)."""
    from ..errors import UnknownNameError

    found = collections()
    if name not in found:
        raise UnknownNameError("dataset collection", f"@{name}", [f"@{c}" for c in found])
    return list(found[name])


def expand_datasets(items: Sequence[str] | str) -> list[str]:
    """Dataset names with each `@COLLECTION` replaced by its members, each once, in order ("a,b" splits)."""
    from ..models import registry

    return registry.expand(items, datasets)
