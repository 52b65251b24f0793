"""The two tidy results tables, each checked before a run and written atomically under a lock, so concurrent
writers never lose each other's rows: `results/eval.csv`, which `clipstudy eval` appends to, and a study's
`results.csv`, which the study runner writes (one row per model, dataset, axis, part, metric, prompts and
precision) and the chapters' live sections read."""
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
# The study runner's table: one row per identity, with its value and n.
STUDY_COLUMNS = ["model", "dataset", "axis", "part", "metric", "value", "n", "prompts", "precision"]
STUDY_IDENTITY = ("model", "dataset", "axis", "part", "metric", "prompts", "precision")


class ResultsError(ClipstudyError):
    """The output folder or its eval.csv cannot take new rows."""


def check(out: str | os.PathLike) -> Path:
    """The path of `out/eval.csv`, after checking that a run's rows can be written there.

    Called before any work: an `--out` that is a file, a folder that cannot be written, or an
    eval.csv that is not this table fails now, not after hours of encoding.
    """
    from .paths import writable_dir

    path = writable_dir(out, "--out") / "eval.csv"
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


# ----------------------------------------------------------------- the study runner's results.csv
def study_path(study: str | Path) -> Path:
    return Path(study) / "results.csv"


class TableError(ClipstudyError):
    """A runner table in the study folder (results.csv, units.csv) is cut off, damaged or not this table."""


def read_strict(path: Path, columns: Sequence[str], *, text: Sequence[str] = (), ints: Sequence[str] = (),
                floats: Sequence[str] = (), what: str = "table") -> pd.DataFrame:
    """A table the runner wrote, read strictly (as `results.read` reads eval.csv, and more): it has `columns`,
    ends with a newline (every write is atomic and whole, so a file without one was cut off), and every row
    has a non-empty value in each `text` column, an integer in each `ints` column and a number (or nothing)
    in each `floats` column. Anything else raises TableError naming the file, the first bad line and the fix;
    an empty file is an empty table."""
    import io

    fix = "Move it away (or restore it from a copy); a run then writes a new one."
    raw = path.read_bytes()
    if not raw.strip():
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ints else "float64" if c in floats else object)
                             for c in columns})

    def bad(why: str) -> TableError:
        return TableError(f"{path} is not a clipstudy {what}: {why}. {fix}")

    try:
        df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise bad(f"it does not parse as CSV ({type(e).__name__}: {' '.join(str(e).split())[:120]})") from e
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise bad(f"it lacks the column(s) {', '.join(missing)} (it has {', '.join(map(str, df.columns[:10]))})")
    if not raw.endswith(b"\n"):
        last = raw.count(b"\n") + 1
        raise bad(f"it is cut off: its last line (line {last}) has no end")
    problems = []
    for c in text:
        problems += [(i, f"no {c}") for i in df.index[df[c].isna()]]
    for c in ints:
        num = pd.to_numeric(df[c], errors="coerce")
        problems += [(i, f"{c}={df.at[i, c]!r} is not an integer") for i in df.index[num.isna() | (num % 1 != 0)]]
    for c in floats:
        num = pd.to_numeric(df[c], errors="coerce")
        problems += [(i, f"{c}={df.at[i, c]!r} is not a number") for i in df.index[num.isna() & df[c].notna()]]
    if problems:
        i, why = min(problems)
        raise bad(f"line {i + 2} is damaged ({why}; {len({j for j, _ in problems})} bad row(s) in all)")
    for c in ints:
        df[c] = pd.to_numeric(df[c]).astype("int64")
    for c in floats:
        df[c] = pd.to_numeric(df[c]).astype("float64")
    return df


def read_study_table(path: Path) -> pd.DataFrame:
    """`results.csv`, strictly (`read_strict`)."""
    return read_strict(path, STUDY_COLUMNS, text=[c for c in STUDY_IDENTITY], ints=["n"], floats=["value"],
                       what="results table (results.csv)")


def write_study(study: str | Path, table: pd.DataFrame) -> Path:
    """Upsert the rows into `<study>/results.csv` (atomic, under a lock): other grids' rows are kept."""
    path = study_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(table):
        with locked(lock_path(path)):
            old = read_study_table(path) if path.exists() else None
            if old is not None and len(old):
                ids = list(STUDY_IDENTITY)
                same = old[ids].astype(str).apply(tuple, axis=1).isin(set(table[ids].astype(str).apply(tuple, axis=1)))
                table = pd.concat([old[~same], table], ignore_index=True)
            atomic_write_text(table.to_csv(index=False), path)
    elif not path.exists():
        atomic_write_text(",".join(STUDY_COLUMNS) + "\n", path)
    return path


def read_study(study: str | Path, axis: str | None = None, **where: str) -> pd.DataFrame:
    """The study's results table (optionally one axis, and columns equal to given values), read strictly."""
    path = study_path(study)
    if not path.exists():
        raise ClipstudyError(f"no results table at {path}: run `clipstudy run ... --study {study}` first")
    df = read_study_table(path)
    df["part"] = df["part"].astype(str)
    if axis is not None:
        df = df[df["axis"] == axis]
    for k, v in where.items():
        df = df[df[k] == v]
    return df.reset_index(drop=True)
