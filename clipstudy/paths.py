"""Checks of the paths a command will write, made before any work: a folder that is a file, a folder under a
file, a read-only folder or file fails now, in one line naming the option, not after the work as a traceback."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ClipstudyError


class PathError(ClipstudyError):
    """A path given to write into cannot be written."""


def _nearest(path: Path) -> Path:
    probe = path
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    return probe


def writable_dir(path: str | os.PathLike, option: str) -> Path:
    """`path` as a folder that exists or can be made, and written; `option` names where it came from
    (`--out`, `--dest`, `CLIPSTUDY_CACHE`, ...). Returns the expanded path; creates nothing."""
    if str(path).strip() == "":
        raise PathError(f"{option} is empty; give a folder")
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise PathError(f"{option} {path} is a file; give a folder")
    probe = _nearest(path)
    if not probe.is_dir():
        raise PathError(f"{option} {path}: {probe} is a file, so no folder can be made under it; give another folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PathError(f"{option} {path}: {probe} is not writable for this user; give a folder you can write")
    return path


def writable_file(path: str | os.PathLike, option: str) -> Path:
    """`path` as a file that can be (re)written: not a folder, and in a folder that exists or can be made."""
    if str(path).strip() == "":
        raise PathError(f"{option} is empty; give a file name")
    path = Path(path).expanduser()
    if path.is_dir():
        raise PathError(f"{option} {path} is a folder; give a file name")
    writable_dir(path.parent, f"{option} {path}: its folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise PathError(f"{option} {path} is read-only; give another file")
    return path
