"""The tables chapters publish for each other: declared once, written and read through the declaration, types kept."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipstudy.axes import all_axes
from clipstudy.axes.core import EFFECTS, NOT_MEASURED, Axis, Table
from clipstudy.errors import ClipstudyError, SchemaError

AXIS = Axis("toy", "toy axis", "99_toy")  # declared, never registered
VERDICTS = AXIS.table("verdicts", model="text", match="text", right="bool", known="boolean", seed="int64",
                      count="Int64", value="float64")


def _frame() -> pd.DataFrame:
    return pd.DataFrame(dict(model=["a", "b", "c"], match=["TRUE", "FALSE", "TRUE"], right=[True, False, True],
                             known=[True, None, False], seed=[0, 1, 2], count=[3, None, 5], value=[0.5, np.nan, 1.0]))


def test_types_survive_the_round_trip(tmp_path):
    """A column of TRUE/FALSE verdicts stays text (a CSV read would make it booleans), booleans stay booleans, and
    integers with a missing value stay integers."""
    VERDICTS.write(tmp_path, _frame())
    back = VERDICTS.read(tmp_path)
    assert back["match"].tolist() == ["TRUE", "FALSE", "TRUE"] and back["match"].map(type).eq(str).all()
    assert back["right"].dtype == bool and back["right"].tolist() == [True, False, True]
    assert str(back["known"].dtype) == "boolean" and back["known"].isna().tolist() == [False, True, False]
    assert str(back["count"].dtype) == "Int64" and back["count"].tolist()[0] == 3 and back["count"].isna()[1]
    assert back["seed"].dtype == np.int64 and np.isnan(back["value"][1])
    # the CSV beside it is for readers: what pandas' defaults make of it is what the parquet avoids
    csv = pd.read_csv(VERDICTS.path(tmp_path, suffix=".csv"))
    assert csv["match"].dtype == bool and csv["count"].dtype == float


def test_a_declared_column_is_checked(tmp_path):
    with pytest.raises(SchemaError, match="lacks declared column"):
        VERDICTS.write(tmp_path, _frame().drop(columns="match"))
    with pytest.raises(SchemaError, match="'match'.*not text"):
        VERDICTS.write(tmp_path, _frame().assign(match=[True, False, True]))
    with pytest.raises(SchemaError, match="'seed'"):
        VERDICTS.write(tmp_path, _frame().assign(seed=[0, None, 2]))
    assert VERDICTS.read(tmp_path) is None  # nothing was published
    with pytest.raises(ClipstudyError, match="unknown dtype"):
        Table("t", (("x", "str"),))
    with pytest.raises(ClipstudyError, match="twice"):
        AXIS.table("verdicts", x="text")


def test_a_damaged_table_is_an_error_not_a_guess(tmp_path):
    path = VERDICTS.path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    with pytest.raises(SchemaError, match="cannot be read"):
        VERDICTS.read(tmp_path)


def test_every_chapters_table_needs_its_chapter(tmp_path):
    with pytest.raises(ClipstudyError, match="say whose"):
        EFFECTS.read(tmp_path)
    NOT_MEASURED.write(tmp_path, pd.DataFrame([dict(factor="fine-tuning", axis="toy axis", reason="why")]), AXIS)
    assert NOT_MEASURED.read(tmp_path, AXIS)["reason"].tolist() == ["why"]
    assert (tmp_path / "99_toy" / "not_measured.csv").is_file()


def _strings(path: Path) -> set[str]:
    """Every string constant of a module but its docstrings and the names it declares its own tables under
    (`AXIS.table("name", ...)`, the one place a table's name is written)."""
    tree = ast.parse(path.read_text())
    skip = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    skip |= {id(n.args[0]) for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "table" and n.args}
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in skip}


def test_the_claims_page_and_the_summary_name_no_table_by_a_string():
    """They ask for a table by its declared object: no string of theirs names a published table or a file."""
    names = {t.name for a in all_axes() for t in a.published.values()} | {EFFECTS.name, NOT_MEASURED.name}
    assert {"lab_questions", "effects", "lab_3dcc"} <= names
    root = Path(__file__).resolve().parents[1] / "clipstudy" / "axes"
    for module in ("claims.py", "summary.py", "evidence.py"):
        strings = _strings(root / module)
        named = {s for s in strings if s in names} - {"claims"}  # the claims axis' own key and name
        files = {s for s in strings if s.endswith((".csv", ".parquet")) and "claims.csv" not in s}
        assert not named and not files, (module, named, files)
