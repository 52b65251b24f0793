"""The book's table format: no index, integer counts, dashes for missing values, effect and interval in one cell."""
from __future__ import annotations

import numpy as np
import pandas as pd

from clipstudy import tables


def test_counts_missing_values_and_intervals_read_like_a_paper():
    df = pd.DataFrame(dict(factor=["architecture", "fine-tuning"], effect=[0.12345, np.nan], ci_low=[0.01, np.nan],
                           ci_high=[0.2, np.nan], n=[4.0, np.nan], n_shape=[12.0, 3.0], accuracy=[0.71234, 0.5],
                           note=["", None]))
    f = tables.format_frame(df)
    assert list(f.columns) == ["factor", "effect [95% CI]", "n", "n_shape", "accuracy", "note"]
    assert list(f["effect [95% CI]"]) == ["+0.123 [+0.010, +0.200]", "—"]
    assert list(f["n"]) == ["4", "—"] and list(f["n_shape"]) == ["12", "3"]  # counts are integers, never 4.0
    assert list(f["accuracy"]) == ["0.712", "0.500"] and f.loc[1, "note"] == "—"
    no_ci = tables.format_frame(pd.DataFrame(dict(effect=[0.5], ci_low=[np.nan], ci_high=[np.nan])))
    assert no_ci.iloc[0, 0] == "+0.500 (no interval)"


def test_a_pivot_keeps_its_row_keys_as_columns_and_drops_a_plain_index(capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ipython(name, *a, **k):  # text output, as outside a notebook
        if name.startswith("IPython"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ipython)
    p = pd.DataFrame(dict(model=["a", "b"], ece=[0.1, 0.2])).set_index("model")
    tables.show(p)
    out = capsys.readouterr().out
    assert "model" in out and "0.100" in out
    tables.show(pd.DataFrame(dict(x=[1.0, 2.5]), index=[7, 9]))
    out = capsys.readouterr().out
    assert "7" not in out.split("\n")[1] and "2.500" in out
