"""Chapter 01: the build's profile, the evidence at hand, the lab zoo, and in-distribution zero-shot accuracy."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..lab import evaluate as lab_eval
from . import shifts
from .core import Axis, display, register, show

AXIS = register(Axis("introduction", "in-distribution accuracy", "01_introduction", live=("imagenet",), lab=("lab-val",),
                     order=1,
                     summarised=False))


def _shown(df: pd.DataFrame) -> pd.DataFrame:
    display(df)
    return df


def profiles(ch: chapter.Chapter) -> pd.DataFrame:
    """Every build profile and the sizes it sets; the one in use is marked."""
    from ..profiles import PROFILES

    params = pd.DataFrame([dict(p.parameters(), in_use=(name == ch.profile)) for name, p in PROFILES.items()])
    ch.save(params, "profiles")
    _shown(params)
    print(f"this build: profile={ch.profile} lab_profile={ch.params.parameters()['lab_profile']} n_eval={ch.n_eval} "
          f"live={ch.params.live} device={ch.device}")
    return params


def sources(ch: chapter.Chapter) -> pd.DataFrame | None:
    """How many models each published record table holds, by group."""
    if not chapter.records_ready():  # else one "Records missing" notice
        return None
    from .. import records

    rows = []
    for name in ("open_clip", "timm", "imagenet_x", "cue_conflict"):
        f = records.load(name)
        key = "subject" if name == "cue_conflict" else "model"
        for g, n in f.drop_duplicates(key).groupby("group").size().items():
            rows.append(dict(table=name, group=g, models=int(n), rows=int(len(f[f["group"] == g]))))
    return _shown(ch.save(pd.DataFrame(rows), "records_sources"))


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """The live models of the runner's table (ImageNet top-1), when the live grid ran, with their factors as the
    study reads them (their configs, and `--model-info`) and, for a hub repo, its resolved revision."""
    from ..zoo import factor_table

    t = ch.live(shifts.AXIS)
    if t is None:
        return None
    top1 = t[(t["dataset"] == "imagenet") & (t["metric"] == "top1")][["model", "prompts", "value", "n"]]
    top1 = top1.merge(factor_table(top1["model"].unique()), on="model", how="left")
    return _shown(ch.save(top1.rename(columns={"model": "live model", "value": "ImageNet top-1"}), "live_models"))


def zoo(ch: chapter.Chapter) -> pd.DataFrame:
    """The lab zoo: one row per recipe with what it changes and how it was trained; the prompt sets."""
    from ..lab import captions
    from ..lab import zoo as lab_zoo

    recs = lab_eval.recipes(ch.lab_profile)
    trained = pd.DataFrame([{**{k: (lab_zoo.record(r, ch.lab_profile) or {}).get(k) for k in
                                ("steps", "samples_seen", "n_images", "wall_s", "params")}, "recipe": r}
                            for r in recs["recipe"]])
    table = ch.save(recs.merge(trained, on="recipe"), "lab_zoo")
    _shown(table[["recipe", "factor", "arch", "loss", "shape_texture_corr", "backgrounds", "styles", "size",
                 "finetuned", "ft_kind", "n_images", "steps", "params", "wall_s"]])
    print("prompt ensemble:", *captions.ZS_TEMPLATES, sep="\n  ")
    print("single template:", captions.SINGLE_TEMPLATE[0])
    return table


def example_grid(ch: chapter.Chapter) -> None:
    """lab-val images with base's zero-shot prediction (green: correct, red: wrong)."""
    zs, ls = lab_eval.zero_shot("base", "lab-val", n=ch.n_eval, profile=ch.lab_profile, device=ch.device,
                                precision=ch.precision)
    pred, true = zs.logits.argmax(1).numpy(), zs.labels.numpy()
    k = min(24, len(pred))
    titles = [f"{ls.classnames[p]}\n(true: {ls.classnames[t]})" for p, t in zip(pred[:k], true[:k])]
    fig, axes = plots.image_grid(ls.images[:k], titles, ncols=8, size=1.5)
    for ax, p, t in zip(np.ravel(axes), pred[:k], true[:k]):
        ax.title.set_color("green" if p == t else "red")
    grid = pd.DataFrame({"index": range(k), "predicted": [ls.classnames[p] for p in pred[:k]],
                         "true": [ls.classnames[t] for t in true[:k]]})
    ch.figure(fig, grid, "lab_zero_shot_grid")
    show()


def accuracy(ch: chapter.Chapter) -> pd.DataFrame:
    """lab-val top-1 of every recipe under both prompt sets, its figure, finding and effects."""
    recs = lab_eval.recipes(ch.lab_profile)
    acc = lab_eval.accuracy_table(recs["recipe"], ["lab-val"], n=ch.n_eval, profile=ch.lab_profile, device=ch.device,
                                  precision=ch.precision)
    acc1 = lab_eval.accuracy_table(recs["recipe"], ["lab-val"], n=ch.n_eval, profile=ch.lab_profile,
                                   prompts="single", device=ch.device, precision=ch.precision)
    both = pd.concat([acc, acc1], ignore_index=True)
    both["prompts"] = both["prompts"].map({"ensemble": "template ensemble", "single": "one template"})
    ch.save(both, "lab_val_accuracy")
    chance = 1 / len(lab_eval.labset("lab-val", ch.n_eval, ch.lab_profile).classnames)
    fig, ax = plots.bars(both, "recipe", "accuracy", hue="prompts", ylabel="lab-val top-1 (fraction)",
                         title="Zero-shot accuracy in distribution", ref=chance, ref_label="chance", ylim=(0, 1),
                         figsize=(9, 3.8), rotate=35, ha=None, legend=dict(fontsize=8))
    ch.figure(fig, both, "lab_val_accuracy")
    show()
    b = acc.set_index("recipe")["accuracy"]
    chapter.finding("In distribution, the base lab CLIP reaches {a:.3f} top-1 on {n:.0f} lab-val images with the prompt "
                    "ensemble (chance {c:.3f}); with one template it reaches {s:.3f}.", a=float(b["base"]),
                    n=int(acc["n"].iloc[0]), c=chance, s=float(acc1.set_index("recipe")["accuracy"]["base"]))
    ch.effects.lab_means(acc, recs, "lab-val top-1", value="accuracy")
    d = acc1.set_index("recipe")["accuracy"] - b
    ch.effects.add("test-time prompts", "lab-val top-1", float(d["base"]), "one template vs the template ensemble (base)",
                   "lab")
    return both
