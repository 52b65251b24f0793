"""The one artifact store: a frozen key, its digest, atomic publish, safe load, locks.

Every cached artifact (encoded features, zero-shot heads, lab sets, lab models, mini-LLaVA, the lab's severity
table, the runner's unit records) is named by a `Key`: what it was computed from (kind, model, weights, data,
transform, precision and extras). Two different inputs never share a name, and changing what identifies an
artifact touches this file only: the key of each kind is built by one function below (`feature_key`,
`head_key`, `head_lock_key`, `lab_set_key`, `lab_model_key`, `severity_key`, `llava_key`, `unit_key`).
Files are published by writing a temporary file in the same folder and renaming it, so a reader never sees
half a file; `safe_load` reads with `weights_only=True`; `discard` is the one place that removes a damaged or
stale entry (and only such a one) so that it is recomputed. An entry with a record (`save_entry`) is complete
when its record, written last, names its key and the sha256 of its file.
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
import warnings
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
        readable = f"{self.model}__{label}" if label else self.model
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in readable)[:80]
        return f"{slug}__{self.digest()}"


# ----------------------------------------------------------------- the key of each kind of artifact
def feature_key(model: str, weights: str, dataset: str, transform: str = "default", subset: str = "all", *,
                kind: str = "features", data: str | None = None, precision: str = "", **extra: Any) -> Key:
    """Encoded features of one dataset: model id, weights id, dataset id plus the fingerprint of its files
    (`data`), transform, precision, subset and the engine's extras (n, normalize)."""
    return Key.of(kind, model, weights, f"{dataset}#{data}" if data else dataset, transform, precision,
                  subset=subset, **extra)


def head_key(model: str, weights: str, prompts: list[list[str]], precision: str) -> Key:
    """A zero-shot head: the model and its weights, the filled prompts themselves and the precision."""
    return feature_key(model, weights, "zero-shot-head", digest(prompts, 24), kind="head", precision=precision)


def head_lock_key(model: str, classnames: list[str], prompts: str, precision: str) -> Key:
    """The lock under which runner workers build one shared zero-shot head (classes x prompt set x precision)."""
    return Key.of("head-lock", model, data=digest(classnames, 24), transform=prompts, precision=precision)


def lab_set_key(name: str, config: dict, n: int, seed: int, size: int, world_version: Any,
                levels: dict | None = None) -> Key:
    """A rendered lab set: its name, the world config, size, seed, image size, the world's version and (lab-3dcc)
    the calibrated corruption levels."""
    return Key.of("lab-set", name, data=f"{n}x{size}px-seed{seed}", config=config, n=n, seed=seed, size=size,
                  world=world_version, **({"levels": levels} if levels else {}))


def lab_model_key(name: str, recipe: dict, profile: dict, world_version: Any, train_version: Any,
                  parent: str | None) -> Key:
    """A trained lab model: what its weights depend on (recipe fields, profile, world and training code
    versions, and the key of the model a fine-tune starts from); `name` only labels the file."""
    return Key.of("lab-model", name, recipe=recipe, profile=profile, world=world_version, train=train_version,
                  parent=parent)


def severity_key(base_model: str, grid: list, n: int, seed: int, size: int, version: Any) -> Key:
    """The lab's 3D-corruption calibration table: the base model it was measured on, the grid, the scenes."""
    return Key.of("lab-severity", "lab:base", base_model, grid=grid, n=n, seed=seed, size=size, version=version)


def llava_key(clip: str, clip_weights: str, settings: dict, vocab: int, version: Any) -> Key:
    """A mini-LLaVA: the weights of the CLIP it sits on, its settings, vocabulary and code version."""
    return Key.of("llava", clip, clip_weights, settings=settings, vocab=vocab, version=version)


def unit_key(model: str, data: str, precision: str, versions: dict[str, int] | None = None, **extra: Any) -> Key:
    """A unit of the study runner: one (model, dataset) at one precision on one device kind. `versions` are those
    of the axes that read it (`axes.unit_versions`), so bumping one axis' version re-runs only its units."""
    return Key.of("unit", model, data=data, precision=precision, versions=dict(sorted((versions or {}).items())),
                  **extra)


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


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Move a finished temporary file into place in one step (an executed chapter, say): readers see the old
    file or the new one, never half of it."""
    _publish(str(tmp), Path(path))


class NoSpaceError(CacheError):
    """A file could not be written for want of space (a full disk, a quota, a file-size limit); `path` is it."""

    def __init__(self, fact: str, hint: str, path: Path):
        super().__init__(f"{fact} {hint}")
        self.fact, self.path = fact, Path(path)  # what happened, without the advice (callers give their own)


def _no_space(e: OSError, path: Path) -> ClipstudyError | None:
    """The error of a write that failed for want of space, naming the file, its folder and the variable that
    moves it: CLIPSTUDY_CACHE or CLIPSTUDY_DATA for files under those roots; callers that own other folders
    (the runner's --study) say their option."""
    why = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
           errno.EFBIG: "the file grew past the file-size limit (ulimit -f)"}.get(e.errno)
    if why is None:
        return None
    from .config import cache_root, data_root

    where = Path(path).resolve().parent
    hint = "Free space, or write it to a folder on another disk."
    for var, root in (("CLIPSTUDY_CACHE", cache_root()), ("CLIPSTUDY_DATA", data_root())):
        if where == root.resolve() or root.resolve() in where.parents:
            hint = f"Free space, or set {var} to a folder on another disk."
            break
    return NoSpaceError(f"{why}: {path.name} was not written in {where} (its partial file was removed).", hint,
                        path)


