"""Headline metrics of lab models on the lab sets, as one tidy frame (model, dataset, metric, value).

`evaluate(recipe)` is what the book chapters and benchmarks/lab_zoo.py call. Every number goes
through the same engine (clipstudy.zeroshot / encode, cached features) and the same metrics as
the live path. CLIPs are read zero-shot with a prompt set (`lab-single` or `lab-ensemble`);
the fine-tuned recipe is a classifier and uses its own head (prompts = "classifier-head").
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import torch

from .. import encode, metrics, zeroshot
from . import zoo as lab_zoo

ACC_SETS = ("lab-val", "lab-v2", "lab-sketch", "lab-silhouette")
SMOKE_N = {"lab-val": 120, "lab-v2": 120, "lab-sketch": 120, "lab-silhouette": 120, "lab-cue-conflict": 120,
           "lab-3dcc": 12, "lab-ood": 120, "lab-retrieval": 60, "lab-factors": 24}


def labset(name: str, profile: str | None = None):
    """A named lab set at the size the profile uses (default sizes for `lab`, tiny for `smoke`)."""
    from . import sets

    p = lab_zoo.profile_of(profile)
    n = SMOKE_N.get(name) if p.name == "smoke" else None
    return sets.build(name, n=n)


def _run(loaded, ls, prompts: str):
    return zeroshot.run(loaded, ls.dataset(loaded.preprocess), dataset_id=ls.dataset_id,
                        prompts=prompts, classnames=ls.classnames, progress=False)


def evaluate(recipe: str, profile: str | None = None, prompts: str = "lab-ensemble", device: str = "cpu",
             datasets: Iterable[str] | None = None) -> pd.DataFrame:
    """Tidy rows (model, dataset, metric, value, prompts) for one lab recipe.

    Metrics: top1 on lab-val/v2/sketch/silhouette; shape_bias on lab-cue-conflict; ece (15 bins)
    and nll on lab-val; OOD auroc/fpr95 (MSP, plus MCM for CLIPs) with lab-val as ID and lab-ood
    (near and far) as OOD; top1 on lab-3dcc by severity (metric `top1@sev=K`); retrieval R@1 both
    ways on lab-retrieval (CLIPs only).
    """
    loaded = lab_zoo.load(recipe, device=device, profile=profile, progress=False)
    model = loaded.spec.name
    want = set(datasets) if datasets is not None else None
    rows: list[dict] = []

    def add(dataset: str, metric: str, value: float, pr: str) -> None:
        rows.append(dict(model=model, dataset=dataset, metric=metric, value=float(value), prompts=pr))

    def use(name: str) -> bool:
        return want is None or name in want

    val = None
    for name in ACC_SETS:
        if name != "lab-val" and not use(name):  # lab-val always: ECE and the OOD baseline read it
            continue
        res = _run(loaded, labset(name, profile), prompts)
        add(name, "top1", res.accuracy(), res.prompts)
        if name == "lab-val":
            val = res
            probs = torch.softmax(res.logits.float(), dim=1)
            add(name, "ece", metrics.ece(probs, res.labels), res.prompts)
            add(name, "nll", metrics.nll(res.logits, res.labels), res.prompts)

    if use("lab-cue-conflict"):
        ls = labset("lab-cue-conflict", profile)
        res = _run(loaded, ls, prompts)
        dec = res.logits.argmax(1).numpy()
        add(ls.name, "shape_bias", metrics.shape_bias(dec, ls.factors["shape_label"].to_numpy(),
                                                       ls.factors["texture_label"].to_numpy()), res.prompts)
        hits = metrics.shape_texture_hits(dec, ls.factors["shape_label"].to_numpy(),
                                          ls.factors["texture_label"].to_numpy())
        add(ls.name, "shape_hit_rate", hits["shape_hits"] / max(1, hits["n_conflict"]), res.prompts)
        add(ls.name, "texture_hit_rate", hits["texture_hits"] / max(1, hits["n_conflict"]), res.prompts)

    if use("lab-ood") and val is not None:
        ls = labset("lab-ood", profile)
        res = _run(loaded, ls, prompts)
        kinds = ls.factors["ood"].to_numpy()
        methods = ["msp"] + ([] if loaded.is_classifier else ["mcm"])
        for m in methods:
            s_id = metrics.ood_scores(val.logits if m != "mcm" else val.cosine, m)
            s_ood = metrics.ood_scores(res.logits if m != "mcm" else res.cosine, m)
            for part, mask in (("all", np.ones(len(kinds), bool)), ("near", kinds == "near"), ("far", kinds == "far")):
                if mask.any():
                    om = metrics.ood_metrics(s_id, s_ood[mask])
                    add(f"{ls.name}:{part}", f"auroc_{m}", om["auroc"], res.prompts)
                    add(f"{ls.name}:{part}", f"fpr95_{m}", om["fpr95"], res.prompts)

    if use("lab-3dcc"):
        ls = labset("lab-3dcc", profile)
        res = _run(loaded, ls, prompts)
        correct = (res.logits.argmax(1) == res.labels).numpy()
        f = ls.factors.assign(correct=correct)
        for sev, acc in f.groupby("severity")["correct"].mean().items():
            add(ls.name, f"top1@sev={int(sev)}", acc, res.prompts)
        for (c, sev), acc in f[f.severity > 0].groupby(["corruption", "severity"])["correct"].mean().items():
            add(f"{ls.name}:{c}", f"top1@sev={int(sev)}", acc, res.prompts)

    if use("lab-retrieval") and not loaded.is_classifier:
        ls = labset("lab-retrieval", profile)
        res = _run(loaded, ls, prompts)
        texts, owner = ls.texts()
        temb = encode.encode_texts(loaded.model, loaded.tokenizer, texts, device)
        rec = metrics.retrieval_recall(res.encoded.features @ temb.T, owner, ks=(1, 5))
        for k, v in rec.items():
            add(ls.name, k, v, "captions")
    return pd.DataFrame(rows)


def evaluate_zoo(recipes: Iterable[str] | None = None, profile: str | None = None,
                 prompts: Iterable[str] = ("lab-ensemble",), progress: bool = True) -> pd.DataFrame:
    """`evaluate` over recipes (default: the whole zoo) and prompt sets, with recipe factors joined on."""
    from tqdm.auto import tqdm

    recipes = list(recipes or lab_zoo.names())
    frames = []
    for r in tqdm(recipes, desc="evaluate lab zoo", disable=not progress):
        for pr in prompts:
            df = evaluate(r, profile, prompts=pr)
            df["recipe"] = r
            df["prompt_set"] = pr
            if lab_zoo.recipe(r).finetuned:  # a classifier does not read prompts: evaluate it once
                df["prompt_set"] = "classifier-head"
                frames.append(df)
                break
            frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    info = lab_zoo.frame()[["recipe", "factor"]]
    return out.merge(info, on="recipe", how="left")


def effective_robustness(df: pd.DataFrame, ood: str = "lab-sketch", id_: str = "lab-val",
                         baseline: Iterable[str] | None = None) -> pd.DataFrame:
    """ER of each model on `ood` vs `id_` top1, with the logit-linear fit over `baseline` models
    (default: every model in `df`; the lab has no separate supervised-from-scratch family)."""
    acc = df[(df.metric == "top1") & df.dataset.isin([id_, ood])]
    keys = ["model", "prompts"]
    wide = acc.pivot_table(index=keys, columns="dataset", values="value").reset_index()
    base = wide if baseline is None else wide[wide.model.isin(list(baseline))]
    er, fit = metrics.effective_robustness(wide[id_].to_numpy(), wide[ood].to_numpy(), base[id_].to_numpy(),
                                           base[ood].to_numpy())
    return wide.assign(dataset=ood, metric="effective_robustness", value=er, fit_slope=fit.slope,
                       fit_intercept=fit.intercept)[keys + ["dataset", "metric", "value", "fit_slope",
                                                            "fit_intercept"]]
