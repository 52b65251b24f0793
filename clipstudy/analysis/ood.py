"""OOD detection (chapter 6): score tables from zero-shot outputs, and the effects of the six factors.

Convention (as in `clipstudy.metrics.ood`): higher score = more in-distribution; ID is the positive
class. MSP, MaxLogit and Energy read the logits (logit_scale * cosine); MCM reads the raw cosines.
A classifier (a fine-tuned model) has logits but no image-text cosines, so its MCM cell is left out,
never estimated.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import UnknownNameError
from ..metrics import ood_metrics, ood_scores
from ..metrics.ood import SCORES
from .effects import effect, effects_frame, seed_image_effect

AXIS = "OOD detection"


def detection_table(id_logits: Any, ood_logits: Any, ood_groups: Sequence[str], *, id_cosine: Any = None,
                    ood_cosine: Any = None, id_features: Any = None, ood_features: Any = None,
                    methods: Sequence[str] | None = None, overall: str | None = "all") -> pd.DataFrame:
    """AUROC, AUPR-in, AUPR-out and FPR@95%TPR of every registered score against every OOD group.

    id_logits [N_id, C], ood_logits [N_ood, C]; ood_groups [N_ood] names each OOD image's group (e.g.
    near / far). Each score reads the input it declares (`metrics.ood.SCORES`): cosines (MCM) and image
    features are optional, and a score whose input is not given is skipped, never estimated. `methods`
    restricts the scores (default: every registered one). `overall` adds a row over all OOD images pooled
    (None: no pooled row). Columns: method, ood, auroc, aupr_in, aupr_out, fpr95, n_id, n_ood.
    """
    groups = np.asarray(list(ood_groups), dtype=object)
    n_ood = len(np.asarray(ood_logits))
    if len(groups) != n_ood:
        raise ValueError(f"ood_groups has {len(groups)} entries but ood_logits has {n_ood} rows")
    inputs = {"logits": (id_logits, ood_logits)}
    for name, (a, b) in (("cosine", (id_cosine, ood_cosine)), ("features", (id_features, ood_features))):
        if (a is None) != (b is None):
            raise ValueError(f"give both id_{name} and ood_{name} (a score reading {name} needs them for ID and OOD "
                             "images), or neither")
        if a is not None:
            inputs[name] = (a, b)
    names = list(dict.fromkeys(groups.tolist()))
    if overall is not None and len(names) > 1:
        names.append(overall)
    rows = []
    for m in (SCORES if methods is None else methods):
        if m not in SCORES:
            raise UnknownNameError("OOD score method", m, list(SCORES))
        if SCORES[m].input not in inputs:
            continue
        x_id, x_ood = inputs[SCORES[m].input]
        s_id, s_ood = ood_scores(x_id, m), ood_scores(x_ood, m)
        for g in names:
            sel = np.ones(n_ood, bool) if g == overall and g not in set(groups) else groups == g
            rows.append(dict(method=m, ood=g, **ood_metrics(s_id, s_ood[sel]), n_id=len(s_id),
                             n_ood=int(sel.sum())))
    return pd.DataFrame(rows, columns=["method", "ood", "auroc", "aupr_in", "aupr_out", "fpr95", "n_id", "n_ood"])


def near_far_gap(table: pd.DataFrame, metric: str = "auroc", by: Sequence[str] = ("model", "seed", "method"),
                 near: str = "near", far: str = "far") -> pd.DataFrame:
    """far minus near of `metric` per group of `by` (positive AUROC gap: far OOD is easier to tell apart)."""
    by = [b for b in by if b in table.columns]
    w = table[table["ood"].isin([near, far])].pivot_table(index=by, columns="ood", values=metric, aggfunc="first")
    if near not in w or far not in w:
        raise ValueError(f"table needs rows for both '{near}' and '{far}' OOD groups, has {sorted(table['ood'].unique())}")
    out = w.reset_index()
    out["gap"] = out[far] - out[near]
    return out.rename(columns={near: f"{metric}_{near}", far: f"{metric}_{far}"})


def prompt_effect(table: pd.DataFrame, metric: str = "auroc", single: str = "single",
                  ensemble: str = "ensemble", by: Sequence[str] = ("model", "seed", "method", "ood")) -> pd.DataFrame:
    """ensemble minus single-template `metric` per (model, method, ood); needs a `prompts` column."""
    by = [b for b in by if b in table.columns]
    t = table[table["prompts"].isin([single, ensemble])]
    w = t.pivot_table(index=by, columns="prompts", values=metric, aggfunc="first").dropna()
    if single not in w or ensemble not in w:
        raise ValueError(f"table needs both prompt sets '{single}' and '{ensemble}', has {sorted(t['prompts'].unique())}")
    out = w.reset_index()
    out["effect"] = out[ensemble] - out[single]
    return out


def recipe_effects(table: pd.DataFrame, factors: Mapping[str, str], *, base: str = "base", metric: str = "auroc",
                   method: str = "mcm", ood: str = "all", axis: str = AXIS, source: str = "lab",
                   fallback_method: str = "msp") -> pd.DataFrame:
    """Effects table: `metric` of each recipe minus the base recipe, for one score method and OOD group.

    factors maps recipe -> factor name (recipes absent from it are skipped). A recipe without the method
    (a classifier has no MCM) is compared on `fallback_method` for both sides, and the comparison says so.
    """
    t = table[table["ood"] == ood]
    rows = []
    for recipe, factor in factors.items():
        if recipe == base or recipe not in set(t["model"]):
            continue
        m = method if ((t["model"] == recipe) & (t["method"] == method)).any() else fallback_method

        def val(r):  # one value per training seed
            v = t.loc[(t["model"] == r) & (t["method"] == m)]
            return (v.groupby("seed")[metric].mean() if "seed" in v.columns else v[metric].iloc[:1]).to_numpy(float)

        b, x = val(base), val(recipe)
        if not len(b) or not len(x) or np.isnan(b).all() or np.isnan(x).all():
            continue
        e = seed_image_effect(x, b)  # interval over seeds (NaN with one seed)
        rows.append(effect(factor, axis, f"{metric} ({m}, {ood} OOD)", e["effect"], f"{recipe} vs {base}", source,
                           n=e["n"] if len(x) > 1 else None, ci=(e["ci_low"], e["ci_high"])))
    return effects_frame(rows)


def _zs_table(zs_id: Any, zs_ood: Any, groups: Sequence[str]) -> pd.DataFrame:
    """detection_table of two ZeroShot results (same model and head): every registered score, cosine scores
    only where cosines exist (zero-shot heads), feature scores on the image embeddings."""
    cos = zs_id.head is not None
    return detection_table(zs_id.logits.numpy(), zs_ood.logits.numpy(), groups,
                           id_cosine=zs_id.cosine.numpy() if cos else None,
                           ood_cosine=zs_ood.cosine.numpy() if cos else None,
                           id_features=zs_id.encoded.features.float().numpy(),
                           ood_features=zs_ood.encoded.features.float().numpy())


def lab_detection(recipes: Sequence[str], *, n: int, profile: str = "lab", device: str = "cpu",
                  prompts: Sequence[str] = ("single", "ensemble"), id_set: str = "lab-val",
                  seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Every recipe x prompt set on lab-val (ID) against lab-ood near and far, as one tidy frame.

    Columns: model, classifier, prompts, method, ood (near | far | all), auroc, aupr_in, aupr_out, fpr95,
    n_id, n_ood, id_acc (top-1 on the ID set), seed (the training seed; `seeds` lists them, default the
    recipe's own). A classifier is scored once (prompts 'classifier head').
    """
    from ..lab import evaluate as lab_eval

    ls_id, ls_ood = lab_eval.labset(id_set, n, profile), lab_eval.labset("lab-ood", n, profile)
    groups = ls_ood.factors["ood"].tolist()
    parts = []
    for r in recipes:
        for sd in (list(seeds) if seeds is not None else [None]):
            loaded = lab_eval.load(r, profile, device, sd)
            for p in (prompts if not loaded.is_classifier else prompts[-1:]):
                zi, zo = lab_eval.outputs(loaded, ls_id, p, device), lab_eval.outputs(loaded, ls_ood, p, device)
                t = _zs_table(zi, zo, groups)
                t.insert(0, "prompts", "classifier head" if loaded.is_classifier else p)
                t.insert(0, "classifier", loaded.is_classifier)
                t.insert(0, "seed", sd if sd is not None else 0)
                t.insert(0, "model", r)
                t["id_acc"] = zi.accuracy()
                parts.append(t)
    return pd.concat(parts, ignore_index=True)


def live_detection(models: Sequence[str], ood_sets: Sequence[str], *, id_set: str = "imagenet",
                   prompts: str = "openai80", device: str = "cpu") -> pd.DataFrame:
    """Real checkpoints: ImageNet val (ID) against each real OOD set, zero-shot with ImageNet class names.

    Columns: model, method, ood, auroc, aupr_in, aupr_out, fpr95, n_id, n_ood. Features are cached.
    """
    from .. import datasets, zeroshot, zoo
    from ..prompts import imagenet_classnames

    names = imagenet_classnames()
    parts = []
    for m in models:
        loaded = zoo.load(m, device)
        zi = zeroshot.run(loaded, datasets.load(id_set, transform=loaded.preprocess), dataset_id=id_set,
                          prompts=prompts, classnames=names, device=device, progress=False)
        for o in ood_sets:
            zo = zeroshot.run(loaded, datasets.load(o, transform=loaded.preprocess), dataset_id=o, prompts=prompts,
                              classnames=names, device=device, progress=False)
            t = _zs_table(zi, zo, [o] * len(zo.labels))
            t.insert(0, "model", m)
            parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
