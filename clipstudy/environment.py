"""The `CLIPSTUDY_*` environment variables, each read through one function here.

A value set from outside is parsed once, where it is used, and a bad one is the same one-line `EnvironmentValueError`
for every variable: its name, the value as given, what it expects and the default it falls back to when unset.
An empty (or blank) value counts as unset.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

from .errors import ClipstudyError



class EnvironmentValueError(ClipstudyError, ValueError):
    """A `CLIPSTUDY_*` variable holds a value clipstudy cannot use."""


def raw(name: str) -> str | None:
    """The variable's value, stripped; None when unset or blank."""
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def _fail(name: str, value: str, expected: str, default: object = None) -> EnvironmentValueError:
    shown = value if len(value) <= 60 else value[:57] + "..."
    unset = f"; unset it for the default ({default})" if default is not None else "; unset it"
    return EnvironmentValueError(f"{name}={shown!r}: expected {expected}{unset}")


def text(name: str, default: str = "") -> str:
    """A free-text variable (no control characters), or `default`."""
    value = raw(name)
    if value is None:
        return default
    if any(ord(c) < 32 for c in value):
        raise _fail(name, value, "text without control characters", default or None)
    return value


def number(name: str, default: float, *, minimum: float = 0.0, inclusive: bool = False,
           integer: bool = False, unit: str = "seconds", default_text: str | None = None) -> float:
    """A finite number (`integer`: a whole one, written as digits) above `minimum` (or equal to it, with
    `inclusive`), or `default` when unset (`default_text` says what that default means in the error)."""
    value = raw(name)
    if value is None:
        return default
    default = default_text or default
    bound = f"{minimum:g} or more" if inclusive else f"more than {minimum:g}"
    what = f"a whole number of {unit}, {bound}" if integer else f"a number of {unit}, {bound}"
    if integer:
        if not re.fullmatch(r"[+]?[0-9]{1,9}", value):
            raise _fail(name, value, what, default)
        n: float = int(value)
    else:
        try:
            n = float(value)
        except ValueError:
            raise _fail(name, value, what, default) from None
        if not math.isfinite(n):
            raise _fail(name, value, what, default)
    if n < minimum or (n == minimum and not inclusive):
        raise _fail(name, value, what, default)
    return n


def folder(name: str, default: Path) -> Path:
    """A folder named by the variable (`~` expanded), or `default`. The folder need not exist."""
    value = raw(name)
    if value is None:
        return Path(default).expanduser()
    if any(ord(c) < 32 for c in value):
        raise _fail(name, value, "a folder path without control characters", default)
    return Path(value).expanduser()


MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def modules(name: str) -> list[str]:
    """Comma-separated importable module names (`pkg.module`), each once, in order."""
    value = raw(name)
    if value is None:
        return []
    out = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in out if not MODULE.fullmatch(n)]
    if bad:
        raise _fail(name, value, f"comma-separated module names such as pkg.module, not {bad[0]!r}")
    return list(dict.fromkeys(out))


def repo(name: str) -> str | None:
    """A hub repo `ORG/NAME[@REVISION]`, or None when unset."""
    value = raw(name)
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?", value) or ".." in value:
        raise _fail(name, value, "a hub repo, ORG/NAME or ORG/NAME@REVISION")
    return value


# ----------------------------------------------------------------- every variable clipstudy reads
def data_root() -> Path:
    """CLIPSTUDY_DATA: the datasets and records folder (default ~/.cache/clipstudy/data)."""
    return folder("CLIPSTUDY_DATA", Path.home() / ".cache" / "clipstudy" / "data")


def cache_root() -> Path:
    """CLIPSTUDY_CACHE: the features and lab models folder (default ~/.cache/clipstudy/cache)."""
    return folder("CLIPSTUDY_CACHE", Path.home() / ".cache" / "clipstudy" / "cache")


def plugins() -> list[str]:
    """CLIPSTUDY_PLUGINS: modules the CLI and every chapter import first."""
    return modules("CLIPSTUDY_PLUGINS")


def hub_timeout(default: float = 5.0) -> float:
    """CLIPSTUDY_HUB_TIMEOUT: seconds the hub has to answer one HEAD request before cached weights are used."""
    return number("CLIPSTUDY_HUB_TIMEOUT", default)


def shard_seconds() -> float:
    """CLIPSTUDY_SHARD_SECONDS: seconds of encoding after which the engine closes a resumable shard (0: every
    batch)."""
    return number("CLIPSTUDY_SHARD_SECONDS", 60.0, inclusive=True)


def train_workers() -> int | None:
    """CLIPSTUDY_TRAIN_WORKERS: processes that train missing lab models side by side (None: one per core)."""
    n = number("CLIPSTUDY_TRAIN_WORKERS", 0, minimum=1, inclusive=True, integer=True, unit="processes",
               default_text="one per core")
    return int(n) or None


def ray_connect_timeout() -> float:
    """CLIPSTUDY_RAY_CONNECT_TIMEOUT: seconds `--ray-address` has to accept a connection."""
    return number("CLIPSTUDY_RAY_CONNECT_TIMEOUT", 30.0)


def lab_hub() -> str | None:
    """CLIPSTUDY_LAB_HUB: the hub repo the book fetches the lab zoo from (ORG/NAME[@REVISION]), or None."""
    return repo("CLIPSTUDY_LAB_HUB")


def chapter() -> str:
    """CLIPSTUDY_CHAPTER: set by each chapter's kernel, the chapter the feature cache's request log names."""
    return text("CLIPSTUDY_CHAPTER")


VARIABLES = {"CLIPSTUDY_DATA": data_root, "CLIPSTUDY_CACHE": cache_root, "CLIPSTUDY_PLUGINS": plugins,
             "CLIPSTUDY_HUB_TIMEOUT": hub_timeout, "CLIPSTUDY_SHARD_SECONDS": shard_seconds,
             "CLIPSTUDY_TRAIN_WORKERS": train_workers, "CLIPSTUDY_RAY_CONNECT_TIMEOUT": ray_connect_timeout,
             "CLIPSTUDY_LAB_HUB": lab_hub, "CLIPSTUDY_CHAPTER": chapter}


def check() -> None:
    """Parse every variable that is set, so a bad value fails before any work (the CLI calls this first)."""
    for name, read in VARIABLES.items():
        if raw(name) is not None:
            read()
