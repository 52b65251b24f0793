"""Checks of the paths a command will write, made before any work: a folder that is a file, a folder under a
file, a read-only folder or file fails now, in one line naming the option, not after the work as a traceback.

Writability is probed, not asked: `os.access` answers yes to root everywhere (under /proc and /sys, on a
read-only mount), so a folder is tried with a real temporary file, removed at once, and a file is opened for
appending (which changes neither its bytes nor its times)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ClipstudyError


class PathError(ClipstudyError):
    """A path given to write into cannot be written."""


def _nearest(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:  # lexists: never raises (a name too long, ...)
        probe = probe.parent
    return probe


def cannot_create_in(folder: Path) -> str | None:
    """Why no file can be created in the existing folder `folder`, or None (it is tried: see the module)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".clipstudy-probe-", dir=folder)
    except OSError as e:
        return e.strerror or type(e).__name__
    os.close(fd)
    try:
        os.unlink(name)
    except OSError:
        pass
    return None


def cannot_write(path: Path) -> str | None:
    """Why the existing file `path` cannot be written, or None (opened for appending, nothing written)."""
    try:
        with open(path, "ab"):
            pass
    except OSError as e:
        return e.strerror or type(e).__name__
    return None


def writable_dir(path: str | os.PathLike, option: str) -> Path:
    """`path` as a folder that exists or can be made, and written; `option` names where it came from
    (`--out`, `--dest`, `CLIPSTUDY_CACHE`, ...). Returns the expanded path; creates nothing."""
    if str(path).strip() == "":
        raise PathError(f"{option} is empty; give a folder")
    path = Path(path).expanduser()
    if any(len(part.encode()) > 255 for part in path.parts):
        raise PathError(f"{option} {path}: a folder name is longer than 255 bytes; give a shorter path")
    if os.path.exists(path) and not os.path.isdir(path):
        raise PathError(f"{option} {path} is a file; give a folder")
    probe = _nearest(path)
    if not probe.is_dir():
        raise PathError(f"{option} {path}: {probe} is a file, so no folder can be made under it; give another folder")
    why = cannot_create_in(probe)
    if why is not None:
        raise PathError(f"{option} {path}: {probe} is not writable (no file can be created in it: {why}); give a "
                        "folder you can write")
    return path


def writable_file(path: str | os.PathLike, option: str) -> Path:
    """`path` as a file that can be (re)written: not a folder, and in a folder that exists or can be made."""
    if str(path).strip() == "":
        raise PathError(f"{option} is empty; give a file name")
    path = Path(path).expanduser()
    if path.is_dir():
        raise PathError(f"{option} {path} is a folder; give a file name")
    writable_dir(path.parent, f"{option} {path}: its folder")
    if path.exists() and (why := cannot_write(path)) is not None:
        raise PathError(f"{option} {path} cannot be written ({why}); give another file")
    return path
