"""`--model-info FILE.csv`: what a researcher declares about their models, where no config says it.

One row per model, `model` naming it (any name form), and any of the project's factor columns
(`factors.COLUMN`: `family`, `data`, `samples_seen`, `finetuned`, `loss`) plus `parent`, the model a fine-tune came
from. An empty cell declares nothing (what the model's own config says, or unknown, stays). The file is
validated whole before anything runs (`read`): an unknown column, a model named twice, a value outside the
factor's vocabulary, a fine-tune without a parent or a model that is its own parent is an error naming the line.

Declared values overlay the resolved spec of each named model (`apply`, which `models.registry.get` calls), so
every part of the study that reads a model's factors (the model frame, each chapter's factor contrasts, the
claims page) sees them; a declared fine-tuned model and its `parent` form a fine-tuning pair (claim C3).

The file travels to papermill's kernels and the runner's workers in `CLIPSTUDY_MODEL_INFO` (its path), which the
CLI sets after validating it.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import factors
from ..errors import ClipstudyError

if TYPE_CHECKING:
    from .spec import ModelSpec

ENV = "CLIPSTUDY_MODEL_INFO"
MODEL = "model"
PARENT = "parent"
FACTOR_COLUMNS: tuple[str, ...] = tuple(factors.COLUMN[k] for k in factors.TRAINING)
COLUMNS: tuple[str, ...] = (MODEL, *FACTOR_COLUMNS, PARENT)
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")


class ModelInfoError(ClipstudyError):
    """A --model-info file that cannot be read as declared factors."""


@dataclass(frozen=True)
class Declared:
    """What one row declares: only the fields it gives (`fields`: ModelSpec field -> value)."""

    model: str
    fields: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.fields)


def _value(column: str, text: str, where: str) -> Any:
    """A cell as the ModelSpec field's type, checked against the factor's vocabulary."""
    t = text.strip()
    if column == "family":
        if t not in factors.ARCHITECTURES:
            raise ModelInfoError(f"{where}: family {t!r} is not one of {', '.join(factors.ARCHITECTURES)}")
        return t
    if column == "loss":
        if t not in factors.LOSSES:
            raise ModelInfoError(f"{where}: loss {t!r} is not one of {', '.join(factors.LOSSES)}")
        return t
    if column == "finetuned":
        if t.lower() not in TRUE + FALSE:
            raise ModelInfoError(f"{where}: finetuned {t!r} is not true or false")
        return t.lower() in TRUE
    if column == "samples_seen":
        try:
            v = float(t)
        except ValueError:
            v = math.nan
        if not math.isfinite(v) or v <= 0:
            raise ModelInfoError(f"{where}: samples_seen {t!r} is not a positive number (e.g. 34e9)")
        return v
    if column == "data":
        if any(c in t for c in ",;\t\n") or not t.isprintable():
            raise ModelInfoError(f"{where}: data {t!r} is not a data source name (e.g. laion2b, or your own)")
        return t
    return t  # parent: checked with the other rows


def read(path: str | os.PathLike) -> dict[str, Declared]:
    """The declarations of a --model-info file by model name, validated whole (see the module docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelInfoError(f"--model-info {path}: no such file (a CSV with columns {', '.join(COLUMNS)})")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ModelInfoError(f"--model-info {path}: unreadable ({type(e).__name__}: {e})") from e
    if not rows:
        raise ModelInfoError(f"--model-info {path}: no rows (a header with {MODEL} and factor columns, then one row "
                             "per model)")
    unknown = [c for c in header if c not in COLUMNS]
    if MODEL not in header or unknown or None in header:
        raise ModelInfoError(f"--model-info {path}: its columns are {', '.join(map(str, header))}; expected "
                             f"{MODEL} and any of {', '.join(COLUMNS[1:])}" +
                             (f" (unknown: {', '.join(map(str, unknown))})" if unknown else ""))
    out: dict[str, Declared] = {}
    for i, r in enumerate(rows, start=2):
        where = f"--model-info {path}, line {i}"
        if None in r:
            raise ModelInfoError(f"{where}: more cells than columns")
        name = (r.get(MODEL) or "").strip()
        if not name:
            raise ModelInfoError(f"{where}: no model name")
        if name in out:
            raise ModelInfoError(f"{where}: {name} is declared twice")
        fields = {c: _value(c, r[c], where) for c in COLUMNS[1:] if (r.get(c) or "").strip()}
        if fields.get(PARENT) == name:
            raise ModelInfoError(f"{where}: {name} cannot be its own parent")
        if fields.get("finetuned") is True and not fields.get(PARENT):
            raise ModelInfoError(f"{where}: {name} is declared fine-tuned; name its parent (the model it was "
                                 "fine-tuned from) so it can be compared with it")
        out[name] = Declared(name, tuple(fields.items()))
    return out


_CACHE: dict[tuple[str, int, int], dict[str, Declared]] = {}


def declared() -> dict[str, Declared]:
    """The declarations of the file in `CLIPSTUDY_MODEL_INFO` (none when unset), read once per file version."""
    path = os.environ.get(ENV)
    if not path:
        return {}
    try:
        st = os.stat(path)
    except OSError as e:
        raise ModelInfoError(f"{ENV}={path}: the model-info file is gone ({type(e).__name__})") from e
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = read(path)
    return _CACHE[key]


def use(path: str | os.PathLike | None) -> dict[str, Declared]:
    """Validate `path` and declare it for this process and every process it starts (`CLIPSTUDY_MODEL_INFO`);
    None leaves the environment as it is."""
    if path is None:
        return declared()
    got = read(path)
    os.environ[ENV] = str(Path(path).expanduser().resolve())
    return got


def apply(spec: ModelSpec) -> ModelSpec:
    """`spec` with what the model-info file declares for its name laid over it."""
    d = declared().get(spec.name)
    return dataclasses.replace(spec, **d.as_dict()) if d is not None else spec
