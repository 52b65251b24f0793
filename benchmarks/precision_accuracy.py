"""Issue 17.2: what bf16 autocast changes against fp32, honestly.

(1) Trained lab models (every cached seed of the chosen recipes, `--train` trains what is missing) over every
lab evaluation set: top-1 agreement of bf16 and fp32 predictions, and each headline metric under both
(lab.evaluate.metrics_table: top-1, ECE, NLL, shape bias, OOD AUROC/FPR95, 3D-corruption accuracy, retrieval recall).
(2) A random ViT-B-32 on the real stimuli in $CLIPSTUDY_DATA/stimuli (cue-conflict sample, edges,
silhouettes), zero-shot over the 16 categories: agreement, accuracy and shape bias.

Both precisions run through the engine with the precision passed explicitly (`precision=` of
lab.evaluate and zeroshot.run, as the chapters pass theirs), so they are two cache entries of the same
pipeline. A metric "moves beyond its reported digits" when its value rounded to the book's digits (3 decimals,
`{:.3f}`) differs between the two (`moved_beyond_digits`). The table prints as markdown for benchmarks/README.md;
`--out` also saves it as CSV.

On a CPU without native bf16 (no amx_bf16 / avx512_bf16 flag), bf16 is emulated and several times slower
than fp32; the numbers are the same arithmetic (bf16 rounding, fp32 accumulation), only slower.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DIGITS = 3  # the book prints metrics as {:.3f}


def moved_beyond_digits(a: float, b: float, digits: int = DIGITS) -> bool:
    """True when `a` and `b` print differently at `digits` decimals (NaN vs NaN does not move)."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return bool(np.isfinite(a) != np.isfinite(b))
    return f"{a:.{digits}f}" != f"{b:.{digits}f}"


def metric_family(metric: str) -> str:
    """The family a metric is named by in the methods page (top1@sev=3 -> top1, auroc_mcm -> auroc)."""
    for fam in ("top1", "auroc", "fpr95", "ece", "nll", "shape_bias", "R@", "recall"):
        if metric.startswith(fam) or fam in metric:
            return {"R@": "retrieval recall", "recall": "retrieval recall"}.get(fam, fam)
    return metric


def moved_metrics(df: pd.DataFrame, digits: int = DIGITS) -> list[str]:
    """Metric families with at least one (model, dataset) value that moves beyond `digits` decimals."""
    moved = df[[moved_beyond_digits(a, b, digits) for a, b in zip(df["fp32"], df["bf16"])]]
    return sorted({metric_family(m) for m in moved["metric"]})


LAB_SETS = ("lab-val", "lab-v2", "lab-sketch", "lab-silhouette", "lab-cue-conflict", "lab-factors", "lab-ood",
            "lab-3dcc", "lab-retrieval")


def cached_models(recipes: list[str], profile) -> list[str]:
    """`recipe#seed` of every seed whose trained weights are in the cache (none are trained here)."""
    from clipstudy.lab import zoo as lab_zoo

    out = []
    for r in recipes:
        for s in lab_zoo.seeded(r, profile):
            pt, _ = lab_zoo.paths(s, profile)
            if Path(pt).exists():
                out.append(f"{r}#{s.seed - lab_zoo.recipe(r).seed}")
    return out


def _outputs(loaded, ls, prompts: str, precision: str):
    """The engine's zero-shot outputs of a lab model on a lab set, as the chapters compute them."""
    from clipstudy.lab.evaluate import outputs  # the one lab evaluation path (issue 13)

    return outputs(loaded, ls, prompts.removeprefix("lab-"), precision=precision)


