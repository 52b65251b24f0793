"""The one artifact store: a frozen key, its digest, atomic publish, safe load, locks.

Every artifact (encoded features, zero-shot heads, the runner's unit records) is named by a
`Key`: what it was computed from (kind, model, weights, data, transform, precision and extras).
Two different inputs never share a name, and changing what identifies an artifact touches this
file only. Files are published by writing a temporary file in the same folder and renaming it,
so a reader never sees half a file; `safe_load` reads with `weights_only=True` and removes a
damaged file (and only a damaged one) so that it is recomputed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import hashlib
import json
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from .errors import ClipstudyError


class CacheError(ClipstudyError):
    """The cache folder cannot be used (a file in its place, read-only, disk full)."""


def digest(obj: Any, n: int = 16) -> str:
    """Stable short hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _freeze(v: Any) -> Any:
    """A hashable, JSON-stable form of a key value (lists and dicts become tuples)."""
    if isinstance(v, dict):
        return tuple(sorted((str(k), _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


@dataclass(frozen=True)
class Key:
    """What an artifact was computed from. `name` (a readable slug plus the digest) is its folder."""

    kind: str  # features | head | unit | ...
    model: str
    weights: str = ""
    data: str = ""
    transform: str = ""
    precision: str = ""
    extra: tuple = ()  # sorted (name, value) pairs

    @classmethod
    def of(cls, kind: str, model: str, weights: str = "", data: str = "", transform: str = "",
           precision: str = "", **extra: Any) -> "Key":
        return cls(kind, model, weights or "", data or "", transform or "", precision or "",
                   tuple(sorted((k, _freeze(v)) for k, v in extra.items())))

    def fields(self) -> dict:
        return dict(dataclasses.asdict(self), extra=[list(kv) for kv in self.extra])

    def digest(self, n: int = 16) -> str:
        return digest(self.fields(), n)

    @property
    def name(self) -> str:
        label = self.data.split("#", 1)[0]
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{self.model}__{label}")[:80]
        return f"{slug}__{self.digest()}"


# ----------------------------------------------------------------- atomic publish
@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)  # read it the only way POSIX allows, once per process
    os.umask(mask)
    return mask


def _publish(tmp: str, path: Path) -> None:
    """Give the temporary file the mode a plain open() would (mkstemp's is 0600: a shared cache needs the
    group to read it), then rename it into place."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _no_space(e: OSError, path: Path) -> ClipstudyError | None:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return CacheError(f"no space left on the device of {path.parent}: nothing was written there "
                          f"(the partial file was removed). Free space or set CLIPSTUDY_CACHE to another disk.")
    return None


def atomic_write(path: Path, write, mode: str = "wb") -> None:
    """Call `write(f)` on a temporary file in `path`'s folder, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        _publish(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and _no_space(e, path) is not None:
            raise _no_space(e, path) from e
        raise


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then os.replace."""
    atomic_write(Path(path), lambda f: torch.save(obj, f), "wb")


def atomic_write_text(text: str, path: Path) -> None:
    atomic_write(Path(path), lambda f: f.write(text), "w")


# ----------------------------------------------------------------- safe load
# What torch.load raises for a file that is not a whole torch archive: damage, not an access problem.
DAMAGE = (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, RuntimeError, ValueError, KeyError,
          AttributeError, IndexError, TypeError)


def safe_load(path: Path) -> Any | None:
    """torch.load(weights_only=True), or None when the file is damaged (and then it is removed).

    An OSError other than damage (permission denied, I/O error) is raised, and the file is kept:
    one failed read must never cost finished work.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except DAMAGE:
        Path(path).unlink(missing_ok=True)
        return None
    except OSError as e:
        raise CacheError(f"cannot read {path} ({e.strerror or e}); the file was kept") from e


def load_json(path: Path, required: tuple[str, ...] = ()) -> dict | None:
    """A JSON object file, or None when absent or damaged (not an object, or lacking `required`): a
    damaged one is removed so that it is recomputed."""
    try:
        obj = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        obj = None
    except OSError as e:
        raise CacheError(f"cannot read {path} ({e.strerror or e}); the file was kept") from e
    if not isinstance(obj, dict) or any(f not in obj for f in required):
        Path(path).unlink(missing_ok=True)
        return None
    return obj


# ----------------------------------------------------------------- locks
@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive `flock` on the file `path` (created if missing), held for the block.

    The kernel releases it when the holder dies, even by SIGKILL, so a crashed worker never blocks
    the next run. (flock is per host on some network file systems; the store's atomic publish keeps
    entries whole even where two hosts race.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
