"""Old name of the curated registry, kept for code written against it: the data now lives in
`clipstudy/models/curated.csv` (read by `clipstudy.models.registry`), data sizes in `clipstudy.factors`."""
from __future__ import annotations

from .factors import DATA_SIZES  # noqa: F401
from .models.registry import _curated
from .models.spec import ModelSpec


def rows() -> list[dict]:
    """Every curated entry as a ModelSpec-shaped dict."""
    return [s.row() for s in _curated().values()]


def commonpool_filter(name: str) -> str | None:
    """'basic' | 'clip' | 'laion' | 'image' | 'text' | 'none' for CommonPool entries, else None."""
    tag = name.split("/", 1)[-1]
    if not tag.startswith("commonpool_"):
        return None
    part = tag.split("_")[2]
    return "none" if part.startswith("s") and part[1:].rstrip("mb").isdigit() else part


def specs() -> list[ModelSpec]:
    """The curated entries as ModelSpecs."""
    return list(_curated().values())
