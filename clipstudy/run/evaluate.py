"""Evaluate: every requested axis from the stored units, on CPU, into one tidy results table.

One row per (model, dataset, axis, part, metric, prompts, precision), with the value and its n. `part`
names a slice of the dataset where an axis has several (a corruption and severity, a visual factor, an
OOD score and group, a retrieval direction); `all` otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..errors import ClipstudyError
from ..axes import Outputs
from .unit import Unit, read_record

COLUMNS = ["model", "dataset", "axis", "part", "metric", "value", "n", "prompts", "precision"]
IDENTITY = ("model", "dataset", "axis", "part", "metric", "prompts", "precision")


def align(frame: pd.DataFrame, keys: list[str], key: str = "key") -> pd.DataFrame:
    """Rows of a dataset frame in the order of the engine's encoded keys (skipped images drop out)."""
    f = frame.set_index(key)
    missing = [k for k in keys if k not in f.index]
    if missing:
        raise KeyError(f"{len(missing)} encoded keys are not in the dataset frame, e.g. {missing[:3]}")
    return f.loc[list(keys)].reset_index()


def outputs(unit: Unit) -> list[Outputs]:
    """The stored outputs of a complete unit, one per prompt set (one for classifiers and caption-only sets)."""
    from .. import store
    from ..cache import FeatureCache
    from ..encode import Encoded
    from ..zeroshot import ZeroShot
    from .data import load_frame

    rec = read_record(unit)
    if rec is None:
        raise ClipstudyError(f"{unit.label}: no complete unit in the store ({unit.entry()})")
    hit = FeatureCache(Path(unit.cache_root) / "features").load(rec["features"])
    if hit is None:
        raise ClipstudyError(f"{unit.label}: its features ({rec['features']}) are missing or damaged; run it again")
    enc = Encoded(hit["features"], hit["labels"], hit["keys"], hit["skipped"], from_cache=True,
                  notes=dict(hit.get("notes", [])), key=rec["features"])
    frame = load_frame(unit.entry() / "frame.parquet")
    if frame is not None and "key" in frame.columns:
        frame = align(frame.astype({"key": str}), [str(k) for k in enc.keys])
    texts = store.safe_load(unit.entry() / "texts.pt") if rec.get("texts") else None
    heads = store.safe_load(unit.entry() / "heads.pt") if rec["heads"] else {}
    if rec["heads"] and heads is None:
        raise ClipstudyError(f"{unit.label}: its heads file is damaged; run it again")
    if rec["is_classifier"] or not rec["classnames"]:
        sets = ["classifier-head" if rec["is_classifier"] else "captions"]
    else:
        sets = [p for p in unit.prompts if p in heads]
    out = []
    for p in sets:
        zs = ZeroShot(unit.model, unit.dataset, p, enc, heads.get(p), rec["logit_scale"], rec["classnames"],
                      rec["class_index"], precision=rec["precision"])
        out.append(Outputs(unit.model, unit.dataset, rec["task"], p, zs, frame, texts))
    return out


def evaluate(units: Sequence[Unit], axes: Iterable[str], progress: bool = False,
             failed: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows of every axis for every complete unit. One dataset's outputs are in memory at a time, plus the
    ID sets that calibration and OOD detection read (kept per model).

    Each unit is evaluated on its own: one whose outputs cannot be read or whose metrics raise (a NaN
    checkpoint's logits, say) gives no rows, and its error goes into `failed` (unit key -> message), so the
    other units' rows are still returned. A unit whose ID set failed fails with that reason."""
    from tqdm.auto import tqdm

    from .data import id_set_of
    from .plan import _message

    from .. import axes as axis_registry

    failed = {} if failed is None else failed
    axes = [axis_registry.runner(a) for a in axes]
    by_model: dict[str, dict[str, Unit]] = {}
    for u in units:
        by_model.setdefault(u.model, {})[u.dataset] = u
    rows = []
    for model, us in tqdm(by_model.items(), desc="evaluate", unit="model", disable=not progress):
        kept: dict[str, dict[str, Outputs]] = {}
        broken: dict[str, str] = {}  # dataset -> why its outputs could not be read

        def of(dataset: str) -> dict[str, Outputs]:
            if dataset in broken:
                raise ClipstudyError(broken[dataset])
            if dataset not in kept:
                try:
                    kept[dataset] = {o.prompts: o for o in outputs(us[dataset])}
                except Exception as e:  # noqa: BLE001: this unit fails; the grid goes on
                    broken[dataset] = _message(e)
                    raise
            return kept[dataset]

        def id_of(o: Outputs) -> Outputs | None:
            ref = id_set_of(o.dataset)
            if ref not in us:
                return None
            try:
                return of(ref).get(o.prompts)
            except Exception as e:  # noqa: BLE001
                raise ClipstudyError(f"its ID set {ref} could not be evaluated: {_message(e)}") from e

        ids = {id_set_of(d) for d in us}
        for dataset, u in us.items():
            mine = []
            try:
                for prompts, o in of(dataset).items():
                    for axis in axes:
                        for r in axis.rows(o, id_of):  # a retrieval set's rows read captions, whatever the prompts
                            mine.append(dict(model=model, dataset=dataset, axis=axis.runner, precision=o.zs.precision,
                                             prompts="captions" if o.task == "retrieval" else prompts, **r))
            except Exception as e:  # noqa: BLE001: one unit's failure is reported, the others' rows are kept
                failed[u.key] = f"evaluation failed: {_message(e)}"
            else:
                rows += mine
            if dataset not in ids:
                kept.pop(dataset, None)
    df = pd.DataFrame(rows, columns=COLUMNS).drop_duplicates(subset=list(IDENTITY))
    return df.sort_values(list(IDENTITY), ignore_index=True)


def table_path(study: str | Path) -> Path:
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


def read_table(path: Path) -> pd.DataFrame:
    """`results.csv`, strictly (`read_strict`)."""
    return read_strict(path, COLUMNS, text=[c for c in IDENTITY], ints=["n"], floats=["value"],
                       what="results table (results.csv)")


def write(study: str | Path, table: pd.DataFrame) -> Path:
    """Upsert the rows into `<study>/results.csv` (atomic, under a lock): other grids' rows are kept."""
    from ..results import lock_path
    from ..store import locked

    path = table_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(table):
        with locked(lock_path(path)):
            old = read_table(path) if path.exists() else None
            if old is not None and len(old):
                ids = list(IDENTITY)
                same = old[ids].astype(str).apply(tuple, axis=1).isin(set(table[ids].astype(str).apply(tuple, axis=1)))
                table = pd.concat([old[~same], table], ignore_index=True)
            from ..store import atomic_write_text

            atomic_write_text(table.to_csv(index=False), path)
    elif not path.exists():
        from ..store import atomic_write_text

        atomic_write_text(",".join(COLUMNS) + "\n", path)
    return path


def read(study: str | Path, axis: str | None = None, **where: str) -> pd.DataFrame:
    """The study's results table (optionally one axis, and columns equal to given values), read strictly."""
    path = table_path(study)
    if not path.exists():
        raise ClipstudyError(f"no results table at {path}: run `clipstudy run ... --study {study}` first")
    df = read_table(path)
    df["part"] = df["part"].astype(str)
    if axis is not None:
        df = df[df["axis"] == axis]
    for k, v in where.items():
        df = df[df[k] == v]
    return df.reset_index(drop=True)
