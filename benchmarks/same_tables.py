"""Are two builds' claims tables and summaries the same? Rows, text cells, and numbers within a tolerance.

    python benchmarks/same_tables.py BEFORE/book/results AFTER/book/results [--tol 1e-9]

Compares `11_claims/claims.csv` and `10_summary/all_effects.csv` (the CSVs every build writes beside its tables):
the same rows in the same order, equal text, numbers within `--tol` (NaN equals NaN). Prints each difference and
exits 1 when there is one. Columns only one side has are listed, not compared.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TABLES = ("11_claims/claims.csv", "10_summary/all_effects.csv")


def differences(a: pd.DataFrame, b: pd.DataFrame, tol: float) -> list[str]:
    """Every cell where `a` and `b` differ (shared columns), and the columns only one side has."""
    out = []
    only = sorted(set(a.columns) ^ set(b.columns))
    if only:
        out.append(f"columns on one side only (not compared): {only}")
    if len(a) != len(b):
        return out + [f"{len(a)} rows before, {len(b)} after"]
    for c in [c for c in a.columns if c in b.columns]:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            bad = ~((np.isnan(xv) & np.isnan(yv)) | (np.abs(xv - yv) <= tol))
        else:
            bad = (x.fillna("<NA>").astype(str) != y.fillna("<NA>").astype(str)).to_numpy()
        out += [f"row {i}, {c}: {x.iloc[i]!r} -> {y.iloc[i]!r}" for i in np.flatnonzero(bad)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tol", type=float, default=1e-9)
    args = ap.parse_args(argv)
    found = 0
    for t in TABLES:
        diff = differences(pd.read_csv(args.before / t), pd.read_csv(args.after / t), args.tol)
        print(f"{t}: {'same' if not diff else f'{len(diff)} difference(s)'}")
        for d in diff:
            print("  " + d)
        found += bool(diff)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
