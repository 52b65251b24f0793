"""What the feature cache saved in a real book build: encode requests vs images actually encoded.

Every call of the engine appends a line to `<CLIPSTUDY_CACHE>/features/requests.jsonl` (model,
dataset, n images, forward passes). Without the cache each request would have encoded its n images
again, so the sum of n over requests is what a per-request (naive) pipeline pays; the sum of passes
is what clipstudy paid. Point it at the cache of a build that started cold:

    CLIPSTUDY_CACHE=/tmp/cold make book
    CLIPSTUDY_CACHE=/tmp/cold .venv/bin/python benchmarks/book_cost.py

This undercounts the naive cost: inside a chapter one request already feeds several metrics.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    from clipstudy.config import cache_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", type=Path, default=None, help="requests.jsonl (default: $CLIPSTUDY_CACHE/features)")
    a = ap.parse_args(argv)
    log = a.log or cache_root() / "features" / "requests.jsonl"
    if not log.exists():
        print(f"no request log at {log}: run a book build with this CLIPSTUDY_CACHE first", file=sys.stderr)
        return 2
    df = pd.DataFrame([json.loads(line) for line in log.read_text().splitlines() if line.strip()])
    pairs = df.groupby(["model", "dataset"]).agg(requests=("n", "size"), n=("n", "first"), passes=("passes", "sum"))
    naive, cached = int(df["n"].sum()), int(df["passes"].sum())
    print(f"| | value |\n|---|---|")
    print(f"| encode requests | {len(df)} |")
    print(f"| distinct (model, dataset) pairs | {len(pairs)} |")
    print(f"| images requested (naive: every request encodes) | {naive} |")
    print(f"| images encoded (clipstudy: once per pair) | {cached} |")
    print(f"| ratio | {naive / max(cached, 1):.1f}x |")
    print("\nrequests per (model, dataset), most reused first:")
    print(pairs.sort_values("requests", ascending=False).head(12).to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
