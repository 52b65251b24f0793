"""Chapter 07: image-text retrieval, and how far it tracks classification (records, LAION grid, lab, live)."""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .. import chapter, plots
from .. import effects as E
from ..effects import contrast, effect, effects_frame, grouped_effect, recipe_contrast
from ..lab import evaluate as lab_eval
from ..metrics import retrieval_recall
from .core import IdLookup, Outputs, Row, row, Axis, display, register, show

NAME = "image-text retrieval"


# ---- tables over image and caption features ----------------------------------------------------------------
# Naming: open_clip's records call text->image retrieval "image_retrieval" (the images are retrieved) and
# image->text "text_retrieval"; `direction_of` maps both to the direction words used in the book.
def recall_table(image_features: Any, text_features: Any, image_to_texts: Sequence[Sequence[int]],
                 ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """Recall@K in both directions from L2-normalised features: columns direction, k, recall."""
    img = np.asarray(image_features.detach().cpu() if hasattr(image_features, "detach") else image_features, float)
    txt = np.asarray(text_features.detach().cpu() if hasattr(text_features, "detach") else text_features, float)
    if img.ndim != 2 or txt.ndim != 2 or img.shape[1] != txt.shape[1]:
        raise ValueError(f"expected image [N,D] and text [T,D] features, got {img.shape} and {txt.shape}")
    r = retrieval_recall(img @ txt.T, image_to_texts, ks)
    return tidy_recall(r)


def tidy_recall(recall: Mapping[str, float]) -> pd.DataFrame:
    """{'image_to_text_R@5': .., ..} -> rows (direction 'image→text' | 'text→image', k, recall)."""
    rows = []
    for key, v in recall.items():
        m = re.fullmatch(r"(image_to_text|text_to_image)_R@(\d+)", key)
        if m is None:
            raise ValueError(f"unexpected recall key {key!r}; expected image_to_text_R@K or text_to_image_R@K")
        rows.append(dict(direction=m.group(1).replace("_to_", "→"), k=int(m.group(2)), recall=float(v)))
    return pd.DataFrame(rows, columns=["direction", "k", "recall"])


def direction_of(record_metric: str) -> str:
    """open_clip record metric -> direction: 'image_retrieval_recall@5' is text→image (images retrieved)."""
    if record_metric.startswith("image_retrieval"):
        return "text→image"
    if record_metric.startswith("text_retrieval"):
        return "image→text"
    raise ValueError(f"not a retrieval metric: {record_metric!r}")


def rank_agreement(frame: pd.DataFrame, x: str, y: str) -> dict:
    """Pearson r and Spearman rho of y against x over the rows (NaN when fewer than 3 rows or constant)."""
    d = frame[[x, y]].dropna()
    if len(d) < 3 or d[x].nunique() < 2 or d[y].nunique() < 2:
        return dict(n=len(d), pearson_r=float("nan"), spearman_rho=float("nan"))
    return dict(n=len(d), pearson_r=float(stats.pearsonr(d[x], d[y]).statistic),
                spearman_rho=float(stats.spearmanr(d[x], d[y]).statistic))


def records_effects(frame: pd.DataFrame, dataset: str = "mscoco", metric: str = "image_retrieval_recall@5"
                    ) -> pd.DataFrame:
    """Factor effects in the open_clip records on the residual of retrieval over the ImageNet line.

    frame: `records.retrieval_vs_classification()`. The residual is recall minus what ImageNet accuracy
    predicts, so an effect here is retrieval beyond classification, treatment minus base group mean.
    Models fine-tuned on MSCOCO captions are compared with the non-fine-tuned ones: their COCO retrieval
    is in-distribution, which the comparison names.
    """
    f = frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)].copy()
    if f.empty:
        raise ValueError(f"no records rows for dataset {dataset!r} and metric {metric!r}")
    name = f"{dataset} {direction_of(metric)} R@{metric.rsplit('@', 1)[1]} residual"
    f["size_bin"] = np.where(f["dataset_size"] >= 1e9, ">=1B", np.where(f["dataset_size"] < 1e9, "<1B", None))
    f["ft"] = np.where(f["finetune_data"].eq(dataset), "ft", np.where(f["finetuned"].fillna(False), "other", "zs"))
    plain = f[f["ft"] == "zs"]
    specs = [
        ("architecture", plain, "family", "resnet", "vit", "ResNet vs ViT CLIPs"),
        ("architecture", plain, "family", "convnext", "vit", "ConvNeXt vs ViT CLIPs"),
        ("training distribution", plain, "data", "laion2b", "openai-wit", "LAION-2B vs OpenAI WIT"),
        ("training distribution", plain, "data", "datacomp-1b", "laion2b", "DataComp-1B vs LAION-2B"),
        ("training-set size", plain, "size_bin", ">=1B", "<1B", ">=1B vs <1B training images"),
        ("fine-tuning", f, "ft", "ft", "zs", f"fine-tuned on {dataset} captions vs zero-shot (in-distribution)"),
        ("contrastive loss", plain, "loss", "siglip", "clip", "SigLIP vs CLIP loss"),
    ]
    rows = []
    for factor, g, col, t, b, comp in specs:
        c = grouped_effect(g, col, t, b, "residual")
        if np.isfinite(c["effect"]):
            rows.append(contrast(factor, NAME, name, c, f"{comp} (n={c['n_treatment']} vs {c['n_base']})"))
    return effects_frame(rows)


