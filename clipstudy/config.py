"""Data and cache roots (CLIPSTUDY_DATA, CLIPSTUDY_CACHE), device choice, and the live evidence marks of a build.

The build profiles are `clipstudy.profiles`."""
from __future__ import annotations

import os
from pathlib import Path

from .deprecations import module_getattr


def data_root() -> Path:
    """Datasets and records; `CLIPSTUDY_DATA`, default ~/.cache/clipstudy/data."""
    from . import environment

    return environment.data_root()


def cache_root() -> Path:
    """Features and lab models; `CLIPSTUDY_CACHE`, default ~/.cache/clipstudy/cache."""
    from . import environment

    return environment.cache_root()


def resolve_device(device: str = "auto") -> str:
    """'auto' picks cuda when present; an explicit 'cuda' without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        from .errors import ClipstudyError

        raise ClipstudyError("--device cuda was asked for, but torch sees no CUDA GPU; use --device cpu or auto.")
    return device


# ---------------------------------------------------------------------------------------------- live marks

PIPELINE_CHECK = ("Pipeline check (random weights), not a finding: this profile checks that the live path runs "
                  "end to end; its live numbers measure nothing about real models.")
LIVE_EVIDENCE = "evidence.json"  # beside the live grid's results.csv: whether its numbers are a pipeline check


def live_yours(results_dir: str | os.PathLike) -> list[str]:
    """The researcher's own live models (`clipstudy build --models`) named in the build's live evidence mark."""
    import json

    try:
        body = json.loads((Path(results_dir) / "live" / LIVE_EVIDENCE).read_text())
    except (OSError, ValueError):
        return []
    return [str(m) for m in body.get("yours") or []]


def live_pipeline_check(results_dir: str | os.PathLike) -> str | None:
    """Why the live evidence under `results_dir` is a pipeline check (the build's mark), or None: real evidence,
    or no mark."""
    import json

    path = Path(results_dir) / "live" / LIVE_EVIDENCE
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return str(body.get("why") or PIPELINE_CHECK) if body.get("pipeline_check") else None


__getattr__ = module_getattr(__name__)  # deprecated names: the build profiles are in clipstudy.profiles