def lab_part(models: list[str], profile, prompts: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(agreement per model x set, metrics per model x set x metric under fp32 and bf16)."""
    from clipstudy.lab import evaluate as lab_eval
    from clipstudy.lab import zoo as lab_zoo

    # The same (fp32-trained: the lab's own training policy) weights under both encode precisions.
    agree, mets = [], []
    for m in models:
        loaded = lab_zoo.load(m, profile=profile, progress=False)
        preds = {}
        for prec in ("fp32", "bf16"):
            t0 = time.perf_counter()
            df = lab_eval.metrics_table(m, profile, prompts=prompts, precision=prec)
            df["precision"] = prec
            mets.append(df)
            for name in LAB_SETS:
                ls = lab_eval.sized_labset(name, profile)
                res = _outputs(loaded, ls, prompts, prec)
                preds[(name, prec)] = (res.logits.argmax(1), res.labels)
            print(f"  {m} {prec}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        for name in LAB_SETS:
            (a, y), (b, _) = preds[(name, "fp32")], preds[(name, "bf16")]
            keep = y >= 0
            agree.append(dict(model=m, dataset=name, n=len(a), agreement=float((a == b).float().mean()),
                              top1_fp32=float((a[keep] == y[keep]).float().mean()) if keep.any() else float("nan"),
                              top1_bf16=float((b[keep] == y[keep]).float().mean()) if keep.any() else float("nan")))
    m = pd.concat(mets, ignore_index=True)
    wide = m.pivot_table(index=["model", "dataset", "metric"], columns="precision", values="value").reset_index()
    wide["delta"] = wide["bf16"] - wide["fp32"]
    return pd.DataFrame(agree), wide


def stimuli_part(workdir: Path, limit: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random ViT-B-32 on the stimuli: agreement and top-1 per set, shape bias on cue-conflict."""
    import torch

    from clipstudy import datasets, metrics, zeroshot, zoo
    from clipstudy.datasets import cue_conflict

    ckpt = common.random_checkpoint("ViT-B-32", workdir / "vit_b32_random.pt")
    loaded = zoo.load(f"ViT-B-32@{ckpt}", "cpu")
    names = cue_conflict.direct_classnames()
    agree, mets = [], []
    for d in ("cue-conflict", "edges", "silhouettes"):
        ds = datasets.load(d, transform=loaded.preprocess)
        if limit:
            ds = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
            ds.dataset_id = f"{d}[:{limit}]"
        out = {}
        for prec in ("fp32", "bf16"):
            t0 = time.perf_counter()
            res = zeroshot.run(loaded, ds, dataset_id=f"stimuli-{d}" + (f"[:{limit}]" if limit else ""),
                               prompts="single", classnames=names, device="cpu", precision=prec, progress=False)
            out[prec] = res
            print(f"  ViT-B-32 {d} {prec}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            mets.append(dict(model="ViT-B-32 random", dataset=d, metric="top1", precision=prec, value=res.accuracy()))
            if d == "cue-conflict":
                base = ds.dataset if limit else ds
                texture = base.frame["texture_label"].to_numpy()[:len(ds)]
                dec = res.logits.argmax(1).numpy()
                sb = metrics.shape_bias(dec, res.labels.numpy(), texture)
                mets.append(dict(model="ViT-B-32 random", dataset=d, metric="shape_bias", precision=prec, value=sb))
        a, b = out["fp32"].logits.argmax(1), out["bf16"].logits.argmax(1)
        cos = float((out["fp32"].encoded.features * out["bf16"].encoded.features).sum(-1).min())
        agree.append(dict(model="ViT-B-32 random", dataset=d, n=len(a), agreement=float((a == b).float().mean()),
                          top1_fp32=out["fp32"].accuracy(), top1_bf16=out["bf16"].accuracy(), min_cosine=cos))
    m = pd.DataFrame(mets)
    wide = m.pivot_table(index=["model", "dataset", "metric"], columns="precision", values="value").reset_index()
    wide["delta"] = wide["bf16"] - wide["fp32"]
    return pd.DataFrame(agree), wide


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="lab", help="lab profile of the lab models and sets (lab | smoke)")
    ap.add_argument("--recipes", default="all", help="comma-separated recipes, or all (every cached seed is used)")
    ap.add_argument("--models", help="comma-separated RECIPE#SEED to use instead of every cached seed of --recipes")
    ap.add_argument("--train", action="store_true", help="train the missing seeds first (slow: minutes per model)")
    ap.add_argument("--prompts", default="lab-ensemble")
    ap.add_argument("--stimuli-limit", type=int, default=0, help="first N images of each stimuli set (0: all)")
    ap.add_argument("--skip-lab", action="store_true")
    ap.add_argument("--skip-stimuli", action="store_true")
    ap.add_argument("--workdir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "clipstudy-bench"))
    ap.add_argument("--out", help="folder for precision_agreement.csv and precision_metrics.csv")
    a = ap.parse_args(argv)

    from clipstudy.encode import cpu_has_bf16, resolve_precision
    from clipstudy.lab import zoo as lab_zoo
    from clipstudy.profiles import lab_profile

    prof = lab_profile(a.profile)  # --profile's name, resolved once here

    print(f"# precision_accuracy.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{common.machine()}; native bf16 on this CPU: {cpu_has_bf16()} (auto = {resolve_precision('auto', 'cpu')})\n")
    agree, mets = [], []
    if not a.skip_lab:
        recipes = lab_zoo.names() if a.recipes == "all" else a.recipes.split(",")
        if a.train:
            lab_zoo.train(recipes, profile=prof)
        models = a.models.split(",") if a.models else cached_models(recipes, prof)
        print(f"lab models ({prof.name}, cached): {', '.join(models) or 'none'}\n")
        ag, me = lab_part(models, prof, a.prompts)
        agree.append(ag)
        mets.append(me)
    if not a.skip_stimuli:
        ag, me = stimuli_part(Path(a.workdir), a.stimuli_limit or None)
        agree.append(ag)
        mets.append(me)
    agree_df = pd.concat(agree, ignore_index=True)
    met_df = pd.concat(mets, ignore_index=True)
    met_df["moved"] = [moved_beyond_digits(x, y) for x, y in zip(met_df["fp32"], met_df["bf16"])]
    print("## top-1 agreement, bf16 vs fp32 predictions\n")
    print(common.table(agree_df.to_dict("records"), floatfmt="{:.4f}"))
    print("\n## metric changes (bf16 - fp32), summarised per metric family over models and sets\n")
    met_df["family"] = met_df["metric"].map(metric_family)
    summ = (met_df.assign(absd=met_df["delta"].abs())
            .groupby("family").agg(values=("absd", "size"), max_abs_delta=("absd", "max"),
                                   mean_abs_delta=("absd", "mean"), moved=("moved", "sum")).reset_index())
    print(common.table(summ.to_dict("records"), floatfmt="{:.4f}"))
    print("\n## every value that prints differently at 3 decimals\n")
    print(common.table(met_df[met_df["moved"]].drop(columns=["family"]).to_dict("records"), floatfmt="{:.4f}"))
    print(f"\nmetrics that move beyond their reported digits ({DIGITS} decimals): "
          f"{', '.join(moved_metrics(met_df)) or 'none'}")
    print(f"lowest agreement: {agree_df['agreement'].min():.4f} ({agree_df.loc[agree_df['agreement'].idxmin(), 'model']} "
          f"on {agree_df.loc[agree_df['agreement'].idxmin(), 'dataset']})")
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        agree_df.to_csv(Path(a.out) / "precision_agreement.csv", index=False)
        met_df.to_csv(Path(a.out) / "precision_metrics.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
