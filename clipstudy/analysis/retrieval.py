"""Bridging image and text (chapter 7): retrieval recall as tidy frames, how it tracks classification, and
the factor effects in the records (observational) and the lab (causal).

Naming: open_clip's records call text->image retrieval "image_retrieval" (the images are retrieved) and
image->text "text_retrieval"; `direction_of` maps both to the direction words used in the book.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..metrics import retrieval_recall
from .effects import effect, effects_frame, group_contrast, recipe_contrast

AXIS = "image-text retrieval"


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
        c = group_contrast(g, col, t, b, "residual")
        if np.isfinite(c["effect"]):
            rows.append(effect(factor, AXIS, name, c["effect"],
                               f"{comp} (n={c['n_treatment']} vs {c['n_base']})", "records"))
    return effects_frame(rows)


def recipe_effects(table: pd.DataFrame, factors: Mapping[str, str], *, base: str = "base",
                   value: str = "recall", where: Mapping[str, Any] | None = None, metric: str = "",
                   axis: str = AXIS, source: str = "lab") -> pd.DataFrame:
    """Each recipe's `value` minus the base recipe's, for the rows matching `where` (column -> value)."""
    return recipe_contrast(table, factors, value, metric or value, axis, base=base, where=where, source=source)


def lab_retrieval(recipes: Sequence[str], *, n: int, profile: str = "lab", device: str = "cpu",
                  ks: Sequence[int] = (1, 5, 10), seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Every contrastive recipe: recall@K both ways on lab-retrieval (5 held-out-template captions per
    image) and its zero-shot top-1 on lab-val (ensemble prompts). A classifier has no text tower and is
    left out. Columns: model, seed, direction, k, recall, val_acc; one block per training seed in `seeds`
    (default: the recipe's own), so `recipe_effects` gives intervals over seeds."""
    from ..encode import encode_texts
    from ..lab import evaluate as lab_eval

    ls_r, ls_v = lab_eval.labset("lab-retrieval", n, profile), lab_eval.labset("lab-val", n, profile)
    texts, owner = ls_r.texts()
    parts = []
    for r in recipes:
        for sd in (list(seeds) if seeds is not None else [None]):
            loaded = lab_eval.load(r, profile, device, sd)
            if loaded.is_classifier:
                break
            img = lab_eval.outputs(loaded, ls_r, "ensemble", device).encoded.features
            txt = encode_texts(loaded.model, loaded.tokenizer, texts, device)
            t = recall_table(img, txt, owner, ks)
            t.insert(0, "seed", sd if sd is not None else 0)
            t.insert(0, "model", r)
            t["val_acc"] = lab_eval.outputs(loaded, ls_v, "ensemble", device).accuracy()
            parts.append(t)
    return pd.concat(parts, ignore_index=True)


def live_retrieval(models: Sequence[str], sets: Sequence[str], *, device: str = "cpu",
                   ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """Real checkpoints on real retrieval sets (COCO 5k, Flickr30k 1k): recall@K both ways.

    Captions come from the dataset's `texts` and `image_to_texts` (clipstudy.datasets.retrieval). Columns: model, dataset, direction, k, recall.
    """
    from .. import datasets, encode, zoo

    parts = []
    for m in models:
        loaded = zoo.load(m, device)
        if loaded.is_classifier:
            continue
        for d in sets:
            ds = datasets.load(d, transform=loaded.preprocess)
            texts, owner = list(ds.texts), [list(t) for t in ds.image_to_texts]
            img = encode.encode_images(loaded.model, ds, model_id=zoo.model_id(loaded.spec), dataset_id=d,
                                       transform_id=loaded.transform_id, weights=loaded.weights_id, device=device,
                                       progress=False)
            if img.skipped:  # recall needs every image that owns captions
                raise ValueError(f"{d}: {len(img.skipped)} unreadable image(s), e.g. {img.skipped[:3]}; "
                                 "re-fetch them or load the set with on_missing='skip'")
            txt = encode.encode_texts(loaded.model, loaded.tokenizer, texts, device)
            t = recall_table(img.features, txt, owner, ks)
            t.insert(0, "dataset", d)
            t.insert(0, "model", m)
            parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
