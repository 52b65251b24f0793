"""Chapter 08: 3D awareness: accuracy under 3D (and 2D) corruptions by severity, and cross-view correspondence."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..analysis import threed
from ..lab import evaluate as lab_eval
from .core import IdLookup, Outputs, Row, row, Axis, display, register, show

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Top-1 per 3D common corruption and severity (severity 0: the clean images of the lab set)."""
    f = o.frame[["corruption", "severity"]].assign(correct=o.correct().astype(float))
    if (f["corruption"] == "none").any():
        from ..analysis.threed import corruption_accuracy

        t = corruption_accuracy(f["correct"].to_numpy(), f)
    else:
        t = f.groupby(["corruption", "severity"])["correct"].agg(accuracy="mean", n="size").reset_index()
    return [row(f"{r.corruption}/{int(r.severity)}", "top1", r.accuracy, r.n) for r in t.itertuples()]


AXIS = register(Axis("threed", threed.AXIS, "08_3d_awareness", live=("imagenet-3dcc",), lab=("lab-3dcc",),
                     runner="3d", tasks=("3d",), evaluate=evaluate, metrics=("top1",)))
ARCHS = ["base", "arch-vit", "arch-convnext"]


def records(ch: chapter.Chapter) -> None:
    """The records hold nothing on this axis: one notice says so."""
    ch.effects.not_measured("test-time prompts", "correspondence reads the image tower only; the 3DCC rows use the "
                            "prompt ensemble throughout (the prompt effect is measured in chapters 2-6)")
    if chapter.records_ready():  # else one "Records missing" notice
        chapter.notice("No records on this axis", "The records hold no 3DCC or correspondence numbers of real models; "
                       "nothing on this axis is taken from them.")


def lab_examples(ch: chapter.Chapter) -> None:
    """A clean lab-3dcc image and each corruption at severities 3 and 5."""
    ls3 = lab_eval.labset("lab-3dcc", ch.params.n_3dcc_scenes, ch.lab_profile)
    f3 = ls3.factors
    pick = [0] + [int(np.flatnonzero(((f3["corruption"] == c) & (f3["severity"] == s)).to_numpy())[0])
                  for c in f3.loc[f3["corruption"] != "none", "corruption"].unique() for s in (3, 5)]
    fig, _ = plots.image_grid(ls3.images[pick], [f"{f3['corruption'][i]} s{f3['severity'][i]}" for i in pick],
                              ncols=6, size=1.35)
    ch.figure(fig, f3.iloc[pick].reset_index(drop=True)[["corruption", "severity", "shape"]], "lab_3dcc_examples")
    show()


def lab_calibration(ch: chapter.Chapter) -> pd.DataFrame:
    """The 3D strengths calibrated on the base recipe: target drop (mean 2D drop), level and achieved drop."""
    from ..lab import severity

    t = ch.save(severity.table(ch.lab_profile, ch.device), "lab_3dcc_calibration")
    fig, ax = plots.bars(t, "severity", "achieved_drop", hue="corruption", figsize=(7, 3.2), rotate=0, legend="keep",
                         ylabel="base's drop, clean − corrupted", title="3D strengths calibrated to the 2D drops "
                         "(calibration scenes; black: the 2D target)")
    target = t.groupby("severity")["target_drop"].first()
    ax.scatter(range(len(target)), target.to_numpy(), color="black", marker="_", s=400, zorder=3)
    ch.figure(fig, t, "lab_3dcc_calibration")
    show()
    short = sorted(set(t.loc[~t["reached"].astype(bool), "corruption"]))
    gap = float((t["achieved_drop"] - t["target_drop"]).abs().mean())
    chapter.finding("On {n:.0f} calibration scenes the calibrated 3D corruptions cost base within {g:.3f} (mean "
                    "absolute difference) of the 2D target at each severity. {rest}", n=float(t["n_scenes"].iloc[0]),
                    g=gap, rest=(f"{', '.join(short)} could not reach the target even at the strongest level tried, "
                                 "so it stays weaker than the 2D corruptions." if short else
                                 "Every 3D corruption reached the target."))
    return t


def lab_3dcc(ch: chapter.Chapter) -> pd.DataFrame:
    """Top-1 of every recipe and seed per corruption and severity; the three architectures' curves."""
    acc3 = threed.lab_3dcc(list(lab_eval.recipes(ch.lab_profile)["recipe"]), n_scenes=ch.params.n_3dcc_scenes,
                           profile=ch.lab_profile, device=ch.device, seeds=lab_eval.seeds(ch.lab_profile))
    ch.save(acc3, "lab_3dcc")
    arch = acc3[acc3["model"].isin(ARCHS)]
    fig = plots.severity_lines(arch, "severity (0 = clean)", aspect=1.1)
    ch.figure(fig, arch, "lab_3dcc_by_architecture")
    show()
    return acc3