def _host() -> str:
    import socket

    return "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40] or "host"


def _tmp_prefix(path: Path) -> str:
    """`NAME.HOST.PID.`: a temporary file names its writer, so a later sweep can tell a dead writer's
    leftover (SIGKILL, an OOM kill, a worker stopped on Ctrl-C) from a live writer's file."""
    return f"{path.name}.{_host()}.{os.getpid()}."


STALE_TMP_SECONDS = 24 * 3600  # another host's leftover is removed once it is this old


def sweep_tmp(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Remove the temporary files (`*.tmp`) under `folder` whose writer is dead: a process of this host that
    no longer runs, or any writer when the file is older than STALE_TMP_SECONDS. A live writer's file is
    kept. Returns what was removed. Nothing is ever read from a `.tmp`; this only stops them piling up."""
    import time

    folder = Path(folder)
    if not folder.is_dir():
        return []
    host, now, gone = _host(), time.time(), []
    for f in (folder.rglob("*.tmp") if recursive else folder.glob("*.tmp")):
        parts = f.name.split(".")
        pid = parts[-3] if len(parts) >= 5 else ""
        try:
            old = now - f.lstat().st_mtime > STALE_TMP_SECONDS
        except OSError:
            continue
        dead = old
        if not dead and pid.isdigit() and parts[-4] == host:
            dead = not _alive(int(pid))
        if dead:
            f.unlink(missing_ok=True)
            gone.append(f)
    return gone


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not: it writes nothing more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def atomic_write(path: Path, write, mode: str = "wb") -> None:
    """Call `write(f)` on a temporary file in `path`'s folder, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent)
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


def discard(*paths: Path, why: str = "") -> None:
    """Remove the files of a damaged or stale entry so that it is recomputed, never read: the one place that
    deletes from the store. `why` (when given) is said as a warning."""
    for p in paths:
        Path(p).unlink(missing_ok=True)
    if why:
        warnings.warn(why, stacklevel=3)


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
        discard(path)
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
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested past the parser's depth
        obj = None
    except OSError as e:
        raise CacheError(f"cannot read {path} ({e.strerror or e}); the file was kept") from e
    if not isinstance(obj, dict) or any(f not in obj for f in required):
        discard(path)
        return None
    return obj


# ----------------------------------------------------------------- entries with a record
def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_DIGESTS: dict[tuple, str] = {}  # (real path, size, mtime_ns, inode, ctime_ns) -> SHA-256


def file_digest(path: str | os.PathLike, raw: bytes | None = None) -> str:
    """The SHA-256 of what reading `path` gives (a symlink is followed: its target's bytes), computed once per
    (real path, size, mtime_ns, inode) and cached for this process. The key also holds ctime_ns, which no
    copy can set: `cp -p` of another same-size file over this one keeps its inode and may keep its mtime, but
    not its ctime. `raw`, when given, is the file's bytes already read (hashed instead of reading again)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    got = _DIGESTS.get(key)
    if got is None:
        got = hashlib.sha256(raw).hexdigest() if raw is not None else sha256_file(real)
        _DIGESTS[key] = got
    return got


def _record_path(path: Path, record_path: Path | None) -> Path:
    return Path(record_path) if record_path is not None else Path(path).with_suffix(".json")


def save_entry(obj: Any, path: Path, record: dict, record_path: Path | None = None) -> dict:
    """Publish `obj` at `path`, then its record (with the file's sha256) next to it, last: the record marks
    the entry complete. Returns the record as written."""
    path = Path(path)
    atomic_save(obj, path)
    record = dict(record, sha256=sha256_file(path))
    atomic_write_text(json.dumps(record, indent=1, default=str), _record_path(path, record_path))
    return record


def check_entry(path: Path, key: str, record_path: Path | None = None, what: str = "") -> dict | None:
    """The record of a complete entry whose record names `key` and whose file matches the recorded sha256;
    None otherwise. A half-written entry (one file without the other) is discarded quietly; a file that does
    not match its record is discarded with a warning that names `what`."""
    path, rec_path = Path(path), _record_path(path, record_path)
    if not path.exists() or not rec_path.exists():
        if path.exists() != rec_path.exists():  # one without the other: an interrupted write
            discard(path, rec_path)
        return None
    rec = load_json(rec_path)
    if rec is not None and rec.get("key") != key:  # made by another version or settings: stale, not damaged
        discard(path, rec_path, why=f"{what or path.name}: cached file {path} was made by another version or "
                                    "other settings; rebuilding")
        return None
    try:
        ok = rec is not None and rec.get("sha256") == sha256_file(path)
    except FileNotFoundError:
        ok = False
    if not ok:
        discard(path, rec_path, why=f"{what or path.name}: cached file {path} does not match its record; rebuilding")
        return None
    return rec


def load_entry(path: Path, key: str, record_path: Path | None = None, what: str = "") -> tuple[Any, dict] | None:
    """(object, record) of a complete entry (`check_entry`), read with `safe_load`; None when absent or damaged
    (a damaged entry is discarded)."""
    rec = check_entry(path, key, record_path, what)
    if rec is None:
        return None
    obj = safe_load(path)
    if obj is None:
        discard(path, _record_path(path, record_path),
                why=f"{what or Path(path).name}: cached file {path} is unreadable; rebuilding")
        return None
    return obj, rec


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
