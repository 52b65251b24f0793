"""The executors a grid can run on, by name; each module is imported only when chosen, so submitit and
Ray stay optional (`pip install clipstudy[slurm]`, `clipstudy[ray]`)."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol, Sequence

from ..errors import ClipstudyError, UnknownNameError
from .unit import Unit, UnitResult

EXECUTORS: dict[str, tuple[str, str, str]] = {  # name -> (module, class, pip extra)
    "local": ("clipstudy.run.local", "LocalExecutor", ""),
    "slurm": ("clipstudy.run.slurm", "SlurmExecutor", "slurm"),
    "ray": ("clipstudy.run.raycluster", "RayExecutor", "ray"),
}


class Executor(Protocol):
    name: str

    def device_kind(self, device: str) -> str:
        """cpu | cuda: where the units will run (part of their key)."""

    def run(self, units: Sequence[Unit], on_result: Callable[[UnitResult], None]) -> None:
        """Run every unit, calling `on_result` as each finishes (in any order)."""


def get(name: str, **options: Any) -> Executor:
    """An executor by name; a missing optional engine says which extra installs it."""
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, list(EXECUTORS))
    module, cls, extra = EXECUTORS[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ClipstudyError(f"--executor {name} needs {e.name}: pip install 'clipstudy[{extra}]' "
                             f"(or pip install {e.name})") from e
    return getattr(mod, cls)(**options)


def chunks(units: Sequence[Unit], n: int) -> list[list[Unit]]:
    """`units` in at most `n` lists of near-equal length, each a run of consecutive units (the plan is
    model-major, so a list mostly holds one model: it loads once per job)."""
    n = max(1, min(n, len(units)))
    size, extra = divmod(len(units), n)
    out, i = [], 0
    for k in range(n):
        j = i + size + (1 if k < extra else 0)
        out.append(list(units[i:j]))
        i = j
    return [c for c in out if c]


def failed(units: Sequence[Unit], error: str) -> list[UnitResult]:
    return [UnitResult(u.key, u.model, u.dataset, "failed", error=error) for u in units]
