"""Turn numpy / torch / list inputs into checked numpy arrays (private)."""
from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any, dtype: Any = None, name: str = "input") -> np.ndarray:
    """numpy view of `x` (torch tensors are detached and moved to CPU first)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            x = x.float()
        x = x.numpy()
    arr = np.asarray(x)
    if dtype is not None:
        if np.issubdtype(np.dtype(dtype), np.floating) and not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
        ):
            raise TypeError(f"{name}: expected numbers, got dtype {arr.dtype}")
        arr = arr.astype(dtype, copy=False)
    return arr


def as_float(x: Any, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """float64 array, optionally with a required number of dimensions; NaN/inf rejected."""
    arr = to_numpy(x, np.float64, name)
    _check_ndim(arr, name, ndim)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf values")
    return arr


def as_labels(labels: Any, n: int, name: str = "labels", n_classes: int | None = None) -> np.ndarray:
    """int64 class indices of length n, in [0, n_classes) when n_classes is given."""
    arr = to_numpy(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of class indices, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{name}: length {len(arr)} does not match the {n} predictions")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name}: expected integer class indices, got non-integer floats")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"{name}: expected integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if n_classes is not None and len(arr) and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name}: class indices must lie in [0, {n_classes}); got range [{arr.min()}, {arr.max()}]"
        )
    return arr


def check_nonempty(n: int, name: str) -> None:
    if n == 0:
        raise ValueError(f"{name}: no samples (empty array)")


def _check_ndim(arr: np.ndarray, name: str, ndim: int | tuple[int, ...] | None) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name}: expected a {want} array, got shape {arr.shape}")


def stable_rank(scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of column idx[i] in row i of `scores` under a stable descending sort.

    Ties are broken by column index (lower index first), the order `np.argmax` and
    `np.argsort(-s, kind="stable")` use, so top-1 agrees with argmax.
    """
    target = np.take_along_axis(scores, idx[:, None], axis=1)
    greater = (scores > target).sum(axis=1)
    cols = np.arange(scores.shape[1])[None, :]
    tied_before = ((scores == target) & (cols < idx[:, None])).sum(axis=1)
    return greater + tied_before
