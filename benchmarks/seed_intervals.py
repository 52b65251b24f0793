"""Issue 25.2: does a change to lab training keep every recipe inside its seed interval of lab-val accuracy?

    # with the code before the change (its checkout first on PYTHONPATH) and its trained zoo:
    PYTHONPATH=/path/to/before CLIPSTUDY_CACHE=/tmp/zoo_before python benchmarks/seed_intervals.py measure before.csv
    # with the code after it:
    CLIPSTUDY_CACHE=/tmp/zoo_after python benchmarks/seed_intervals.py measure after.csv
    python benchmarks/seed_intervals.py compare before.csv after.csv
    # the mini-LLaVAs of chapter 09 instead (trained first: `clipstudy lab train base arch-vit --llavas`):
    python benchmarks/seed_intervals.py measure --llava [--profile smoke] before.csv

`measure` reads the lab profile's trained zoo from the store (every recipe x seed; a model that is not trained
there is an error: this script never trains) and writes one row per recipe and seed: lab-val top-1 (fp32, the
lab's ensemble prompts, the set's full size), the training record's wall time and steps, TRAIN_VERSION.
`measure --llava` writes one row per mini-LLaVA (chapter 09's recipe x seed pairs, `axes.lmm.lab_pairs`, none trained
here either): its two-choice accuracy on lab-val (TRUE / (TRUE + FALSE), the chapter's protocol, `lab.llava.evaluate`,
the set at the profile's evaluation size or `--n`), the answers' counts, its CLIP's accuracy on the same questions,
the training meta's final loss, wall time and steps, the state file's SHA-256, and LLAVA_VERSION.
`compare` prints, per recipe, the three seeds before and after, the before range over seeds and its 95% t-interval
over seeds, whether the mean after lies in each and whether it reaches the interval's lower end (issue 34's rule),
Welch's t-test (Holm-corrected over the recipes), and per model before and after: the training work (optimiser
steps x batch x image pixels), the training loop's CPU time (records that carry it) and its wall time (only
comparable when both zoos trained quietly). Either CSV may come from `train_options.py candidate` (a candidate
schedule trained on some recipes): the recipes of `before` missing from `after` are skipped.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402


def measure(out: Path, profile: str) -> int:
    import clipstudy
    from clipstudy.lab import evaluate as lab_eval, train as T, zoo as lab_zoo
    from clipstudy.profiles import lab_profile

    p = lab_profile(profile)  # --profile's name, resolved once here
    missing = [lab_zoo.label(r) for n in lab_zoo.names() for r in lab_zoo.seeded(n, p) if not lab_zoo.is_trained(r, p)]
    if missing:
        print(f"not trained in this cache ({len(missing)}): {', '.join(missing)}; this script never trains",
              file=sys.stderr)
        return 2
    acc = lab_eval.accuracy_table(lab_zoo.names(), ["lab-val"], profile=p, seeds_="all", precision="fp32")
    rows = []
    for r in acc.to_dict("records"):
        rec = lab_zoo.record(lab_zoo.recipe(f"{r['recipe']}#{int(r['seed'])}"), p)
        pixels = rec.get("pixels") or p.image_size ** 2  # records before the work column: the profile's size
        rows.append(dict(recipe=r["recipe"], seed=int(r["seed"]), accuracy=r["accuracy"], n=r["n"],
                         wall_s=rec["wall_s"], cpu_s=rec.get("cpu_s", float("nan")), steps=rec["steps"],
                         batch=rec["samples_seen"] // max(1, rec["steps"]), pixels=pixels,
                         work=rec["samples_seen"] * pixels, train_version=T.TRAIN_VERSION,
                         code=str(Path(clipstudy.__file__).parent)))
    pd.DataFrame(rows).assign(metric="lab-val top-1 (fp32, ensemble prompts)").to_csv(out, index=False)
    print(f"{len(rows)} rows -> {out} ({machine()})")
    return 0


def measure_llava(out: Path, profile: str, n: int | None) -> int:
    """One row per mini-LLaVA of chapter 09: its two-choice accuracy on lab-val beside its CLIP's (never trains)."""
    import clipstudy
    from clipstudy.axes import lmm as lmm_axis
    from clipstudy.lab import llava, zoo as lab_zoo
    from clipstudy.store import sha256_file

    pairs = lmm_axis.lab_pairs(profile)
    missing = [f"llava:{r}#{sd}" for r, sd in pairs
               if not (lab_zoo.is_trained(f"{r}#{sd}", profile) and llava.is_cached(r, profile, sd))]
    if missing:
        print(f"not trained in this cache ({len(missing)}): {', '.join(missing)}; this script never trains "
              f"(`clipstudy lab train {' '.join(dict.fromkeys(r for r, _ in pairs))} --profile {profile} --llavas`)",
              file=sys.stderr)
        return 2
    _, res, meta = llava.evaluate_pairs(pairs, profile, "cpu", ((("lab-val",), n),), precision="fp32")
    res = res[(res["set"] == "lab-val") & (res["group"] == "all") & (res["clip_full"] == "all")]
    rows = []
    for m in meta.to_dict("records"):
        mine = res[(res["recipe"] == m["recipe"]) & (res["seed"] == m["seed"])].set_index("model")
        lm, clip = mine.loc["lab-llava"], mine.loc["clip"]
        state = llava.cache_dir(m["recipe"], profile, m["seed"]) / llava.STATE_FILE
        rows.append(dict(recipe=f"llava:{m['recipe']}", seed=int(m["seed"]), accuracy=lm["accuracy"],
                         n=int(lm["n"]), n_true=int(lm["n_true"]), n_false=int(lm["n_false"]),
                         n_both=int(lm["n_both"]), n_neither=int(lm["n_neither"]), clip_accuracy=clip["accuracy"],
                         final_loss=m["final_loss"], wall_s=m["wall_s"], steps=m["steps"],
                         state_sha256=sha256_file(state), train_version=llava.LLAVA_VERSION,
                         code=str(Path(clipstudy.__file__).parent),
                         metric=f"mini-LLaVA two-choice accuracy on lab-val ({profile} profile), LLAVA_VERSION"))
    pd.DataFrame(rows).to_csv(out, index=False)
    print(pd.DataFrame(rows)[["recipe", "seed", "accuracy", "n_true", "n_false", "n_both", "n_neither",
                              "clip_accuracy", "final_loss", "state_sha256"]].to_string(index=False))
    print(f"{len(rows)} rows -> {out} ({machine()})")
    return 0


