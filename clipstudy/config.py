"""Data and cache roots (CLIPSTUDY_DATA, CLIPSTUDY_CACHE) and device choice."""
from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """Datasets and records; `CLIPSTUDY_DATA`, default ~/.cache/clipstudy/data."""
    return Path(os.environ.get("CLIPSTUDY_DATA") or Path.home() / ".cache" / "clipstudy" / "data").expanduser()


def cache_root() -> Path:
    """Features and lab models; `CLIPSTUDY_CACHE`, default ~/.cache/clipstudy/cache."""
    return Path(os.environ.get("CLIPSTUDY_CACHE") or Path.home() / ".cache" / "clipstudy" / "cache").expanduser()


def resolve_device(device: str = "auto") -> str:
    """'auto' picks cuda when present; an explicit 'cuda' without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        from .errors import ClipstudyError

        raise ClipstudyError("--device cuda was asked for, but torch sees no CUDA GPU; use --device cpu or auto.")
    return device
