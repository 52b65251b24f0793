"""One module per study axis: its records, lab and live parts as tidy frames, its figures and its effects.

A chapter notebook holds markdown, a one-line parameters cell and short calls into its axis module and
`clipstudy.plots`. Each module declares its `AXIS` (`core.Axis`, registered at import); `all_axes()` imports
every module of this package, so the registry is complete without a list to keep in step.
"""
from __future__ import annotations

import importlib
import pkgutil

from .core import FACTORS, REGISTRY, Axis, Effects, register

__all__ = ["Axis", "Effects", "FACTORS", "register", "all_axes", "of_chapter"]


def all_axes() -> list[Axis]:
    """Every registered axis, in chapter order (importing each axis module once)."""
    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_") and m.name != "core":
            importlib.import_module(f"{__name__}.{m.name}")
    return sorted(REGISTRY.values(), key=lambda a: a.chapter)


def of_chapter(stem: str) -> Axis | None:
    """The axis whose chapter is the notebook `stem` (None for a notebook without an axis module)."""
    return next((a for a in all_axes() if a.chapter == stem), None)
