"""Read a CSV and check it against an expected schema; errors name the file, row and schema.

A schema maps column name -> kind: "str" (non-empty text), "num" (a number; empty means
missing), "num!" (a number, required). Extra columns are allowed (sources add datasets).
Row numbers in messages count data rows from 1; the file line is the row number + 1.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import SchemaError


def describe(schema: dict[str, str]) -> str:
    return ", ".join(f"{c}:{k}" for c, k in schema.items())


def _fail(path: Path, schema: dict[str, str], why: str, row: int | None = None) -> SchemaError:
    where = f"{path}" + (f", row {row} (line {row + 1})" if row is not None else "")
    return SchemaError(f"{where}: {why}.\nExpected schema (column:kind): {describe(schema)}")


def to_number(s: pd.Series) -> pd.Series:
    """Numbers as published: '1,013.01' (thousands separator) and '+2' are accepted."""
    return pd.to_numeric(s.str.replace(",", "", regex=False).str.strip(), errors="coerce")


def read_table(path: str | Path, schema: dict[str, str]) -> pd.DataFrame:
    """Read `path` as text, check columns and cell kinds, convert "num" columns to float."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+)", str(e))
        row = int(m.group(1)) - 1 if m else None
        raise _fail(path, schema, f"malformed row ({e})", row) from e
    except pd.errors.EmptyDataError as e:
        raise _fail(path, schema, "the file is empty") from e
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise _fail(path, schema, f"missing column(s) {missing}; found {list(df.columns)}")
    for col, kind in schema.items():
        raw = df[col].str.strip()
        empty = raw.eq("") | raw.str.lower().isin(["nan", "na", "null"])
        if kind == "str":
            bad = raw.eq("")
            why = f"column {col!r} is empty"
        else:
            num = to_number(df[col])
            bad = num.isna() & ~empty if kind == "num" else num.isna()
            why = f"column {col!r} should be a number"
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise _fail(path, schema, f"{why}, got {df[col].iloc[i]!r}", i + 1)
        if kind != "str":
            df[col] = to_number(df[col])
    return df


def number_columns(df: pd.DataFrame, cols: list[str], path: Path) -> pd.DataFrame:
    """Convert extra (not in the schema) value columns; a non-number there is a malformed row too."""
    schema = {c: "num" for c in cols}
    for col in cols:
        raw = df[col].astype(str).str.strip()
        num = to_number(raw)
        bad = num.isna() & ~(raw.eq("") | raw.str.lower().isin(["nan", "na"]))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise _fail(path, schema, f"column {col!r} should be a number, got {raw.iloc[i]!r}", i + 1)
        df[col] = num
    return df
