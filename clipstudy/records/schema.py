"""Read a CSV and check it against an expected schema; errors name the file, row and schema.

A schema maps column name -> kind: "str" (non-empty text), "text" (text, may be empty),
"num" (a number; empty means missing), "num!" (a number, required). Extra columns are allowed
(sources add datasets). Row numbers in messages count data rows from 1; the file line is the
row number + 1 (the line where the row ends, for rows with quoted line breaks).

Reading is strict, because a cut-off or re-encoded file must not pass as data: the bytes must be
UTF-8, every row must have as many fields as the header, and a file that the manifest lists
(`sources.json`), in the default layout `<CLIPSTUDY_DATA>/records`, must match its pinned SHA-256
(`sources.check_published`). A user's own folder (root= elsewhere) gets the strict parse only.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from ..errors import SchemaError


def describe(schema: dict[str, str]) -> str:
    return ", ".join(f"{c}:{k}" for c, k in schema.items())


def _fail(path: Path, schema: dict[str, str], why: str, row: int | None = None,
          line: int | None = None) -> SchemaError:
    where = f"{path}" + (f", row {row} (line {line or row + 1})" if row is not None else "")
    return SchemaError(f"{where}: {why}.\nExpected schema (column:kind): {describe(schema)}")


_KIND_WORD = {"str": "text", "text": "text", "num": "number", "num!": "number"}


def read_text(path: Path, schema: dict[str, str]) -> tuple[bytes, str]:
    """The file's bytes and its text; bytes that are not UTF-8 are a SchemaError naming the row. A missing
    file is a MissingDataError with the fetch command (a record file deleted from a fetched folder)."""
    try:
        import stat

        if path.exists() and not stat.S_ISREG(path.stat().st_mode):  # a fifo or a device would block, or never end
            raise _fail(path, schema, "not a regular file (a folder, fifo or device stands in its place)")
        raw = path.read_bytes()
    except FileNotFoundError as e:
        from ..errors import MissingDataError
        from .sources import FETCH_CMD, published

        s = published(path)
        hint = (f"{FETCH_CMD} (it is {s.repo}@{s.commit[:12]}:{s.path})" if s is not None else
                f"{FETCH_CMD} for the published records; for your own, put the file back")
        raise MissingDataError(f"record file {path.name}", path, fetch=hint) from e
    except OSError as e:
        raise _fail(path, schema, f"cannot be read ({e.strerror or type(e).__name__})") from e
    try:
        return raw, raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise _fail(path, schema, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                                  "expected the published UTF-8 CSV", max(line - 1, 0), line) from e


def check_fields(path: Path, text: str, schema: dict[str, str]) -> int:
    """Every row has as many fields as the header (a row cut short is truncation, not missing data).

    Returns the number of data rows. Blank lines are skipped, as pandas skips them.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise _fail(path, schema, "the file is empty")
    n, row, prev_line = len(header), 0, reader.line_num
    for fields in reader:
        start, prev_line = prev_line + 1, reader.line_num
        if not fields:
            continue
        row += 1
        if len(fields) != n:
            why = f"malformed row: {len(fields)} fields, the header has {n}"
            if len(fields) < n:
                col = header[len(fields)]
                why += (f"; the row ends early (truncated?), column {col!r} "
                        f"(a {_KIND_WORD.get(schema.get(col, ''), 'value')}) is missing")
            raise _fail(path, schema, why, row, start)
    return row


def to_number(s: pd.Series) -> pd.Series:
    """Numbers as published: '1,013.01' (thousands separator) and '+2' are accepted."""
    return pd.to_numeric(s.str.replace(",", "", regex=False).str.strip(), errors="coerce")


def _read_raw(path: Path, schema: dict[str, str], lower: bool) -> tuple[pd.DataFrame, bytes, int]:
    """The file as text cells (UTF-8, whole rows, the schema's columns present), its bytes and row count."""
    data, text = read_text(path, schema)
    n_rows = check_fields(path, text, schema)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as e:  # check_fields passed: quoting trouble
        raise _fail(path, schema, f"malformed CSV ({e})") from e
    except pd.errors.EmptyDataError as e:
        raise _fail(path, schema, "the file is empty") from e
    if lower:
        df.columns = [c.lower() for c in df.columns]
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise _fail(path, schema, f"missing column(s) {missing}; found {list(df.columns)}")
    return df, data, n_rows