def compare(before: Path, after: Path) -> int:
    """Per recipe: the seeds before and after; the before seed range and its 95% t-interval over seeds (the kind of
    interval the book's lab effects have, clipstudy.effects); whether the mean after lies in each; Welch's t-test of
    before against after over seeds, with Holm's correction over the recipes (clipstudy.effects.holm)."""
    import numpy as np
    from scipy import stats

    from clipstudy.effects import holm

    b, a = pd.read_csv(before), pd.read_csv(after)
    rows, pvals = [], []
    for recipe, g in b.groupby("recipe", sort=False):
        h = a[a.recipe == recipe]
        if h.empty:  # a candidate trained on some recipes only
            continue
        x, y = g.sort_values("seed").accuracy.to_numpy(), h.sort_values("seed").accuracy.to_numpy()
        half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan
        lo, hi = x.mean() - half, x.mean() + half
        same = np.array_equal(x, y, equal_nan=True)  # the same numbers (NaN too: no scorable answer either side)
        p = 1.0 if same or len(y) < 2 else float(stats.ttest_ind(x, y, equal_var=False).pvalue)
        pvals.append(p)
        rows.append({"recipe": recipe, "before, seeds": " / ".join(f"{v:.3f}" for v in x),
                     "after, seeds": " / ".join(f"{v:.3f}" for v in y) + (" (identical)" if same else ""),
                     "mean before -> after": f"{x.mean():.3f} -> {y.mean():.3f}",
                     "in seed range": "yes" if same or x.min() <= y.mean() <= x.max() else "**no**",
                     "95% t-interval (before)": f"[{lo:.3f}, {hi:.3f}]",
                     "in it": "yes" if same or lo <= y.mean() <= hi else "**no**",
                     "mean after >= lower end": "yes" if same or y.mean() >= lo else "**no**", "Welch p": p,
                     "work per model before / after (Gpx)": f"{_mean(g, 'work') / 1e9:.3g} / {_mean(h, 'work') / 1e9:.3g}",
                     "CPU s per model before / after": f"{_mean(g, 'cpu_s'):.0f} / {_mean(h, 'cpu_s'):.0f}",
                     "wall s per model before / after": f"{g.wall_s.mean():.0f} / {h.wall_s.mean():.0f}"})
    for r, q in zip(rows, holm(pvals)):
        r["Welch p"], r["Holm p"] = f"{r['Welch p']:.3f}", f"{q:.3f}"
    what = b.metric.iloc[0] if "metric" in b else "lab-val top-1 (fp32, ensemble prompts), TRAIN_VERSION"
    print(f"# {what} {b.train_version.iloc[0]} -> {a.train_version.iloc[0]} (n={int(b.n.iloc[0])})")
    print(table(rows))
    below = [r["recipe"] for r in rows if r["mean after >= lower end"] != "yes"]
    both = sorted(set(a.recipe) & set(b.recipe))
    bb, aa = b[b.recipe.isin(both)], a[a.recipe.isin(both)]
    for col, what in (("work", "training work (steps x batch x pixels)"), ("cpu_s", "training CPU time (s)")):
        wb, wa = _total(bb, col), _total(aa, col)
        print(f"{what} of the {len(both)} recipes, {len(bb)} / {len(aa)} models: before {wb:.4g}, after {wa:.4g}, "
              f"before / after {wb / wa if wa else float('nan'):.2f}x")
    print(f"mean after below the lower end of the before 95% t-interval (the acceptance rule): {len(below)} of "
          f"{len(rows)} ({', '.join(below) or '-'})")
    out_range = [r["recipe"] for r in rows if r["in seed range"] != "yes"]
    out_t = [r["recipe"] for r in rows if r["in it"] != "yes"]
    print(f"\nmean after outside the before seed range: {len(out_range)} of {len(rows)} ({', '.join(out_range) or '-'}); "
          f"outside the 95% t-interval: {len(out_t)} ({', '.join(out_t) or '-'}); smallest Holm p "
          f"{min(float(r['Holm p']) for r in rows):.3f}")
    return 0


def _mean(df: pd.DataFrame, col: str) -> float:
    return float(df[col].mean()) if col in df and df[col].notna().any() else float("nan")


def _total(df: pd.DataFrame, col: str) -> float:
    return float(df[col].sum()) if col in df and df[col].notna().all() else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("out", type=Path)
    m.add_argument("--profile", default="lab")
    m.add_argument("--llava", action="store_true", help="chapter 09's mini-LLaVAs instead of the CLIP zoo")
    m.add_argument("--n", type=int, help="with --llava: lab-val questions (default: the profile's evaluation size)")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "compare":
        return compare(a.before, a.after)
    return measure_llava(a.out, a.profile, a.n) if a.llava else measure(a.out, a.profile)


if __name__ == "__main__":
    raise SystemExit(main())
