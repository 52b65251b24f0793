"""Shape bias on cue-conflict stimuli (Geirhos et al. 2019).

Only images whose shape class differs from their texture class count, and only decisions
that name one of the two: shape bias = shape hits / (shape hits + texture hits).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import to_numpy


def _column(x: Any, name: str) -> np.ndarray:
    arr = to_numpy(x)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of class names or ids, got shape {arr.shape}")
    return arr


def _kind(a: np.ndarray) -> str:
    return "name" if a.dtype.kind in "US" or isinstance(a.flat[0], str) else "id"


def shape_texture_hits(decisions: Any, shape_labels: Any, texture_labels: Any) -> dict[str, int]:
    """Counts over conflict images: dict(shape_hits, texture_hits, other, n_conflict).

    `other` are conflict-image decisions that are neither the shape nor the texture class.
    Labels may be class names or integer ids (compared with ==).
    """
    d = _column(decisions, "decisions")
    s = _column(shape_labels, "shape_labels")
    t = _column(texture_labels, "texture_labels")
    if not len(d) == len(s) == len(t):
        raise ValueError(
            f"decisions, shape_labels and texture_labels differ in length: {len(d)}, {len(s)}, {len(t)}"
        )
    kinds = {_kind(a) for a in (d, s, t) if a.size}
    if len(kinds) > 1:
        raise TypeError("decisions, shape_labels and texture_labels mix class names and integer ids; use one kind")
    conflict = s != t
    shape_hits = int(np.sum(conflict & (d == s)))
    texture_hits = int(np.sum(conflict & (d == t)))
    n_conflict = int(conflict.sum())
    return {
        "shape_hits": shape_hits,
        "texture_hits": texture_hits,
        "other": n_conflict - shape_hits - texture_hits,
        "n_conflict": n_conflict,
    }


def shape_bias(decisions: Any, shape_labels: Any, texture_labels: Any) -> float:
    """Shape hits / (shape + texture hits) over conflict images; NaN when there are no hits."""
    h = shape_texture_hits(decisions, shape_labels, texture_labels)
    total = h["shape_hits"] + h["texture_hits"]
    return h["shape_hits"] / total if total else float("nan")
