"""`results/eval.csv`: the tidy table `clipstudy eval` appends to, checked before a run and written
atomically under a lock, so concurrent evaluations never lose each other's rows."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from .errors import ClipstudyError
from .store import atomic_write_text, locked

REQUIRED = ("model", "dataset", "prompts", "metric", "value")
# One evaluation is identified by these columns: the same dataset name read from another folder, or in
# another precision, is another row.
IDENTITY = ("model", "dataset", "prompts", "precision", "root")


class ResultsError(ClipstudyError):
    """The output folder or its eval.csv cannot take new rows."""


def check(out: str | os.PathLike) -> Path:
    """The path of `out/eval.csv`, after checking that a run's rows can be written there.

    Called before any work: an `--out` that is a file, a folder that cannot be written, or an
    eval.csv that is not this table fails now, not after hours of encoding.
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--out {out} is a file; give a folder (eval.csv is written inside it)")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(f"--out {out}: {probe} is not a writable folder")
    path = out / "eval.csv"
    if path.exists():
        read(path)
        if not os.access(path, os.W_OK):
            raise ResultsError(f"{path} is read-only; choose another --out")
    return path


def read(path: Path) -> pd.DataFrame:
    """The rows of an existing eval.csv (an empty file is an empty table); a foreign file is an error."""
    if path.stat().st_size == 0:
        return pd.DataFrame(columns=list(REQUIRED))
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path} is not a clipstudy results table ({type(e).__name__}); move it away or "
                           "choose another --out") from e
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ResultsError(f"{path} is not a clipstudy results table: it lacks the column(s) {', '.join(missing)} "
                           f"(it has {', '.join(map(str, df.columns[:8]))}); move it away or choose another --out")
    return df


def lock_path(path: Path) -> Path:
    """The lock file beside a table (`eval.csv.lock`) that every read-modify-write of it holds (`store.locked`)."""
    return path.with_name(path.name + ".lock")


def upsert(path: Path, rows: pd.DataFrame, identity: Sequence[str] = IDENTITY) -> pd.DataFrame:
    """Replace the rows of the same evaluation (by `identity`) with `rows`; keep every other row."""
    with locked(lock_path(path)):
        old = read(path) if path.exists() else None
        if old is not None and len(old):
            ids = [c for c in identity if c in rows.columns]
            for c in ids:
                if c not in old.columns:
                    old[c] = pd.NA
            same = old[ids].astype(str).apply(tuple, axis=1).isin(set(rows[ids].astype(str).apply(tuple, axis=1)))
            table = pd.concat([old[~same], rows], ignore_index=True)
        else:
            table = rows.reset_index(drop=True)
        atomic_write_text(table.to_csv(index=False), path)
    return table