def _numbers(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers, written-as-missing) of a text column: plain numbers take the fast path; only the other
    cells are cleaned ('1,013.01', ' +2 ') or recognised as missing ('', 'NaN', 'na', 'null')."""
    num = pd.to_numeric(cells, errors="coerce")
    missing = pd.Series(False, index=cells.index)
    odd = num.isna()
    if odd.any():
        plain = odd & cells.isin(["", "nan", "NaN", "na", "NA", "null", "NULL"])  # no string work for these
        missing[plain] = True
        sub = cells[odd & ~plain]
        if sub.empty:
            return num, missing
        cleaned = to_number(sub)
        num.loc[sub.index] = cleaned
        word = sub.str.strip().str.lower()
        missing.loc[sub.index] = cleaned.isna() & (word.eq("") | word.isin(["nan", "na", "null"]))
    return num, missing


def _check_cells(df: pd.DataFrame, schema: dict[str, str], locate) -> pd.DataFrame:
    """Check every cell against its kind and convert numbers; `locate(i)` -> (path, row) of position i."""
    for col, kind in schema.items():
        if kind == "text":
            continue
        cells = df[col]
        if kind == "str":
            bad = cells.eq("") | cells.str.isspace()
            why = f"column {col!r} is empty"
        else:
            num, missing = _numbers(cells)
            # infinity (`inf`, `1e309`) is no measured value: it would reach fits and figure limits as one
            bad = (num.isna() & ~missing if kind == "num" else num.isna()) | num.abs().eq(float("inf"))
            why = f"column {col!r} should be a (finite) number"
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            path, row = locate(i)
            raise _fail(path, schema, f"{why}, got {cells.iloc[i]!r}", row)
        if kind != "str":
            df[col] = num
    return df


def read_table(path: str | Path, schema: dict[str, str], *, lower: bool = False, verify: bool = True) -> pd.DataFrame:
    """Read `path` strictly (UTF-8, whole rows, pinned checksum if the manifest lists it), check
    columns and cell kinds, convert "num" columns to float. `lower` lower-cases the header first
    (model-vs-human writes both `session` and `Session`). `verify=False` leaves the checksum to the
    caller, who checks its own cell formats first (their errors name the row) and then calls
    `sources.check_published(path)`."""
    from .sources import check_published

    path = Path(path)
    df, data, n_rows = _read_raw(path, schema, lower)
    df = _check_cells(df, schema, lambda i: (path, i + 1))
    if verify:
        check_published(path, data, n_rows)
    return df


def read_tables(paths: list[Path], schema: dict[str, str], *, lower: bool = False) -> pd.DataFrame:
    """Many files of one schema as one frame, checked in one pass (errors still name file and row).

    Adds `_file` (the index into `paths`) and `_row` (the data row, from 1). The caller checks its own
    cell formats and then each file's checksum (`sources.check_published`)."""
    frames = []
    for k, path in enumerate(paths):
        df, _, _ = _read_raw(Path(path), schema, lower)
        frames.append(df[list(schema)].assign(_file=k, _row=range(1, len(df) + 1)))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*schema, "_file", "_row"])
    return _check_cells(df, schema, lambda i: (Path(paths[int(df["_file"].iloc[i])]), int(df["_row"].iloc[i])))


def number_columns(df: pd.DataFrame, cols: list[str], path: Path) -> pd.DataFrame:
    """Convert extra (not in the schema) value columns; a non-number there is a malformed row too."""
    schema = {c: "num" for c in cols}
    for col in cols:
        raw = df[col].astype(str).str.strip()
        num = to_number(raw)
        bad = num.isna() & ~(raw.eq("") | raw.str.lower().isin(["nan", "na"])) | num.abs().eq(float("inf"))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise _fail(path, schema, f"column {col!r} should be a (finite) number, got {raw.iloc[i]!r}", i + 1)
        df[col] = num
    return df


# ---- JSON and JSON-lines record files ---------------------------------------------------------------------------

def json_error(path: Path, where: str, why: str, expected: str) -> SchemaError:
    """A SchemaError naming the file, the place in it (`where`: a line, a row, a key) and what was expected."""
    return SchemaError(f"{path}{', ' + where if where else ''}: {why}.\nExpected: {expected}")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def text_of(path: Path, expected: str) -> tuple[bytes, str]:
    """The bytes and UTF-8 text of a record file that is not a one-header CSV (`expected` says what it should
    hold); bytes that are not UTF-8 are a SchemaError naming the line, a missing file a MissingDataError with the
    fetch command."""
    try:
        raw, text = read_text(path, {})
    except SchemaError as e:  # read_text's message ends with a CSV schema: say what this file should hold
        first = str(e).split("\n")[0].replace("UTF-8 CSV", "UTF-8 file")
        raise SchemaError(f"{first}\nExpected: {expected}") from e
    return raw, text


def _loads(path: Path, text: str, expected: str, row: int | None = None):
    """`text` parsed; errors name the file and the line and column (or, in a JSON-lines file, the row)."""
    import json

    where = f"row {row} (line {row})" if row is not None else ""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        cut = " (the text ends early: truncated?)" if e.pos >= len(text.rstrip()) else ""
        at = f"{where}, column {e.colno}" if row is not None else f"line {e.lineno}, column {e.colno}"
        raise json_error(path, at, f"not valid JSON: {e.msg}{cut}", expected) from e
    except ValueError as e:  # NaN / Infinity
        raise json_error(path, where, f"not valid JSON: {e}", expected) from e


def read_json(path: str | Path, expected: str) -> tuple[object, bytes]:
    """A JSON file parsed strictly (UTF-8, no NaN/Infinity), and its bytes for `sources.check_published`.
    Syntax errors name the file, line and column; `expected` says what the file should hold."""
    path = Path(path)
    raw, text = text_of(path, expected)
    return _loads(path, text, expected), raw


def read_jsonl(path: str | Path, expected: str) -> tuple[list[tuple[int, object]], bytes]:
    """A JSON-lines file: [(row, object)] for every non-blank line (rows count lines from 1), and its bytes.
    A line that does not parse (a file cut inside a line, an edited value) is an error naming the row."""
    path = Path(path)
    raw, text = text_of(path, expected)
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append((i, _loads(path, line, expected, row=i)))
    if not rows:
        raise json_error(path, "", "the file is empty", expected)
    return rows, raw
