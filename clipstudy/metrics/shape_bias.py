"""Shape bias on cue-conflict stimuli (Geirhos et al. 2019).

Only images whose shape class differs from their texture class count, and only decisions
that name one of the two: shape bias = shape hits / (shape hits + texture hits).

The decisions come from a zero-shot result (`live_decisions`: its 16-way head, or a 1000-way classifier's
probabilities aggregated to the 16 categories); `lab_shape_bias` and `live_shape_bias` score them against a
dataset frame's shape and texture labels (the lab's cue-conflict set, the real stimuli).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._arrays import to_numpy

if TYPE_CHECKING:
    import pandas as pd


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


def lab_shape_bias(decisions: Any, factors: pd.DataFrame) -> dict:
    """Shape bias and hit counts on lab-cue-conflict: `decisions` [N] predicted class ids, `factors`
    the set's frame (columns shape_label, texture_label). Adds shape_acc and texture_acc (fractions
    of conflict images decided by shape / by texture)."""
    for c in ("shape_label", "texture_label"):
        if c not in factors.columns:
            from ..errors import SchemaError

            raise SchemaError(f"lab_shape_bias: factors lacks {c!r}; build the set with sets.build('lab-cue-conflict')")
    d = np.asarray(decisions).astype(np.int64)
    s = factors["shape_label"].to_numpy().astype(np.int64)
    t = factors["texture_label"].to_numpy().astype(np.int64)
    hits = shape_texture_hits(d, s, t)
    n = max(hits["n_conflict"], 1)
    return dict(shape_bias=shape_bias(d, s, t), **hits, shape_acc=hits["shape_hits"] / n,
                texture_acc=hits["texture_hits"] / n)


def live_decisions(zs: Any, aggregate=None) -> np.ndarray:
    """16-way decisions of a zero-shot result: argmax of the direct head for a CLIP, or for a
    1000-way classifier (no head) the category with the highest mean probability (`aggregate`,
    e.g. datasets.cue_conflict.aggregate_probabilities, as the texture-vs-shape code does)."""
    import torch

    if zs.head is not None:
        return zs.logits.argmax(1).numpy()
    if aggregate is None:
        raise ValueError("a 1000-way classifier needs `aggregate` to map its probabilities to the 16 categories")
    probs = torch.softmax(zs.encoded.features.float(), dim=1)
    return np.asarray(aggregate(probs).argmax(1))


def live_shape_bias(decisions: Any, frame: pd.DataFrame) -> dict:
    """Shape bias on the real cue-conflict images from decisions aligned with `frame` (label =
    shape class, texture_label = texture class)."""
    d = np.asarray(decisions).astype(np.int64)
    s, t = frame["label"].to_numpy().astype(np.int64), frame["texture_label"].to_numpy().astype(np.int64)
    return dict(shape_bias=shape_bias(d, s, t), **shape_texture_hits(d, s, t))