def lab_drop(ch: chapter.Chapter, acc3: pd.DataFrame) -> None:
    """Mean drop from clean, 3D against 2D corruptions per recipe; the finding and the effects."""
    recipes = list(lab_eval.recipes(ch.lab_profile)["recipe"])
    summ = ch.save(threed.kind_summary(acc3, by=["model"]), "lab_3dcc_kind_summary")
    fig, ax = plots.bars(summ, "model", "drop", hue="kind", order=recipes, figsize=(9, 3.6), rotate=45, legend="keep",
                         ylabel="accuracy drop, clean − corrupted (fraction)",
                         title="Mean drop over severities 1-5, 3D vs 2D corruptions")
    ch.figure(fig, summ, "lab_3dcc_drop")
    show()
    w = summ.pivot_table(index="model", columns="kind", values="drop")
    b = w.loc["base"]
    # 2D and 3D severities are comparable only if they cost base about the same; otherwise counting recipes whose 3D
    # drop is larger measures the corruptions, not the models, and the chapter says so instead of counting
    ratio = float(b["3D"] / b["2D"]) if b["2D"] > 0 else float("nan")
    comparable = bool(np.isfinite(ratio) and 2 / 3 <= ratio <= 3 / 2)
    chapter.finding("For the base recipe, 3D corruptions cost {d3:.3f} of accuracy on average and 2D ones {d2:.3f} "
                    "(ratio {r:.2f}). {rest}", d3=b["3D"], d2=b["2D"], r=ratio,
                    rest=(f"The two kinds are comparable in strength on base (ratio within 2/3..3/2), and across "
                          f"{len(w)} recipes the 3D drop is larger for {int((w['3D'] > w['2D']).sum())}." if comparable
                          else "Although calibrated on separate scenes, the two kinds cost base different amounts on "
                          "these evaluation scenes (ratio outside 2/3..3/2; the calibration table above says which 3D "
                          "corruption fell short), so how many recipes lose more to 3D than to 2D corruptions says "
                          "more about the corruptions than about the models; compare recipes within one kind instead."))
    ch.effects.extend(threed.recipe_effects(acc3[acc3["severity"] > 0], lab_eval.recipe_factors(), "accuracy",
                                            "accuracy under 3D corruptions (severity 1-5 mean)", where={"kind": "3D"}))


def explorer(ch: chapter.Chapter, acc3: pd.DataFrame) -> None:
    """A severity slider redrawing every recipe's accuracy per corruption (static books show a note)."""
    try:
        import ipywidgets as W

        def _at(severity: int = 3):
            plots.bars(acc3[acc3["severity"] == severity], "corruption", "accuracy", hue="model", figsize=(10, 3.4),
                       rotate=0, ylim=(0, 1), ylabel="top-1 (fraction)", title=f"severity {severity}",
                       legend=dict(fontsize=6, ncol=3))
            show()

        W.interact(_at, severity=W.IntSlider(value=3, min=0, max=5, step=1, description="severity"))
    except ImportError:
        print("ipywidgets is not installed: the static figures above are the whole record.")


def correspondence(ch: chapter.Chapter) -> pd.DataFrame:
    """Cross-view correspondence recall of every recipe's dense features (and raw pixels) by radius."""
    recipes = list(lab_eval.recipes(ch.lab_profile)["recipe"])
    size = lab_eval.labset("lab-3dcc", ch.params.n_3dcc_scenes, ch.lab_profile).images.shape[-1]
    cr = threed.lab_correspondence(recipes, n_pairs=ch.params.n_3dcc_scenes, profile=ch.lab_profile, device=ch.device)
    ch.save(cr, "lab_correspondence")
    display(cr.pivot_table(index=["model", "arch", "layer", "grid"], columns="radius", values="recall").round(3))
    fig, ax = plots.bars(cr.assign(r=cr["radius"].map(lambda v: f"{v:g} px")), "model", "recall", hue="r",
                         order=["pixels"] + recipes, palette="crest", figsize=(9.5, 3.8), rotate=45,
                         ylabel="correspondence recall (fraction)",
                         title=f"Matches within r px of the true point ({size} px images)",
                         legend=dict(title="radius r", fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left"))
    ch.figure(fig, cr, "lab_correspondence")
    show()
    r4 = cr[cr["radius"] == 4].set_index("model")["recall"]
    best = r4.reindex(ARCHS).dropna()
    chapter.finding("At 4 px, the base model (ResNet) recovers {b:.3f} of correspondences, raw pixels {p:.3f}; among "
                    "the three architectures {best} is best ({v:.3f}).", b=r4.get("base", np.nan),
                    p=r4.get("pixels", np.nan), best=best.idxmax() if len(best) else "none",
                    v=best.max() if len(best) else np.nan)
    ch.effects.extend(threed.recipe_effects(cr, lab_eval.recipe_factors(), "recall", "correspondence recall@4px",
                                            where={"radius": 4}))
    return cr


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """ImageNet-3DCC top-1 per corruption and severity of the live grid's models (the runner's results table)."""
    t = ch.live()
    if t is None:
        return None
    parts = t["part"].str.rsplit("/", n=1)
    lv = t.assign(corruption=parts.str[0], severity=parts.str[1].astype(int)).rename(columns={"value": "accuracy"})
    lv = ch.save(lv[["model", "corruption", "severity", "accuracy", "n"]], "live_3dcc")
    fig = plots.severity_lines(lv, "severity", titles=False)
    ch.figure(fig, lv, "live_3dcc")
    show()
    chapter.finding("Over {n:.0f} live models, mean ImageNet-3DCC accuracy falls from {a1:.3f} at severity 1 to "
                    "{a5:.3f} at severity 5.", n=lv["model"].nunique(),
                    a1=float(lv[lv["severity"] == 1]["accuracy"].mean()),
                    a5=float(lv[lv["severity"] == 5]["accuracy"].mean()))
    return lv