def recipe_effects(table: pd.DataFrame, factors: Mapping[str, str], *, base: str = "base",
                   value: str = "recall", where: Mapping[str, Any] | None = None, metric: str = "",
                   axis: str = NAME, source: str = "lab") -> pd.DataFrame:
    """Each recipe's `value` minus the base recipe's, for the rows matching `where` (column -> value)."""
    return recipe_contrast(table, factors, value, metric or value, axis, base=base, where=where, source=source)


def recall_frame(outs: pd.DataFrame, ks: Sequence[int] = (1, 5, 10), set_name: str = "lab-retrieval",
                 val_set: str = "lab-val") -> pd.DataFrame:
    """Recall@K both ways on `set_name` of every row of `lab_eval.outputs_frame` (recipe, seed; its captions
    encoded), with its zero-shot top-1 on `val_set`. Columns: model, seed, direction, k, recall, val_acc."""
    parts = []
    for o in outs.to_dict("records"):
        t = recall_table(o[set_name].encoded.features, o["text_features"], o["image_to_texts"], ks)
        t.insert(0, "seed", o["seed"])
        t.insert(0, "model", o["model"])
        t["val_acc"] = o[val_set].accuracy()
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


# ---- the axis and its chapter ------------------------------------------------------------------------------

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Recall@1/5/10 image->text and text->image from the stored image and caption embeddings."""
    if o.texts is None:
        return []
    t = recall_table(o.zs.encoded.features, o.texts["features"], o.texts["image_to_texts"], (1, 5, 10))
    return [row(str(r.direction), f"recall@{int(r.k)}", r.recall, len(o.zs.labels)) for r in t.itertuples()]


AXIS = register(Axis("retrieval", NAME, "07_retrieval", live=("coco-5k", "flickr30k-1k"),
                     order=7,
                          lab=("lab-val", "lab-retrieval"),
                     runner="retrieval", tasks=("retrieval",), evaluate=evaluate,
                          metrics=("recall@1", "recall@5", "recall@10")))


def records(ch: chapter.Chapter) -> pd.DataFrame | None:
    """open_clip's retrieval recalls against ImageNet accuracy, with each (dataset, direction)'s line."""
    ch.effects.not_measured("test-time prompts", "retrieval compares images with captions, not with class prompts; "
                            "the lab rows use the prompt ensemble only for the lab-val accuracy on the x axis")
    if not chapter.records_ready():  # else one "Records missing" notice
        return None
    from .. import records as R

    rv = R.retrieval_vs_classification()
    rv["direction"] = rv["metric"].map(direction_of)
    rv["k"] = rv["metric"].str.rsplit("@", n=1).str[1].astype(int)
    ch.save(rv, "records_retrieval_vs_classification")
    at5 = rv[rv["k"] == 5]
    fig = plots.recall_vs_accuracy(at5)
    ch.figure(fig, at5, "records_scatter_r5")
    show()
    return rv


def records_correlations(ch: chapter.Chapter, rv: pd.DataFrame | None) -> None:
    if rv is None:
        return
    from .. import records as R

    cor = R.retrieval_correlations(rv)
    cor["direction"] = cor["metric"].map(direction_of)
    ch.save(cor, "records_correlations")
    display(cor[["dataset", "direction", "metric", "n", "pearson_r", "spearman_rho", "slope", "residual_std"]].round(3))
    c5 = cor[cor["metric"] == "image_retrieval_recall@5"].set_index("dataset")
    chapter.finding("Across {n:.0f} open_clip models, text→image recall@5 on MSCOCO follows ImageNet accuracy with "
                    "Pearson r {r:.3f} (Flickr30k: {rf:.3f}); the residual standard deviation is {sd:.3f}.",
                    n=c5.loc["mscoco", "n"], r=c5.loc["mscoco", "pearson_r"], rf=c5.loc["flickr30k", "pearson_r"],
                    sd=c5.loc["mscoco", "residual_std"])


def records_residuals(ch: chapter.Chapter, rv: pd.DataFrame | None) -> None:
    """Retrieval beyond ImageNet accuracy, by training data; the records' effects."""
    if rv is None:
        return
    from .. import records as R

    res = R.retrieval_residuals(rv, by="data")
    res5 = res[res["metric"].isin(["image_retrieval_recall@5", "text_retrieval_recall@5"]) & (res["n"] >= 2)].copy()
    res5["direction"] = res5["metric"].map(direction_of)
    ch.save(res, "records_residuals_by_data")
    fig = plots.residual_bars(res5)
    ch.figure(fig, res5, "records_residuals_by_data")
    show()
    rec_eff = E.effects_frame(ch.effects.extend(records_effects(rv, "mscoco", "image_retrieval_recall@5")))
    display(rec_eff[["factor", "comparison", "effect"]].round(3))
    top = res5[res5["dataset"] == "mscoco"].groupby("data")["residual_mean"].mean().sort_values()
    chapter.finding("On MSCOCO, models trained on {best} sit {hi:+.3f} above the line on average and those trained on "
                    "{worst} {lo:+.3f}: the training source moves retrieval by up to {span:.3f} beyond classification.",
                    best=top.index[-1], hi=top.iloc[-1], worst=top.index[0], lo=top.iloc[0],
                    span=top.iloc[-1] - top.iloc[0])


