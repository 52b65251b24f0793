"""How the book shows a table: the numbers as a paper prints them.

No index column; counts as integers; missing values as "—"; other numbers to 3 decimals; an effect with its
95% interval in one cell (`effect [ci_low, ci_high]`). `show` displays a frame so (a Styler or any other object
is shown as it is); `format_frame` returns the strings, for tests and for text output.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MISSING = "—"


def safe_markdown(text: str) -> str:
    """Markdown whose text, wherever it came from (a model's or a folder's name, an error message), can carry no
    HTML: every `<` becomes `&lt;`, which every Markdown renderer shows as `<` and none reads as a tag. The book
    renders output Markdown as CommonMark, which passes raw HTML through; a `<` is how every tag and autolink
    starts, so none can be formed. (Inside a code span the entity shows as written: a cost only names holding
    `<` pay.)"""
    return str(text).replace("<", "&lt;")
YOURS = " (yours)"  # the mark of a researcher's own checkpoint (`clipstudy build --models`) in tables and figures
MARKED: set[str] = set()  # the model names that carry it in this process (`mark`: chapter.start sets them)


def mark(models) -> None:
    """Mark these models' names "(yours)" in every table `show` displays (and the figures `Chapter.figure` saves)."""
    MARKED.clear()
    MARKED.update(str(m) for m in models)


def marked(name: Any) -> Any:
    """A model's label: its name, with the mark when it is one of the researcher's models."""
    return f"{name}{YOURS}" if isinstance(name, str) and name in MARKED else name


def mark_models(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with each marked model's name labelled in its `model` column (and a `model` index level)."""
    if not MARKED:
        return df
    out = df
    if "model" in out.columns:
        out = out.assign(model=out["model"].map(marked))
    if "model" in (out.index.names or []):
        out = out.rename(index=marked, level="model")
    return out
COUNT_NAMES = ("n", "n_", "count", "seed", "seeds", "k", "rank", "step", "steps", "severity", "epoch", "params")


def _is_count(name: str, s: pd.Series) -> bool:
    """A column of whole numbers that names a count (n, n_shape, seed, ...), or any float column holding only
    whole numbers with 'n' in its name."""
    v = pd.to_numeric(s, errors="coerce").dropna()
    if not len(v) or not np.all(np.isclose(v, np.round(v))):
        return False
    n = str(name).lower()
    return n in COUNT_NAMES or n.startswith("n_") or n.endswith("_n") or n.startswith("n ")


def _number(x: Any, count: bool, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)) or x is pd.NA:
        return MISSING
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if count:
        return f"{int(round(float(x))):d}"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):d}"
    return f"{float(x):+.3f}" if signed else f"{float(x):.3f}"


def format_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as strings, the book's way (see the module docstring)."""
    out = df.copy()
    merged = {"effect", "ci_low", "ci_high"} <= set(out.columns)
    if merged:
        cellv = []
        for e, lo, hi in zip(out["effect"], out["ci_low"], out["ci_high"]):
            if not np.isfinite(e):
                cellv.append(MISSING)
            elif np.isfinite(lo) and np.isfinite(hi):
                cellv.append(f"{e:+.3f} [{lo:+.3f}, {hi:+.3f}]")
            else:
                cellv.append(f"{e:+.3f} (no interval)")
        at = list(out.columns).index("effect")
        out = out.drop(columns=["effect", "ci_low", "ci_high"])
        out.insert(min(at, len(out.columns)), "effect [95% CI]", cellv)
    for c in out.columns:
        s = out[c]
        if c == "effect [95% CI]":
            continue
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            count = _is_count(c, s)
            out[c] = [_number(x, count) for x in s]
        else:
            out[c] = [MISSING if (x is None or (isinstance(x, float) and not np.isfinite(x))) else
                      (_number(x, False) if isinstance(x, (float, np.floating)) else x) for x in s]
    return out.reset_index(drop=True)


def show(x: Any) -> None:
    """Display a table the book's way (no index); anything that is not a DataFrame is displayed as it is."""
    if isinstance(x, pd.DataFrame):
        x = mark_models(x)
        f = format_frame(x.reset_index() if _named_index(x) else x)
        try:
            from IPython.display import display

            # the Styler writes HTML and escapes nothing by default: every cell and header is text, escaped
            display(f.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1))
        except ImportError:
            print(f.to_string(index=False))
        return
    try:
        from IPython.display import display

        display(x)
    except ImportError:
        print(x)


def _named_index(df: pd.DataFrame) -> bool:
    """An index that carries data (a pivot's rows, a groupby's keys) becomes columns; a plain RangeIndex is dropped."""
    return not isinstance(df.index, pd.RangeIndex) and any(n is not None for n in df.index.names)
