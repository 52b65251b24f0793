"""Chapter 02: natural distribution shifts and effective robustness (records, LAION grid, lab, live)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..analysis import effects as E
from ..analysis import shifts
from ..lab import evaluate as lab_eval
from .core import IdLookup, Outputs, Row, row, Axis, LAB_FACTORS, display, register, show

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Top-1 and top-5 zero-shot accuracy on a labelled set (natural shifts: compare with the ID set's)."""
    if not o.has_head:
        return []
    n = len(o.zs.labels)
    rows = [row("all", "top1", o.zs.accuracy(1), n)]
    if o.zs.logits.shape[1] > 5:
        rows.append(row("all", "top5", o.zs.accuracy(5), n))
    return rows


AXIS = register(Axis("shifts", "natural shifts", "02_natural_shifts",
                     live=("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "objectnet"),
                     lab=("lab-val", *shifts.LAB_SHIFTS),
                     runner="shifts", tasks=("classification",), evaluate=evaluate, metrics=("top1", "top5")))
NOTES = {"test-time prompts": "the records fix the prompts (OpenAI's 80 templates); see the lab rows when present"}


# ---- records ---------------------------------------------------------------------------------------
def records_points(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Each record model's accuracy on ImageNet and each shift, with the ImageNet-model line (None: no records)."""
    if not chapter.records_ready():  # else one "Records missing" notice
        return None
    from .. import records

    points = ch.save(records.natural_shift_er(), "records_er_points")
    display(points.groupby("group")["model"].nunique().rename("models").to_frame())
    return points


def records_scatter(ch: chapter.Chapter, points: pd.DataFrame | None) -> None:
    if points is None:
        return
    from .. import records

    order = [s for s in records.SHIFTS if s in set(points["dataset"])]
    fig = plots.er_panels(points, order, hue="group", ylabel="{} top-1 (%)", title="{} (line: {} ImageNet models)",
                          grid=(2, 2), figsize=(10, 8.6))
    ch.figure(fig, points[["model", "group", "dataset", "id_acc", "ood_acc", "predicted", "er"]], "records_er_scatter")
    show()


def records_groups(ch: chapter.Chapter, points: pd.DataFrame | None) -> pd.DataFrame | None:
    """Mean ER by group and shift, and the findings they decide."""
    if points is None:
        return None
    table = ch.save(shifts.shift_group_table(points), "records_er_by_group")
    display(table.pivot(index="dataset", columns="group", values="er_mean").round(3))
    by_group = shifts.mean_er(points).groupby("group")["er"].mean()
    chapter.finding("Averaged over V2, Sketch, R and A, zero-shot CLIPs have mean effective robustness {zs:.3f}, "
                    "ImageNet-fine-tuned CLIPs {ft:.3f} and ImageNet models {inet:.3f} (accuracy as a fraction).",
                    zs=by_group.get("zero-shot CLIP", np.nan), ft=by_group.get("CLIP fine-tuned", np.nan),
                    inet=by_group.get("ImageNet model", np.nan))
    v2 = table[(table["dataset"] == "imagenet-v2") & (table["group"] == "zero-shot CLIP")]["er_mean"]
    r_ = table[(table["dataset"] == "imagenet-r") & (table["group"] == "zero-shot CLIP")]["er_mean"]
    if len(v2) and len(r_):
        chapter.finding("For zero-shot CLIPs the gain is {word} on ImageNet-R (mean ER {r:.3f}) than on ImageNet-V2 "
                        "({v2:.3f}), the shift that changes least.",
                        word=chapter.direction(float(r_.iloc[0] - v2.iloc[0]), "larger", "smaller"),
                        r=float(r_.iloc[0]), v2=float(v2.iloc[0]))
    return table


def records_tags(ch: chapter.Chapter, points: pd.DataFrame | None) -> None:
    """ER of zero-shot CLIPs by tag (box plots), ER by training data, and the records' effects."""
    if points is None:
        return
    from .. import records

    long = shifts.er_by_tags(shifts.mean_er(points), ("data_scale", "family", "loss"))
    fig = plots.er_by_tag(long)
    ch.figure(fig, long, "records_er_by_tag")
    show()
    ch.save(records.er_summary(points[points["group"] == "zero-shot CLIP"], by="data"), "records_er_by_data")


def records_effects(ch: chapter.Chapter, points: pd.DataFrame | None) -> None:
    if points is None:
        return
    rec = ch.effects.extend(shifts.records_effects(points, AXIS.name))
    display(pd.DataFrame(rec)[["factor", "effect", "comparison"]].round(3))
    ft = next(r for r in rec if r["factor"] == "fine-tuning")
    chapter.finding("Fine-tuning CLIPs on ImageNet changes their mean ER by {e:+.3f} against zero-shot CLIPs of the "
                    "same family and data: effective robustness is {word}.", e=ft["effect"],
                    word=chapter.direction(ft["effect"], "gained", "lost"))


def records_objectnet(ch: chapter.Chapter, points: pd.DataFrame | None) -> None:
    """ObjectNet has no ImageNet-model baseline: its rank agreement with ImageNet instead."""
    if points is None:
        return
    from scipy import stats

    from .. import records

    oc = records.load("open_clip")
    obj = oc[(oc["metric"] == "acc1") & oc["dataset"].isin(["imagenet", "objectnet"])].pivot_table(
        index="model", columns="dataset", values="value", aggfunc="first").dropna()
    if len(obj) > 2:
        rho = stats.spearmanr(obj["imagenet"], obj["objectnet"]).statistic
        ch.save(obj.reset_index(), "records_objectnet")
        chapter.finding("ObjectNet has no ImageNet-model baseline in these records, so no ER is computed for it; over "
                        "{n:.0f} zero-shot CLIPs its accuracy tracks ImageNet accuracy with Spearman rho {rho:.3f}.",
                        n=len(obj), rho=rho)


def laion_grid(ch: chapter.Chapter) -> pd.DataFrame | None:
    """LAION's scaling grid: neighbouring cells are controlled contrasts of data size and samples seen."""
    if not chapter.records_ready("scaling_laws_openclip", "timm"):  # else one notice naming the fetch command
        return None
    from .. import records
    from ..analysis import scaling_grid

    grid = records.scaling.grid_er(records.scaling.grid(records.load("scaling_laws_openclip")), records.load("timm"))
    ch.save(grid, "records_laion_grid")
    for col, label, title, name in (("imagenet", "ImageNet zero-shot top-1", "LAION grid: ImageNet accuracy",
                                     "records_laion_grid_imagenet"),
                                    ("er", "ER, mean over V2, Sketch, R, A", "LAION grid: effective robustness",
                                     "records_laion_grid_er")):
        fig, _ = plots.grid_lines(grid, col, label, title=title)
        ch.figure(fig, grid, name)
        show()
    rows = ch.effects.extend(
        scaling_grid.grid_effects(grid, "imagenet", "ImageNet top-1 (LAION grid)", AXIS.name)
        + scaling_grid.grid_effects(grid, "er", "effective robustness (mean over shifts, LAION grid)", AXIS.name))
    g = E.effects_frame(rows)
    display(g[["factor", "metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(4))
    for r in g[g["metric"].str.startswith("effective")].to_dict("records"):
        chapter.finding("{comp}: ER changes by {e:+.4f} ({ci}): {word}.", comp=r["comparison"], e=r["effect"],
                        ci=E.interval_text(r, "{:+.4f}"), word=E.direction_words(r, "more robust", "less robust"))
    return grid


# ---- lab -------------------------------------------------------------------------------------------
def lab_accuracy(ch: chapter.Chapter) -> pd.DataFrame:
    """Top-1 of every recipe and seed on lab-val and the lab shifts (and base with one template), per image."""
    recs = lab_eval.recipes(ch.lab_profile)
    lab_sets = ["lab-val", *shifts.LAB_SHIFTS]
    kw = dict(n=ch.n_eval, profile=ch.lab_profile, device=ch.device, seeds_="all", per_image=True)
    acc = lab_eval.accuracy_table(recs["recipe"], lab_sets, **kw)
    single = lab_eval.accuracy_table(["base"], lab_sets, prompts="single", **kw)
    acc_all = pd.concat([acc.assign(model=acc["recipe"] + "#" + acc["seed"].astype(str)),
                         single.assign(model="base, one prompt#" + single["seed"].astype(str),
                                       recipe="base, one prompt")], ignore_index=True)
    ch.save(acc_all.drop(columns="correct"), "lab_accuracy")
    print(f"{len(lab_eval.seeds(ch.lab_profile))} training seeds per recipe; mean top-1 over seeds:")
    display(acc_all.pivot_table(index="recipe", columns="dataset", values="accuracy", aggfunc="mean").round(3))
    return acc_all


def lab_parity(ch: chapter.Chapter, acc_all: pd.DataFrame) -> dict[str, str]:
    """Whether each recipe reached base's quality; recipe -> flag for those that did not."""
    par = ch.save(lab_eval.parity(acc_all[acc_all["recipe"] != "base, one prompt"]), "lab_parity")
    display(par.round(3))
    under = par[par["undertrained"]]
    pv = par.set_index("recipe")
    if {"base", "arch-vit"} <= set(pv.index):
        chapter.finding("Mean lab-val top-1 over {k} seeds: base {b:.3f}, arch-vit {v:.3f} (gap {g:+.3f}); {n} recipe(s) "
                        "fall more than 15% below base{who}.", k=len(lab_eval.seeds(ch.lab_profile)),
                        b=float(pv.loc["base", "accuracy"]), v=float(pv.loc["arch-vit", "accuracy"]),
                        g=float(pv.loc["arch-vit", "gap"]), n=len(under),
                        who=(": " + ", ".join(under["recipe"])) if len(under) else "")
    return {r: f"undertrained: lab-val {a:.3f} vs base {a - g:.3f}" for r, a, g in
            zip(under["recipe"], under["accuracy"], under["gap"])}


def lab_er(ch: chapter.Chapter, acc_all: pd.DataFrame) -> pd.DataFrame:
    """ER of every lab model against the zoo's own line per shift, flagged where a recipe trains on the shift."""
    recs = lab_eval.recipes(ch.lab_profile)
    seed0 = lab_eval.seeds(ch.lab_profile)[0]
    ler = shifts.lab_er(acc_all, baseline=list(acc_all.loc[acc_all["recipe"] != "base, one prompt", "model"].unique()))
    ler = ler.merge(acc_all[["model", "recipe", "seed"]].drop_duplicates("model"), on="model", how="left")
    ler = ler.merge(recs[["recipe", "factor"]], on="recipe", how="left")
    ler["factor"] = ler["factor"].map(LAB_FACTORS).fillna(ler["factor"]).fillna("test-time prompts")
    ler["flag"] = [lab_eval.shift_flag(r, d) for r, d in zip(ler["recipe"], ler["dataset"])]
    ch.save(ler, "lab_er")
    fig = plots.lab_er_panels(ler, list(shifts.LAB_SHIFTS), seed0)
    ch.figure(fig, ler, "lab_er_scatter")
    show()
    print("* the recipe trains on this shift (flagged); labels mark seed", seed0)
    return ler


def lab_effects(ch: chapter.Chapter, acc_all: pd.DataFrame, ler: pd.DataFrame, flags: dict[str, str]) -> pd.Series:
    """Each factor's effect on mean ER over the lab shifts (seeds and images), its forest plot and findings."""
    recs = lab_eval.recipes(ch.lab_profile)
    boots = shifts.lab_er_replicates(acc_all, ler)
    lab_mean = ler.groupby(["model", "recipe", "seed"])["er"].mean().rename("er").reset_index()
    lab_mean["boot"] = [boots.get(m) for m in lab_mean["model"]]
    er_flags = {r: "; ".join(sorted({f for f in ler.loc[ler["recipe"] == r, "flag"] if f})) for r in recs["recipe"]}
    er_flags = {r: "; ".join(x for x in (f, flags.get(r, "")) if x) for r, f in er_flags.items()}
    metric = "effective robustness (mean over lab shifts)"
    rows = ch.effects.lab(lab_mean, recs, metric, value="er", flags={r: f for r, f in er_flags.items() if f})
    if {"base", "base, one prompt"} <= set(lab_mean["recipe"]):
        t, b = (lab_mean[lab_mean["recipe"] == x].sort_values("seed") for x in ("base, one prompt", "base"))
        rows = rows + [ch.effects.prompts(metric, t["er"], b["er"], t["boot"], b["boot"])]
    lab_eff = pd.DataFrame(rows)
    display(lab_eff[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(4))
    fig = plots.effect_forest(lab_eff, "change in mean ER over lab shifts (treatment minus base), 95% CI over seeds "
                              "and images", "Lab: effect of one factor at a time on ER")
    ch.figure(fig, lab_eff, "lab_effects")
    show()
    for r in rows:
        chapter.finding("{comp}, effect on ER: {words}.", comp=r["comparison"], words=E.effect_words(r, "{:+.4f}"))
    means = lab_mean.groupby("recipe")["er"].mean()
    fair = means.drop([r for r in means.index if er_flags.get(r) or r == "base, one prompt"], errors="ignore")
    best = fair.sort_values(ascending=False)
    chapter.finding("Among recipes whose training world holds none of the tested shifts, the one furthest above the "
                    "zoo's trend is '{r}' (mean ER {er:+.3f} over seeds); base sits at {b:+.3f}.",
                    r=best.index[0], er=float(best.iloc[0]), b=float(means.get("base", np.nan)))
    return means


# ---- live ------------------------------------------------------------------------------------------
def live(ch: chapter.Chapter, points: pd.DataFrame | None) -> pd.DataFrame | None:
    """ER of the live grid's models (the runner's results table) against the records' ImageNet-model line."""
    t = ch.live()
    if t is None:
        return None
    zs_table = ch.save(t[t["part"] == "all"][["model", "dataset", "metric", "value", "n", "prompts", "precision"]],
                       "live_zero_shot")
    ler = ch.save(shifts.live_er(zs_table, points), "live_er")
    display(ler.pivot_table(index="model", columns="dataset", values="er").round(3))
    chapter.finding("Over {n:.0f} live models and their shifts, the mean ER against the records' ImageNet-model "
                    "line is {er:.3f}.", n=ler["model"].nunique(), er=float(ler["er"].mean()))
    return ler
