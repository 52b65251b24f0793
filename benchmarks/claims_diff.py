"""Issue 34.3: do two lab zoos give the same findings? The claims tables of two full lab builds, judged by the
same claims code (this checkout's `clipstudy.axes.claims.judge_results`), side by side, and their diff.

    # a full lab build per zoo (each with CLIPSTUDY_CACHE pointing at that zoo's cache), then:
    python benchmarks/claims_diff.py OLD_BUILD/results NEW_BUILD/results [--source lab]

Both results folders are judged afresh here, so a difference comes from the chapters' tables (the zoos), never
from two versions of the claims code. Per claim and source it prints the primary effect cell and verdict of each
build, then the diff, one class per claim:

- `same`: the verdict did not change (the effect may have moved);
- `now decisive` / `now inconclusive`: inconclusive on one side, agrees or disagrees on the other (allowed when
  better models explain it: say why per claim);
- `FLIP`: agrees on one side and disagrees on the other (blocks the change);
- `measured` / `unmeasured`: one side has no effect.

The exit status is 1 when any verdict flips between agrees and disagrees, else 0.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402

DECISIVE = ("agrees", "disagrees")


def change(old: str, new: str) -> str:
    """The class of a verdict change (see the module docstring)."""
    if old == new:
        return "same"
    if old in DECISIVE and new in DECISIVE:
        return "FLIP"
    if old == "not measured":
        return "measured"
    if new == "not measured":
        return "unmeasured"
    return "now decisive" if new in DECISIVE else "now inconclusive"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path, help="the results folder of the build with the old zoo")
    ap.add_argument("new", type=Path, help="the results folder of the build with the new zoo")
    ap.add_argument("--source", nargs="*", default=["lab"], help="sources to compare (records, lab, live)")
    a = ap.parse_args(argv)

    from clipstudy.axes.claims import judge_results

    for d in (a.old, a.new):
        if not d.is_dir():
            raise SystemExit(f"{d}: not a results folder (a build's --out DIR/results)")
    old, _ = judge_results(a.old)
    new, _ = judge_results(a.new)
    old, new = old.set_index("id"), new.set_index("id")
    flips = 0
    for s in a.source:
        rows, diff = [], []
        for cid in old.index:
            o, n = old.loc[cid], new.loc[cid] if cid in new.index else None
            ov, nv = o[f"{s}_verdict"], (n[f"{s}_verdict"] if n is not None else "not measured")
            rows.append({"id": cid, "claim": o["claim"], f"{s}: old": o[s], "old verdict": ov,
                         f"{s}: new": n[s] if n is not None else "", "new verdict": nv})
            c = change(ov, nv)
            flips += c == "FLIP"
            diff.append({"id": cid, "old verdict": ov, "new verdict": nv, "change": c,
                         "effect old -> new": f"{o[s]} -> {n[s] if n is not None else ''}" if c != "same" or
                         o[s] != (n[s] if n is not None else "") else "identical"})
        print(f"## claims, source {s}: {a.old} (old) and {a.new} (new), judged by {Path(__file__).name}'s checkout\n")
        print(table(rows))
        print(f"\n## diff, source {s}\n")
        print(table(diff))
        counts = {}
        for d in diff:
            counts[d["change"]] = counts.get(d["change"], 0) + 1
        print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "\n")
    print(f"verdicts flipped between agrees and disagrees: {flips}")
    return 1 if flips else 0


if __name__ == "__main__":
    raise SystemExit(main())
