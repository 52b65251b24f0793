"""Shape vs texture bias (chapter 04): lab cue-conflict, and decisions of live models on real stimuli.

Shape bias = shape hits / (shape + texture hits) over conflict images only (metrics.shape_bias).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def lab_shape_bias(decisions: Any, factors: pd.DataFrame) -> dict:
    """Shape bias and hit counts on lab-cue-conflict: `decisions` [N] predicted class ids, `factors`
    the set's frame (columns shape_label, texture_label). Adds shape_acc and texture_acc (fractions
    of conflict images decided by shape / by texture)."""
    from ..metrics import shape_bias, shape_texture_hits

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


def align(frame: pd.DataFrame, keys: list[str], key: str = "key") -> pd.DataFrame:
    """Rows of a dataset frame in the order of the engine's encoded keys (skipped images drop out)."""
    f = frame.set_index(key)
    missing = [k for k in keys if k not in f.index]
    if missing:
        raise KeyError(f"{len(missing)} encoded keys are not in the dataset frame, e.g. {missing[:3]}")
    return f.loc[list(keys)].reset_index()


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
    from ..metrics import shape_bias, shape_texture_hits

    d = np.asarray(decisions).astype(np.int64)
    s, t = frame["label"].to_numpy().astype(np.int64), frame["texture_label"].to_numpy().astype(np.int64)
    return dict(shape_bias=shape_bias(d, s, t), **shape_texture_hits(d, s, t))
