"""What the feature cache saved in a real book build, split by axis (chapter).

Every engine call appends a line to `<CLIPSTUDY_CACHE>/features/requests.jsonl`: the chapter that
asked, the model, the dataset (or zero-shot head), n images (or prompts) and the forward passes
actually run. Three costs follow from it:
- per request: every request encodes its n afresh (a pipeline with no cache at all);
- per axis: each chapter encodes each (model, dataset) it reads once, and shares nothing with
  the other chapters (a per-axis tool run once per axis);
- clipstudy: what the build actually encoded, once per (model, dataset) for the whole book.
Point it at the cache of a build that started cold:

    CLIPSTUDY_CACHE=/tmp/cold make book
    CLIPSTUDY_CACHE=/tmp/cold .venv/bin/python benchmarks/book_cost.py

Both naive counts undercount: inside a chapter one request already feeds several metrics.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def costs(df: pd.DataFrame) -> pd.DataFrame:
    """Per chapter and kind (images/text): requests, the per-request and per-axis naive costs, passes run."""
    key = ["chapter", "kind"]
    per_axis = df.drop_duplicates(key + ["model", "dataset"]).groupby(key)["n"].sum().rename("per_axis")
    out = df.groupby(key).agg(requests=("n", "size"), per_request=("n", "sum"), clipstudy=("passes", "sum"))
    return out.join(per_axis).reset_index()[key + ["requests", "per_request", "per_axis", "clipstudy"]]


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
    for col, default in (("kind", "images"), ("chapter", "")):  # logs written before these fields existed
        df[col] = df.get(col, pd.Series(default, index=df.index)).fillna(default)
    df["chapter"] = df["chapter"].replace("", "(outside a chapter)")
    by_axis = costs(df)
    print("## per chapter (images: images encoded; text: prompts encoded)\n")
    print(by_axis.to_markdown(index=False))
    rows = []
    for kind, g in by_axis.groupby("kind"):
        done = int(g["clipstudy"].sum())
        rows.append(dict(kind=kind, per_request=int(g["per_request"].sum()), per_axis=int(g["per_axis"].sum()),
                         clipstudy=done, ratio_per_request=g["per_request"].sum() / max(done, 1),
                         ratio_per_axis=g["per_axis"].sum() / max(done, 1)))
    tot = pd.DataFrame(rows)
    print("\n## whole build\n")
    print(tot.to_markdown(index=False, floatfmt=".1f"))
    pairs = df[df.kind == "images"].groupby(["model", "dataset"]).agg(requests=("n", "size"), n=("n", "first"))
    print(f"\n{len(pairs)} distinct (model, dataset) pairs; the largest by images encoded:\n")
    print(pairs.sort_values("n", ascending=False).head(8).to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
