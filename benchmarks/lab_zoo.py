"""Train (or load) the whole lab zoo and print, per factor, its effect on the headline metrics.

    python benchmarks/lab_zoo.py [--profile lab|smoke] [--recipes base finetuned ...] [--out DIR]

Prints parameter counts, per-recipe training records (seed, steps, samples seen, wall time, final
loss), the cold (this run's training) and warm (cache load) times, then one table per factor:
base and the recipes that move that factor, with each metric and its difference from base.
Nothing here is a hard-coded result: every number comes from the models trained in this run or
loaded from the cache. Times on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from clipstudy.lab import evaluate as lab_eval, train as T, zoo as lab_zoo
from clipstudy.profiles import LAB_PROFILES, lab_profile

HEADLINE = [  # (dataset, metric, column name)
    ("lab-val", "top1", "val"), ("lab-v2", "top1", "v2"), ("lab-sketch", "top1", "sketch"),
    ("lab-silhouette", "top1", "silh"), ("lab-sketch", "effective_robustness", "ER_sketch"),
    ("lab-silhouette", "effective_robustness", "ER_silh"),
    ("lab-cue-conflict", "shape_bias", "shape_bias"), ("lab-val", "ece", "ece"),
    ("lab-ood:all", "auroc_msp", "auroc_msp"), ("lab-ood:near", "auroc_msp", "auroc_near"),
    ("lab-ood:all", "auroc_mcm", "auroc_mcm"),
    ("lab-3dcc", "top1@sev=0", "3dcc_s0"), ("lab-3dcc", "top1@sev=1", "3dcc_s1"),
    ("lab-3dcc", "top1@sev=3", "3dcc_s3"), ("lab-3dcc", "top1@sev=5", "3dcc_s5"),
    ("lab-retrieval", "image_to_text_R@1", "i2t_R1"), ("lab-retrieval", "text_to_image_R@1", "t2i_R1"),
]


def wide_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (recipe, prompt set), one column per headline metric."""
    cols = {}
    for ds, metric, name in HEADLINE:
        sel = df[(df.dataset == ds) & (df.metric == metric)]
        cols[name] = sel.set_index(["recipe", "prompt_set"])["value"]
    return pd.DataFrame(cols)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="lab", choices=sorted(LAB_PROFILES))
    ap.add_argument("--recipes", nargs="*", help="default: the whole zoo")
    ap.add_argument("--out", help="folder to save the tidy frame (lab_zoo.csv)")
    a = ap.parse_args(argv)
    recipes = a.recipes or lab_zoo.names()
    prof = lab_profile(a.profile)  # the name, resolved once here

    print("parameters (vision / text / total):")
    for arch in T.ARCHS:
        c = T.param_counts(arch)
        print(f"  {arch:9s} {c['vision']:>9,d} {c['text']:>9,d} {c['total']:>9,d}")

    missing = [r for r in recipes if not lab_zoo.is_trained(r, prof)]
    t0 = time.perf_counter()
    records = lab_zoo.train(recipes, profile=prof)
    cold = time.perf_counter() - t0
    print(f"\ntrained {len(missing)} missing recipe(s) of {len(recipes)} in {cold:.1f} s "
          f"(includes rendering their training chunks)")
    cols = ["recipe", "arch", "loss", "size", "finetuned", "n_images", "steps", "samples_seen", "data_s", "wall_s",
            "final_loss", "params"]
    print(records[[c for c in cols if c in records]].to_string(index=False))

    t0 = time.perf_counter()
    for r in recipes:
        lab_zoo.load(r, profile=prof, progress=False)
    print(f"\nwarm load of {len(recipes)} models: {time.perf_counter() - t0:.2f} s")

    t0 = time.perf_counter()
    df = lab_eval.metrics_zoo(recipes, prof, prompts=("lab-single", "lab-ensemble"))
    for ood in ("lab-sketch", "lab-silhouette", "lab-v2"):
        er = lab_eval.effective_robustness(df, ood=ood)
        er = er.merge(df[["model", "recipe", "prompt_set", "factor"]].drop_duplicates(), on="model")
        er = er[er.prompts.eq(er.prompt_set) | er.prompts.eq("classifier-head")]
        df = pd.concat([df, er.drop(columns=["fit_slope", "fit_intercept"])], ignore_index=True)
    print(f"evaluation: {time.perf_counter() - t0:.1f} s")
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "lab_zoo.csv", index=False)
        print(f"saved {out / 'lab_zoo.csv'}")

    wide = wide_table(df)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    info = lab_zoo.frame().set_index("recipe")
    for factor in lab_zoo.FACTORS + ("prompts",):
        if factor == "prompts":
            print("\n=== factor: prompts (single vs ensemble, same models) ===")
            t = wide.reset_index()
            t = t[t.prompt_set.isin(["lab-single", "lab-ensemble"])]
            print(t.groupby("prompt_set")[wide.columns].mean().round(3).to_string())
            continue
        keep = [r for r in recipes if info.loc[r, "factor"] in ("base", factor)]
        if len(keep) < 2:
            continue
        # CLIPs read with the ensemble; the fine-tuned classifier with its own head
        t = wide.reset_index()
        t = t[t.recipe.isin(keep) & t.prompt_set.isin(["lab-ensemble", "classifier-head"])]
        t = t.set_index("recipe")[wide.columns].reindex([r for r in keep if r in set(t.recipe)])
        print(f"\n=== factor: {factor} (lab-ensemble prompts; delta = recipe - base) ===")
        print(t.round(3).to_string())
        if "base" in t.index:
            print((t.drop(index="base") - t.loc["base"]).round(3).add_prefix("d_").to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
