"""Chapter 02: natural distribution shifts and effective robustness (records, LAION grid, lab, live).

The axis's tables are pure functions over frames. Records: the points of `records.natural_shift_er` (one row
per model x shift) are averaged per model and contrasted between tag groups. LAION grid: controlled contrasts
on LAION's scaling-law grid (`records.scaling`), for any per-model metric. Lab: accuracies of lab models on
lab-val (ID) and its shifts, with ER against a logit-linear fit over a chosen set of baseline lab models.
Live: ER of the runner's models against the records' ImageNet-model line.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import chapter, plots
from .. import effects as E
from ..effects import contrast, effect, matched_effect, paired_effect
from ..data_sources import labels
from ..lab import evaluate as lab_eval
from .core import IdLookup, Outputs, Row, row, Axis, LAB_FACTORS, display, register, show

LAB_SHIFTS: tuple[str, ...] = ("lab-v2", "lab-sketch", "lab-silhouette")
TAGS = ["source", "group", "family", "data", "dataset_size", "finetuned", "loss"]


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
                     order=2,
                     live=("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "objectnet"),
                     lab=("lab-val", *LAB_SHIFTS),
                     runner="shifts", tasks=("classification",), evaluate=evaluate, metrics=("top1", "top5")))
NOTES = {"test-time prompts": "the records fix the prompts (OpenAI's 80 templates); see the lab rows when present"}


# ---- tables: pure functions over frames ---------------------------------------------------------

def mean_er(points: pd.DataFrame, shifts: Iterable[str] | None = None) -> pd.DataFrame:
    """Per model: ER averaged over `shifts` (default all in `points`), with its tags and n_shifts.

    Only models scored on every chosen shift are kept, so means are over the same shifts.
    """
    p = points if shifts is None else points[points["dataset"].isin(list(shifts))]
    k = p["dataset"].nunique()
    tags = [c for c in TAGS if c in p.columns]
    g = p.dropna(subset=["er"]).groupby("model")
    out = g["er"].agg(er="mean", n_shifts="count").reset_index()
    out = out[out["n_shifts"] == k]
    info = p.drop_duplicates("model").set_index("model")[tags]
    return out.join(info, on="model").reset_index(drop=True)


def records_er_effects(points: pd.DataFrame, axis: str = "natural shifts",
                    metric: str = "effective robustness (mean over shifts)") -> list[dict]:
    """Six-factor contrasts of mean ER in the records (observational: matched where the tags allow).

    architecture: ViT minus ResNet zero-shot CLIPs, matched on training data;
    fine-tuning: ImageNet-fine-tuned CLIPs (timm) minus zero-shot CLIPs, matched on family and data;
    contrastive loss: SigLIP minus CLIP-loss zero-shot CLIPs, matched on family.
    Training data and size are contrasted over more checkpoints, on ER over Sketch and R (`records_data_size`).
    """
    m = mean_er(points)
    zs = m[m["group"] == "zero-shot CLIP"].copy()
    clip = m[m["group"].isin(["zero-shot CLIP", "CLIP fine-tuned"])]
    specs = [
        ("architecture", zs, "family", "vit", "resnet", ["data"], "ViT vs ResNet zero-shot CLIPs"),
        ("fine-tuning", clip, "group", "CLIP fine-tuned", "zero-shot CLIP", ["family", "data"],
         "ImageNet-fine-tuned CLIPs (timm) vs zero-shot CLIPs"),
        ("contrastive loss", zs, "loss", "siglip", "clip", ["family"], "SigLIP vs CLIP loss, zero-shot CLIPs"),
    ]
    rows = []
    for factor, frame, col, t, b, match, text in specs:
        c = matched_effect(frame, col, t, b, "er", match)
        how = (f"matched on {'+'.join(match)}, {c['n_strata']} " + ("stratum" if c["n_strata"] == 1 else "strata")
               if c["matched"] else "unmatched")
        rows.append(contrast(factor, axis, metric, c, f"{text} (n={c['n_treatment']} vs {c['n_base']}, {how})"))
    return rows


def er_by_tags(per_model: pd.DataFrame, tags: Sequence[str] = ("data_scale", "family", "loss"),
               group: str = "zero-shot CLIP") -> pd.DataFrame:
    """Long frame (model, tag, value, er) of one group's per-model mean ER, for one panel per tag.

    `data_scale` is derived from dataset_size with `records.data_scale`; models whose tag is
    unknown (NaN) are left out of that tag's panel.
    """
    from ..records import data_scale

    m = per_model[per_model["group"] == group].copy()
    if "data_scale" in tags:
        m["data_scale"] = data_scale(m["dataset_size"]).astype(object)
    parts = [m[["model", t, "er"]].rename(columns={t: "value"}).assign(tag=t).dropna(subset=["value"]) for t in tags]
    return pd.concat(parts, ignore_index=True)[["model", "tag", "value", "er"]]


def shift_group_table(points: pd.DataFrame) -> pd.DataFrame:
    """Mean and median ER per (shift, group): zero-shot CLIP vs CLIP fine-tuned vs ImageNet models."""
    g = points.groupby(["dataset", "group"])["er"]
    return g.agg(er_mean="mean", er_median="median", n="count").reset_index()


# ---- tables: the lab ------------------------------------------------------------------------------------

def lab_er_table(acc: pd.DataFrame, id_set: str = "lab-val", shifts: Sequence[str] = LAB_SHIFTS,
           baseline: Sequence[str] | None = None, model: str = "model", dataset: str = "dataset",
           value: str = "accuracy") -> pd.DataFrame:
    """Effective robustness of lab models: one row per (model, shift).

    `acc` is tidy (model, dataset, accuracy). The logit-linear line is fitted over the `baseline`
    models (default: every model), so ER here is distance from that baseline's trend; a shift with
    fewer than 2 baseline models, or with all of them at one ID accuracy, gets NaN ER and fit.
    Columns: model, dataset, id_acc, ood_acc, predicted, er, fit_slope, fit_intercept, fit_n.
    """
    from ..metrics import effective_robustness

    wide = acc.pivot_table(index=model, columns=dataset, values=value, aggfunc="first")
    if id_set not in wide.columns:
        raise ValueError(f"lab_er: no accuracies on the ID set {id_set!r}; datasets are {list(wide.columns)}")
    base_models = list(wide.index) if baseline is None else [b for b in baseline if b in wide.index]
    out = []
    for s in shifts:
        if s not in wide.columns:
            continue
        w = wide[[id_set, s]].dropna()
        base = w.loc[[b for b in base_models if b in w.index]]
        p = pd.DataFrame({"model": w.index, "dataset": s, "id_acc": w[id_set].to_numpy(), "ood_acc": w[s].to_numpy()})
        try:
            er, fit = effective_robustness(p["id_acc"], p["ood_acc"], base[id_set], base[s])
            p["er"], p["fit_slope"], p["fit_intercept"], p["fit_n"] = er, fit.slope, fit.intercept, fit.n
        except ValueError:  # too few or degenerate baseline points: no line, no ER
            p["er"], p["fit_slope"], p["fit_intercept"], p["fit_n"] = np.nan, np.nan, np.nan, len(base)
        p["predicted"] = p["ood_acc"] - p["er"]
        out.append(p)
    cols = ["model", "dataset", "id_acc", "ood_acc", "predicted", "er", "fit_slope", "fit_intercept", "fit_n"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def lab_er_replicates(acc: pd.DataFrame, ler: pd.DataFrame, id_set: str = "lab-val", model: str = "model",
                      per_image: str = "correct", n_boot: int | None = None) -> dict:
    """Image-bootstrap replicates of each model's ER averaged over the shifts in `ler`: {model: [n_boot]}.

    `acc` has one row per (model, dataset) with the per-image 0/1 array `per_image`; every set is resampled
    with the same indices (`effects.image_resamples`), and each shift's line stays the one fitted in `ler`
    (the zoo's trend), so the replicates carry the image part of the interval of an ER difference."""
    from ..metrics import LogitFit
    from ..effects import LAB_BOOT, image_boot

    n_boot = n_boot or LAB_BOOT
    hits = {(m, d): np.asarray(c, float) for m, d, c in zip(acc[model], acc["dataset"], acc[per_image])}
    fits = ler.drop_duplicates("dataset").set_index("dataset")
    out = {}
    for m in acc[model].unique():
        if (m, id_set) not in hits:
            continue
        id_b = image_boot(hits[(m, id_set)], n_boot=n_boot)
        ers = []
        for s, f in fits.iterrows():
            if (m, s) not in hits or not np.isfinite(f["fit_slope"]):
                continue
            line = LogitFit(f["fit_slope"], f["fit_intercept"], int(f["fit_n"]), np.nan)
            ers.append(image_boot(hits[(m, s)], n_boot=n_boot) - np.asarray(line(id_b), float))
        if ers:
            out[m] = np.mean(ers, axis=0)
    return out


# ---- tables: live ---------------------------------------------------------------------------------------

def live_er(table: pd.DataFrame, points: pd.DataFrame | None, id_set: str = "imagenet") -> pd.DataFrame:
    """ER of live models against the records' ImageNet-model line of each shift.

    `table` is `live.zero_shot_table` output (model, dataset, metric, value); `points` is
    `records.natural_shift_er()` (its fit columns give the line). Without records (None) or for a
    shift the records do not fit (ObjectNet), er is NaN and only the accuracies are reported.
    Columns: model, dataset, id_acc, ood_acc, predicted, er.
    """
    from ..metrics import LogitFit

    top1 = table[table["metric"] == "top1"].pivot_table(index="model", columns="dataset", values="value",
                                                        aggfunc="first")
    if id_set not in top1.columns:
        return pd.DataFrame(columns=["model", "dataset", "id_acc", "ood_acc", "predicted", "er"])
    fits = {}
    if points is not None and len(points):
        for s, g in points.groupby("dataset"):
            r = g.iloc[0]
            fits[s] = LogitFit(float(r["fit_slope"]), float(r["fit_intercept"]), int(r["fit_n"]), float(r["fit_r2"]))
    rows = []
    for s in [c for c in top1.columns if c != id_set]:
        w = top1[[id_set, s]].dropna()
        pred = fits[s](w[id_set].to_numpy()) if s in fits else np.full(len(w), np.nan)
        rows.append(pd.DataFrame({"model": w.index, "dataset": s, "id_acc": w[id_set].to_numpy(),
                                  "ood_acc": w[s].to_numpy(), "predicted": pred, "er": w[s].to_numpy() - pred}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["model", "dataset", "id_acc", "ood_acc", "predicted", "er"])


# ---- tables: LAION's scaling-law grid ---------------------------------------------------------
# Each effect pairs grid cells that differ in one factor only: a step in data size (LAION-80M -> 400M -> 2B) at
# the same architecture and samples seen, a step in samples seen (3B -> 13B -> 34B) at the same architecture and
# data, or a larger architecture at the same data and samples seen. With 3 architectures x 3 data sizes x 3
# lengths, each step has 9 pairs; the interval resamples those pairs. These are real, separately trained models,
# and the training recipe is fixed across the grid, so the contrast is controlled (up to the learning-rate and
# batch-size choices the grid's authors made per run, listed in its table).
DATA_STEPS = (("laion400m", "laion80m"), ("laion2b", "laion400m"))
SAMPLE_STEPS = (("13B", "3B"), ("34B", "13B"))
ARCH_STEPS = (("ViT-L-14", "ViT-B-32"),)
LABEL = labels("laion80m", "laion400m", "laion2b")


def grid_effects(grid: pd.DataFrame, value: str, metric: str, axis: str, arch: bool = True) -> list[dict]:
    """Effects of one step in data size, in samples seen (both under the factor 'training-set size') and,
    with `arch`, of ViT-L/14 over ViT-B/32 ('architecture'), each paired over the other two grid axes."""
    g = grid.assign(arch=grid["arch"].astype(str), data=grid["data"].astype(str),
                    samples=grid["samples_seen_pretty"].astype(str))
    rows = []

    def add(factor, res, text):
        rows.append(effect(factor, axis, metric, res["effect"], text, "records", n=res["n"],
                           ci=(res["ci_low"], res["ci_high"])))

    for t, b in DATA_STEPS:
        add("training-set size", paired_effect(g, ["arch", "samples"], "data", t, b, value),
            f"LAION grid: {LABEL[t]} vs {LABEL[b]}, same architecture and samples seen (paired)")
    for t, b in SAMPLE_STEPS:
        add("training-set size", paired_effect(g, ["arch", "data"], "samples", t, b, value),
            f"LAION grid: {t} vs {b} samples seen, same architecture and data (paired)")
    if arch:
        for t, b in ARCH_STEPS:
            add("architecture", paired_effect(g, ["data", "samples"], "arch", t, b, value),
                f"LAION grid: {t} vs {b}, same data and samples seen (paired)")
    return rows


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
    table = ch.save(shift_group_table(points), "records_er_by_group")
    display(table.pivot(index="dataset", columns="group", values="er_mean").round(3))
    by_group = mean_er(points).groupby("group")["er"].mean()
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

    long = er_by_tags(mean_er(points), ("data_scale", "family", "loss"))
    fig = plots.er_by_tag(long)
    ch.figure(fig, long, "records_er_by_tag")
    show()
    ch.save(records.er_summary(points[points["group"] == "zero-shot CLIP"], by="data"), "records_er_by_data")


def records_effects(ch: chapter.Chapter, points: pd.DataFrame | None) -> None:
    if points is None:
        return
    rec = ch.effects.extend(records_er_effects(points, AXIS.name))
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


# ---- records of the prompts, more training sets, 71 fine-tunes and a second baseline --------------------------
FREQ = "frequency_determines_performance"  # Udandarao et al.: 21 CLIPs x 3 prompt sets


def records_prompts(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Test-time prompts on 21 real zero-shot CLIPs, paired per model: the 80-template ensemble minus one template,
    and one template minus the bare class name, on ImageNet top-1 and on ER over Sketch and R (timm's line)."""
    if not chapter.records_ready(FREQ, "timm"):
        return None
    from .. import records as R
    from ..records import baselines, prompt_sets as PS

    freq = R.load(FREQ)
    pts = PS.prompt_points(freq, baselines.timm_baseline(R.load("timm"), shifts=PS.SHIFTS))
    table = ch.save(PS.prompt_table(pts), "records_prompts")
    eff = PS.prompt_effects(table, metrics=[PS.ER_MEAN, PS.TOP1])
    n = table["model"].nunique()
    rows = ch.effects.extend([E.contrast("test-time prompts", AXIS.name, r["metric"], r,
                                         f"{r['comparison']} ({n} zero-shot CLIPs, paired per model)")
                              for r in eff.to_dict("records")])
    display(pd.DataFrame(rows)[["comparison", "metric", "effect", "n", "ci_low", "ci_high", "note"]])
    wide = table[table["metric"].isin([PS.TOP1, PS.ER_MEAN])]
    fig = plots.paired_panels([dict(frame=wide[wide["metric"] == m], x="prompt_set", y="value", unit="model",
                                    order=["class", "simple", "ensemble"], hue="family", ylabel=m,
                                    title=f"{m}, per CLIP") for m in (PS.TOP1, PS.ER_MEAN)], figsize=(11, 4))
    ch.figure(fig, wide, "records_prompts")
    show()
    for r in rows:
        chapter.finding("{comp}, {m}: {w}.", comp=r["comparison"], m=r["metric"], w=E.effect_words(r))
    return table


def records_prompt_classes(ch: chapter.Chapter, k: int = 8) -> pd.DataFrame | None:
    """Per class: which classes the 80-template ensemble helps or hurts most against one template (mean over the
    21 CLIPs, its spread over models); a ranking, not 1,000 tests."""
    if not chapter.records_ready(FREQ):
        return None
    from .. import records as R
    from ..records import prompt_sets as PS

    ce = PS.class_effects(R.load(FREQ, per_class=True), "ensemble", "simple")
    top = ch.save(PS.top_classes(ce, k=k), "records_prompt_classes")
    fig = plots.class_changes(top, title=f"The {k} classes the 80-template ensemble helps and hurts most against one "
                                         "template (mean over the CLIPs, 95% interval over models)")
    ch.figure(fig, top, "records_prompt_classes")
    show()
    helped = ce.groupby("dataset")["effect"].apply(lambda e: float((e > 0).mean()))
    chapter.finding("The ensemble raises the accuracy of {a:.0%} of ImageNet's classes (mean over CLIPs), {s:.0%} of "
                    "ImageNet-Sketch's and {r:.0%} of ImageNet-R's.", a=helped.get("imagenet", np.nan),
                    s=helped.get("imagenet-sketch", np.nan), r=helped.get("imagenet-r", np.nan))
    return ce


def records_data_size(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Training data and size over open_clip's CLIPs and the checkpoints only the prompt records hold (CC3M,
    CC12M, YFCC-15M, SynthCI-30M, a LAION pruned of test-like images), on one metric: ER over Sketch and R. A
    checkpoint in both counts once (open_clip's value); the two GELU-built evaluations are left out and named."""
    if not chapter.records_ready(FREQ, "open_clip", "timm"):
        return None
    from .. import records as R
    from ..records import baselines, data_size as DS

    pts = DS.data_size_points(R.load(FREQ), R.load("open_clip"),
                              baselines.timm_baseline(R.load("timm"), shifts=DS.SHIFTS))
    out = ch.save(DS.left_out(pts), "records_data_size_left_out")
    display(out.drop_duplicates("model")[["source", "model", "why_out"]])
    models = ch.save(DS.per_model(pts), "records_data_size_models")
    eff = DS.data_size_effects(models)
    rows = ch.effects.extend([E.contrast(r["factor"], AXIS.name, r["metric"], r, r["comparison"])
                              for r in eff.to_dict("records")])
    display(pd.DataFrame(rows)[["factor", "comparison", "effect", "n", "ci_low", "ci_high", "note"]])
    return models


def records_finetunes(ch: chapter.Chapter) -> pd.DataFrame | None:
    """71 ImageNet fine-tunes of one OpenAI ViT-B/32 (model soups): each one's ER against timm's ImageNet-model line,
    and ER regressed on its hyperparameters, with intervals from a bootstrap over the fine-tunes."""
    if not chapter.records_ready("model_soups", "timm"):
        return None
    from .. import records as R
    from ..records import baselines, finetunes as FT

    pts = FT.soups_points(R.load("model_soups"), baselines.timm_baseline(R.load("timm")))
    er = ch.save(FT.soups_er(pts), "records_finetunes")
    fig = plots.scatter(er.dropna(subset=["lr"]).assign(log10_lr=lambda d: np.log10(d["lr"])), "log10_lr", "er",
                        hue="aug", xlabel="log10 learning rate", ylabel=f"ER (mean over {er['shifts'].iloc[0]})",
                        title="71 fine-tunes of one CLIP: effective robustness and the learning rate")
    ch.figure(fig, er, "records_finetunes")
    show()
    reg = ch.save(FT.er_regression(er), "records_finetune_regression")
    display(reg[["term", "effect", "n_level", "ci_low", "ci_high", "p", "note"]])
    lp = er[er["model"] == "model_0"]["er"]
    chapter.finding("Over {n:.0f} fine-tunes the ER ranges from {lo:+.3f} to {hi:+.3f} (the linear-probe start: "
                    "{lp:+.3f}); one log10 step of learning rate moves it by {b:+.3f} (95% interval [{bl:+.3f}, "
                    "{bh:+.3f}]), the regression explaining R² = {r2:.2f} of its spread.",
                    n=int((er["model"] != "model_0").sum()), lo=float(er["er"].min()), hi=float(er["er"].max()),
                    lp=float(lp.iloc[0]) if len(lp) else np.nan, **{k: float(reg.set_index("term").loc[
                        "log10_lr", c]) for k, c in (("b", "effect"), ("bl", "ci_low"), ("bh", "ci_high"))},
                    r2=float(reg["r2"].iloc[0]))
    return reg


def records_baselines(ch: chapter.Chapter) -> pd.DataFrame | None:
    """How much each CLIP's ER moves when the line is fitted over the robustness testbed's ImageNet models instead
    of timm's: per shift, the mean move over models with its interval, the largest move and the sign changes."""
    if not chapter.records_ready("imagenet_testbed", "open_clip", "timm"):
        return None
    from .. import records as R
    from ..records import baselines as B

    timm, tb = B.timm_baseline(R.load("timm")), B.testbed_baseline(R.load("imagenet_testbed"))
    sens = ch.save(B.sensitivity(B.clip_points(R.load("open_clip"), R.load("timm")), [timm, tb]),
                   "records_er_baselines")
    summ = ch.save(B.sensitivity_summary(sens, [timm, tb], by=("dataset", "group")), "records_er_baseline_moves")
    display(summ[["dataset", "group", "n", "effect", "ci_low", "ci_high", "mean_abs_move", "max_abs_move",
                  "sign_changes", "slope", "reference_slope"]])
    fig = plots.scatter(sens, f"er_{timm.name}", f"er_{tb.name}", hue="dataset", style="group",
                        xlabel=f"ER, {timm.name}'s line", ylabel=f"ER, {tb.name}'s line",
                        title="Each CLIP's ER under two baselines (the diagonal: no move)", diagonal=True)
    ch.figure(fig, sens, "records_er_baselines")
    show()
    worst = summ.loc[summ["mean_abs_move"].idxmax()]
    chapter.finding("The baseline matters most on {d} for {g}s: their ER moves by {e:+.3f} on average (largest "
                    "move {m:.3f}; {k:.0f} of {n:.0f} change sign); on the other shifts the mean move is at most "
                    "{rest:.3f}.", d=worst["dataset"], g=worst["group"], e=worst["effect"], m=worst["max_abs_move"],
                    k=worst["sign_changes"], n=worst["n"],
                    rest=float(summ[summ["dataset"] != worst["dataset"]]["mean_abs_move"].max()))
    return summ


def laion_grid(ch: chapter.Chapter) -> pd.DataFrame | None:
    """LAION's scaling grid: neighbouring cells are controlled contrasts of data size and samples seen."""
    if not chapter.records_ready("scaling_laws_openclip", "timm"):  # else one notice naming the fetch command
        return None
    from .. import records

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
        grid_effects(grid, "imagenet", "ImageNet top-1 (LAION grid)", AXIS.name)
        + grid_effects(grid, "er", "effective robustness (mean over shifts, LAION grid)", AXIS.name))
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
    lab_sets = ["lab-val", *LAB_SHIFTS]
    kw = dict(n=ch.n_eval, profile=ch.lab_profile, device=ch.device, seeds_="all", per_image=True,
              precision=ch.precision)
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
    ler = lab_er_table(acc_all, baseline=list(acc_all.loc[acc_all["recipe"] != "base, one prompt", "model"].unique()))
    ler = ler.merge(acc_all[["model", "recipe", "seed"]].drop_duplicates("model"), on="model", how="left")
    ler = ler.merge(recs[["recipe", "factor"]], on="recipe", how="left")
    ler["factor"] = ler["factor"].map(LAB_FACTORS).fillna(ler["factor"]).fillna("test-time prompts")
    ler["flag"] = [lab_eval.shift_flag(r, d) for r, d in zip(ler["recipe"], ler["dataset"])]
    ch.save(ler, "lab_er")
    fig = plots.lab_er_panels(ler, list(LAB_SHIFTS), seed0)
    ch.figure(fig, ler, "lab_er_scatter")
    show()
    print("* the recipe trains on this shift (flagged); labels mark seed", seed0)
    return ler


def lab_effects(ch: chapter.Chapter, acc_all: pd.DataFrame, ler: pd.DataFrame, flags: dict[str, str]) -> pd.Series:
    """Each factor's effect on mean ER over the lab shifts (seeds and images), its forest plot and findings."""
    recs = lab_eval.recipes(ch.lab_profile)
    boots = lab_er_replicates(acc_all, ler)
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
def published_check(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Each live model's measured top-1 minus open_clip's published top-1, flagged outside the binomial 95% band
    (`clipstudy.published`, where the comparison lives)."""
    from .. import published

    return published.chapter_check(ch)


def live(ch: chapter.Chapter, points: pd.DataFrame | None) -> pd.DataFrame | None:
    """ER of the live grid's models (the runner's results table) against the records' ImageNet-model line."""
    t = ch.live()
    if t is None:
        return None
    zs_table = ch.save(t[t["part"] == "all"][["model", "dataset", "metric", "value", "n", "prompts", "precision"]],
                       "live_zero_shot")
    ler = ch.save(live_er(zs_table, points), "live_er")
    display(ler.pivot_table(index="model", columns="dataset", values="er").round(3))
    ch.live_finding("Over {n:.0f} live models and their shifts, the mean ER against the records' ImageNet-model "
                    "line is {er:.3f}.", n=ler["model"].nunique(), er=float(ler["er"].mean()))
    return ler