def laion_grid(ch: chapter.Chapter) -> pd.DataFrame | None:
    """LAION's scaling grid: recall@5 and its controlled contrasts."""
    if not chapter.records_ready("scaling_laws_openclip"):  # else one notice naming the fetch command
        return None
    from .. import records as R
    from . import shifts as scaling_grid

    grid = ch.save(R.scaling.grid(R.load("scaling_laws_openclip")), "records_laion_grid")
    fig, _ = plots.grid_lines(grid, "recall@5", "recall@5 (mean of both directions, Flickr30k and MSCOCO)",
                              title="LAION grid: retrieval")
    ch.figure(fig, grid, "records_laion_grid_recall")
    show()
    g = E.effects_frame(ch.effects.extend(scaling_grid.grid_effects(grid, "recall@5", "recall@5 (LAION grid, mean of 4)",
                                                                    AXIS.name)))
    display(g[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(4))
    for r in g.to_dict("records"):
        chapter.finding("{comp}: recall@5 changes by {e:+.4f} ({ci}): {word}.", comp=r["comparison"], e=r["effect"],
                        ci=E.interval_text(r, "{:+.4f}"), word=E.direction_words(r, "retrieval improves",
                                                                                "retrieval worsens"))
    return grid


def lab(ch: chapter.Chapter) -> pd.DataFrame:
    """Recall@K both ways of every contrastive recipe and seed on lab-retrieval, with its lab-val accuracy."""
    outs = lab_eval.outputs_frame(list(lab_eval.recipes(ch.lab_profile)["recipe"]), ["lab-retrieval", "lab-val"],
                                  n=ch.n_eval, profile=ch.lab_profile, device=ch.device,
                                  seeds_=lab_eval.seeds(ch.lab_profile), contrastive_only=True,
                                  captions="lab-retrieval", precision=ch.precision)
    lr = recall_frame(outs)
    ch.save(lr, "lab_retrieval")
    display(lr.pivot_table(index="model", columns=["direction", "k"], values="recall").round(3))
    ch.effects.not_measured("fine-tuning", "the fine-tuned lab model is a classifier with no text tower: it cannot "
                            "retrieve")
    return lr


def lab_vs_accuracy(ch: chapter.Chapter, lr: pd.DataFrame) -> None:
    """Does retrieval rank the lab recipes as classification does? Figure, rank agreement and effects."""
    fig = plots.lab_recall_vs_accuracy(lr)
    ch.figure(fig, lr, "lab_retrieval_vs_accuracy")
    show()
    r5 = lr[lr["k"] == 5].groupby("model", as_index=False).agg(recall=("recall", "mean"), val_acc=("val_acc", "mean"))
    agree = rank_agreement(r5, "val_acc", "recall")
    ch.save(pd.DataFrame([agree]), "lab_rank_agreement")
    chapter.finding("Across {n:.0f} lab recipes, recall@5 (mean of both directions) and lab-val accuracy rank the models "
                    "with Spearman rho {rho:.3f} (Pearson r {r:.3f}).", n=agree["n"], rho=agree["spearman_rho"],
                    r=agree["pearson_r"])
    ch.effects.extend(recipe_effects(lr, lab_eval.recipe_factors(), where={"k": 5},
                                               metric="recall@5 (both directions, mean)"))


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Recall@K both ways of the live grid's models (the runner's results table)."""
    t = ch.live()
    if t is None:
        return None
    lv = t.assign(direction=t["part"], k=t["metric"].str.rsplit("@", n=1).str[1].astype(int))
    lv = ch.save(lv.rename(columns={"value": "recall"})[["model", "dataset", "direction", "k", "recall"]],
                 "live_retrieval")
    fig, ax = plots.bars(lv[lv["k"] == 5], "model", "recall", hue="direction", figsize=(8, 3.8), rotate=45, ha=None,
                         ylabel="recall@5 (fraction)", title="Live retrieval", legend="keep")
    ch.figure(fig, lv, "live_retrieval")
    show()
    ch.live_finding("Over {n:.0f} live models, mean recall@5 is {r:.3f}.", n=lv["model"].nunique(),
                    r=float(lv[lv["k"] == 5]["recall"].mean()))
    return lv
