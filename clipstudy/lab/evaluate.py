"""The one lab evaluation path, shared by every chapter, the runner's lab grid and benchmarks/lab_zoo.py.

Recipes mapped to the six factors, evaluation sets built with the base world at the profile's image size (so every
recipe sees the same images), and zero-shot outputs through the cached engine, so each (model, set) is encoded once
and reused by every metric. Every function takes the lab profile as its object (`clipstudy.profiles.LabProfile`:
a chapter passes `Chapter.lab_profile`), default the `lab` profile.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch

from ..errors import UnknownNameError
from ..profiles import LAB, LabProfile, lab_profile

# the lab zoo's factor names -> the book's six factors (prompts are an evaluation knob, not a recipe)
FACTOR_NAMES = {"architecture": "architecture", "data": "training distribution", "size": "training-set size",
                "finetuning": "fine-tuning", "loss": "contrastive loss"}
PROMPTS = {"single": "lab-single", "ensemble": "lab-ensemble"}
PARITY_TOLERANCE = 0.15  # a recipe more than 15% (relative) below base on lab-val is flagged as undertrained
# the world values each test shift draws from (outside the base world); a recipe whose world contains them
# trains on the shift it is then tested on
SHIFT_VALUES = {"lab-sketch": ("styles", ("edges",)), "lab-silhouette": ("styles", ("silhouette",)),
                "style": ("styles", ("edges", "silhouette")), "background": ("backgrounds", ())}  # () = every background the base world lacks


def shift_flag(recipe: str, shift: str) -> str:
    """'' when `shift` (a lab set or a visual factor) lies outside the recipe's training distribution, else a
    short flag: the recipe trains on what it is then tested on, so its robustness there is not a transfer."""
    from ..lab import zoo as lab_zoo
    from ..lab.world import WorldConfig

    name = recipe.partition("#")[0]
    if name not in lab_zoo.names() or shift not in SHIFT_VALUES:
        return ""
    field, values = SHIFT_VALUES[shift]
    base_has = set(getattr(WorldConfig(), field))
    if field == "backgrounds":  # the background shift draws the backgrounds the base world lacks
        from ..lab.world import BACKGROUNDS

        values = tuple(set(BACKGROUNDS) - base_has)
    seen = set(getattr(lab_zoo.recipe(name).config(), field)) & set(values)
    return f"{name} trains on the {shift} shift" if seen else ""


def book_factor(lab_factor: str) -> str:
    """A lab zoo factor ('data', 'size', ...) as the book names it ('training distribution', ...)."""
    if lab_factor not in FACTOR_NAMES:
        raise UnknownNameError("lab factor", lab_factor, list(FACTOR_NAMES))
    return FACTOR_NAMES[lab_factor]


def recipe_factors(recipes_frame: Any = None) -> dict[str, str]:
    """recipe -> six-factor name for every non-base recipe (from `clipstudy.lab.zoo.frame()` by default)."""
    if recipes_frame is None:
        recipes_frame = recipes()
    return {r: book_factor(f) for r, f in zip(recipes_frame["recipe"], recipes_frame["factor"]) if f != "base"}


def recipes(profile: LabProfile = LAB) -> pd.DataFrame:
    """lab.zoo.frame(): one row per recipe (recipe, factor, arch, loss, ...)."""
    from ..lab import zoo as lab_zoo

    return lab_zoo.frame()


@lru_cache(maxsize=128)
def load(recipe: str, profile: LabProfile = LAB, device: str = "cpu", seed: int | None = None):
    """A loaded lab model (trained first if missing); `seed` picks one of the profile's training seeds."""
    from ..lab import zoo as lab_zoo

    return lab_zoo.load(recipe, device=device, profile=profile, progress=False, seed=seed)


def seeds(profile: LabProfile = LAB) -> list[int]:
    """The training seeds every lab recipe is trained under in this profile (>= 2 so intervals exist)."""
    from ..lab import zoo as lab_zoo

    return lab_zoo.seeds(profile)


@lru_cache(maxsize=32)
def labset(name: str, n: int | None = None, profile: LabProfile = LAB):
    """An evaluation set of `n` items (default size if None), base world, default seed, profile's image size.
    lab-3dcc's 3D corruptions take the strengths calibrated on the profile's base model (`lab.severity`)."""
    from ..lab import sets, severity

    levels = severity.levels(profile) if name == "lab-3dcc" else None
    return sets.build(name, n=n, size=profile.image_size, levels=levels)


def dataset_id(ls: Any) -> str:
    """The feature-cache key of a lab set: its store key's name (name, world config, n, seed, size, levels)."""
    return ls.dataset_id


def _same_norm(pp: Any) -> bool:
    from ..lab.sets import MEAN, STD

    return tuple(getattr(pp, "mean", ())) == tuple(MEAN) and tuple(getattr(pp, "std", ())) == tuple(STD)


def outputs(loaded: Any, ls: Any, prompts: str = "ensemble", device: str = "cpu", precision: str = "fp32"):
    """`clipstudy.zeroshot.ZeroShot` of a loaded lab model on a lab set (features cached by the engine).

    prompts: 'single' or 'ensemble' (the lab's zero-shot templates); a classifier ignores it.
    precision: resolved (fp32 | bf16 | fp16), as every function here takes it: a chapter passes its own
    (`Chapter.precision`, resolved at the build's entry); fp32, the reference, by default.
    """
    from .. import zeroshot
    from ..encode import check_resolved

    check_resolved(precision, "clipstudy.lab.evaluate")
    if prompts not in PROMPTS:
        raise UnknownNameError("lab prompt set", prompts, list(PROMPTS))
    pp = loaded.preprocess
    # the lab preprocess at the set's native size equals LabSet.dataset()'s own normalisation (no PIL round trip)
    native = getattr(pp, "size", None) == ls.images.shape[-1] and _same_norm(pp)
    ds = ls.dataset(transform=None if native else pp)
    return zeroshot.run(loaded, ds, dataset_id=dataset_id(ls), prompts=PROMPTS[prompts],
                        classnames=ls.classnames, device=device, precision=precision, progress=False)


def zero_shot(recipe: str, set_name: str, *, n: int | None = None, profile: LabProfile = LAB, prompts: str = "ensemble",
              device: str = "cpu", seed: int | None = None, precision: str = "fp32"):
    """(ZeroShot, LabSet) of one lab recipe (under training seed `seed`, default the recipe's own) on one lab
    set; fine-tuned recipes use their class head. `precision`: resolved (see `outputs`)."""
    ls = labset(set_name, n, profile)
    return outputs(load(recipe, profile, device, seed), ls, prompts, device, precision), ls


def accuracy_table(recipe_names: Iterable[str], set_names: Iterable[str], *, n: int | None = None,
                   profile: LabProfile = LAB, prompts: str = "ensemble", device: str = "cpu",
                   seeds_: Iterable[int] | str | None = None, per_image: bool = False,
                   precision: str = "fp32") -> pd.DataFrame:
    """Tidy top-1 accuracy, one row per recipe, training seed and set: recipe, seed, dataset, prompts,
    accuracy, n. `seeds_`: None = the recipe's own seed only (one row per recipe and set), 'all' = every seed
    of the profile, or a list. `per_image` adds `correct` (the per-image 0/1 array, for intervals over images)."""
    from ..lab import zoo as lab_zoo

    rows = []
    for r in recipe_names:
        own = lab_zoo.recipe(r).seed
        sds = [own] if seeds_ is None else seeds(profile) if seeds_ == "all" else list(seeds_)
        for sd in sds:
            for s in set_names:
                zs, _ = zero_shot(r, s, n=n, profile=profile, prompts=prompts, device=device, seed=sd,
                                  precision=precision)
                row = dict(recipe=r, seed=sd, dataset=s, prompts=prompts, accuracy=zs.accuracy(), n=len(zs.labels))
                if per_image:
                    row["correct"] = (zs.logits.argmax(1) == zs.labels).numpy().astype(float)
                rows.append(row)
    return pd.DataFrame(rows)


def parity(acc: pd.DataFrame, base: str = "base", dataset: str = "lab-val", tolerance: float = PARITY_TOLERANCE
           ) -> pd.DataFrame:
    """Whether each recipe was trained to a quality comparable with `base`: mean `dataset` accuracy over
    seeds, its gap to base, and `undertrained` (gap below -tolerance, as a fraction of base's accuracy). A
    recipe flagged here must not stand for its factor without the flag: an undertrained recipe's contrast
    measures its training, not its factor (a ViT at 0.25 against a ResNet at 0.70 says nothing of architecture)."""
    a = acc[acc["dataset"] == dataset].groupby("recipe")["accuracy"].mean()
    if base not in a.index:
        return pd.DataFrame(columns=["recipe", "accuracy", "gap", "undertrained"])
    gap = a - a[base]
    return pd.DataFrame({"recipe": a.index, "accuracy": a.to_numpy(), "gap": gap.to_numpy(),
                         "undertrained": (gap < -tolerance * a[base]).to_numpy()}).reset_index(drop=True)


def parity_flags(profile: LabProfile = LAB, n: int | None = None, device: str = "cpu",
                 precision: str = "fp32") -> dict[str, str]:
    """recipe -> 'undertrained: lab-val X vs base Y' for every recipe that `parity` flags (mean lab-val top-1
    over the profile's seeds, ensemble prompts; features come from the engine's cache). Chapters append these
    flags to the recipe's effects, so an undertrained model never stands for its factor unmarked."""
    acc = accuracy_table(list(recipes(profile)["recipe"]), ["lab-val"], n=n, profile=profile, device=device,
                         seeds_="all", precision=precision)
    par = parity(acc)
    under = par[par["undertrained"]]
    return {r: f"undertrained: lab-val {a:.3f} vs base {a - g:.3f}"
            for r, a, g in zip(under["recipe"], under["accuracy"], under["gap"])}


def merge_flags(*flag_maps: dict[str, str]) -> dict[str, str]:
    """recipe -> '; '-joined flags of several maps (empty flags dropped)."""
    out: dict[str, list[str]] = {}
    for m in flag_maps:
        for r, f in m.items():
            if f:
                out.setdefault(r, []).append(f)
    return {r: "; ".join(fs) for r, fs in out.items()}


# ---- headline metrics of one recipe (benchmarks/lab_zoo.py; the runner's lab grid uses the same sets) -----
ACC_SETS = ("lab-val", "lab-v2", "lab-sketch", "lab-silhouette")


def sized_labset(name: str, profile: LabProfile = LAB):
    """A lab set at the size its lab profile gives it in the runner's grid (`LabProfile.set_sizes`: tiny for smoke,
    the set's default size otherwise)."""
    return labset(name, profile.set_size(name), profile)


def metrics_table(recipe: str, profile: str | LabProfile = LAB, prompts: str = "ensemble", device: str = "cpu",
                  datasets: Iterable[str] | None = None, precision: str = "fp32") -> pd.DataFrame:
    """Tidy rows (model, dataset, metric, value, prompts) for one lab recipe.

    Metrics: top1 on lab-val/v2/sketch/silhouette; shape_bias on lab-cue-conflict; ece (15 bins)
    and nll on lab-val; OOD auroc/fpr95 (MSP, plus MCM for CLIPs) with lab-val as ID and lab-ood
    (near and far) as OOD; top1 on lab-3dcc by severity (metric `top1@sev=K`); retrieval R@1 both
    ways on lab-retrieval (CLIPs only). `precision`: resolved (see `outputs`). `profile`: a `LabProfile` or its name
    (a researcher's entry, as `metrics_zoo`).
    """
    from .. import encode, metrics

    profile = lab_profile(profile)
    prompts = prompts.removeprefix("lab-")  # the prompt set's short name ('ensemble') or its registry name
    loaded = load(recipe, profile, device)
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
        res = outputs(loaded, sized_labset(name, profile), prompts, device, precision)
        add(name, "top1", res.accuracy(), res.prompts)
        if name == "lab-val":
            val = res
            probs = torch.softmax(res.logits.float(), dim=1)
            add(name, "ece", metrics.ece(probs, res.labels), res.prompts)
            add(name, "nll", metrics.nll(res.logits, res.labels), res.prompts)

    if use("lab-cue-conflict"):
        ls = sized_labset("lab-cue-conflict", profile)
        res = outputs(loaded, ls, prompts, device, precision)
        dec = res.logits.argmax(1).numpy()
        add(ls.name, "shape_bias", metrics.shape_bias(dec, ls.factors["shape_label"].to_numpy(),
                                                       ls.factors["texture_label"].to_numpy()), res.prompts)
        hits = metrics.shape_texture_hits(dec, ls.factors["shape_label"].to_numpy(),
                                          ls.factors["texture_label"].to_numpy())
        add(ls.name, "shape_hit_rate", hits["shape_hits"] / max(1, hits["n_conflict"]), res.prompts)
        add(ls.name, "texture_hit_rate", hits["texture_hits"] / max(1, hits["n_conflict"]), res.prompts)

    if use("lab-ood") and val is not None:
        ls = sized_labset("lab-ood", profile)
        res = outputs(loaded, ls, prompts, device, precision)
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
        ls = sized_labset("lab-3dcc", profile)
        res = outputs(loaded, ls, prompts, device, precision)
        correct = (res.logits.argmax(1) == res.labels).numpy()
        f = ls.factors.assign(correct=correct)
        for sev, acc in f.groupby("severity")["correct"].mean().items():
            add(ls.name, f"top1@sev={int(sev)}", acc, res.prompts)
        for (c, sev), acc in f[f.severity > 0].groupby(["corruption", "severity"])["correct"].mean().items():
            add(f"{ls.name}:{c}", f"top1@sev={int(sev)}", acc, res.prompts)

    if use("lab-retrieval") and not loaded.is_classifier:
        ls = sized_labset("lab-retrieval", profile)
        res = outputs(loaded, ls, prompts, device, precision)
        texts, owner = ls.texts()
        temb = encode.encode_texts(loaded.model, loaded.tokenizer, texts, device, precision=precision)
        rec = metrics.retrieval_recall(res.encoded.features @ temb.T, owner, ks=(1, 5))
        for k, v in rec.items():
            add(ls.name, k, v, "captions")
    return pd.DataFrame(rows)


def metrics_zoo(recipes: Iterable[str] | None = None, profile: str | LabProfile = LAB,
                prompts: Iterable[str] = ("ensemble",), progress: bool = True, precision: str = "fp32") -> pd.DataFrame:
    """`metrics_table` over recipes (default: the whole zoo) and prompt sets, with recipe factors joined on."""
    from tqdm.auto import tqdm

    from . import zoo as lab_zoo

    recipes = list(recipes or lab_zoo.names())
    frames = []
    for r in tqdm(recipes, desc="evaluate lab zoo", disable=not progress):
        for pr in prompts:
            df = metrics_table(r, profile, prompts=pr, precision=precision)
            df["recipe"] = r
            df["prompt_set"] = pr
            if lab_zoo.recipe(r).is_classifier:  # a classifier does not read prompts: evaluate it once
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
    from .. import metrics

    acc = df[(df.metric == "top1") & df.dataset.isin([id_, ood])]
    keys = ["model", "prompts"]
    wide = acc.pivot_table(index=keys, columns="dataset", values="value").reset_index()
    base = wide if baseline is None else wide[wide.model.isin(list(baseline))]
    er, fit = metrics.effective_robustness(wide[id_].to_numpy(), wide[ood].to_numpy(), base[id_].to_numpy(),
                                           base[ood].to_numpy())
    return wide.assign(dataset=ood, metric="effective_robustness", value=er, fit_slope=fit.slope,
                       fit_intercept=fit.intercept)[keys + ["dataset", "metric", "value", "fit_slope",
                                                            "fit_intercept"]]


# ---- the stored outputs the axes' lab tables compute on (an axis module never loads a model itself) ------
def outputs_frame(recipe_names: Iterable[str], set_names: Iterable[str], *, n: int | None = None,
                  profile: LabProfile = LAB, device: str = "cpu", prompts: Iterable[str] = ("ensemble",),
                  seeds_: Iterable[int] | None = None, contrastive_only: bool = False,
                  captions: str | None = None, precision: str = "fp32") -> pd.DataFrame:
    """The zero-shot outputs of every recipe, training seed and prompt set on lab sets, one row each.

    Columns: model (the recipe), seed (the training seed; 0 for the recipe's own when `seeds_` is None),
    classifier, arch (the model family), prompts, and one column per set name holding its
    `clipstudy.zeroshot.ZeroShot` (features cached by the engine). A classifier reads no prompts: it is
    evaluated once, with the last prompt set, and its `prompts` is 'classifier head'. `contrastive_only`
    leaves classifiers out. `captions` names a lab set whose captions (`LabSet.texts()`) each recipe's text
    tower encodes too: columns text_features [T, D] and image_to_texts (each image's caption indices).
    `precision`: resolved (see `outputs`).
    """
    from .. import encode

    encode.check_resolved(precision, "clipstudy.lab.evaluate")

    prompts = list(prompts)
    sets = {s: labset(s, n, profile) for s in set_names}
    texts, owner = labset(captions, n, profile).texts() if captions is not None else (None, None)
    rows = []
    for r in recipe_names:
        for sd in (list(seeds_) if seeds_ is not None else [None]):
            loaded = load(r, profile, device, sd)
            if contrastive_only and loaded.is_classifier:
                break
            txt = (encode.encode_texts(loaded.model, loaded.tokenizer, texts, device, precision=precision)
                   if captions is not None else None)
            for p in (prompts if not loaded.is_classifier else prompts[-1:]):
                row = dict(model=r, seed=sd if sd is not None else 0, classifier=loaded.is_classifier,
                           arch=loaded.spec.family, prompts="classifier head" if loaded.is_classifier else p)
                row.update({s: outputs(loaded, ls, p, device, precision) for s, ls in sets.items()})
                if captions is not None:
                    row.update(text_features=txt, image_to_texts=owner)
                rows.append(row)
    return pd.DataFrame(rows)


def tower_of(model: Any) -> torch.nn.Module:
    """The vision tower of an open_clip CLIP or of a lab classifier (both keep it in `.visual`)."""
    v = getattr(model, "visual", None)
    if v is None or not hasattr(v, "forward_intermediates"):
        raise TypeError(f"{type(model).__name__} has no open_clip vision tower with forward_intermediates")
    return v


@torch.no_grad()
def dense_features(model: Any, x: torch.Tensor, stride: int = 8) -> tuple[torch.Tensor, dict]:
    """The deepest dense feature map [B, C, h, w] of the vision tower with at most `stride` pixels per cell.

    Uses open_clip's `forward_intermediates` (the same call for its ViT, ModifiedResNet and timm
    towers): a ViT gives its last block's patch tokens; a CNN gives the deepest stage that still has
    an (image size / stride) grid, so the architectures are compared at the same feature resolution.
    Returns (features, info with layer index, n_layers, grid and channels).
    """
    visual = tower_of(model)
    min_size = max(1, int(x.shape[-1]) // int(stride))
    out = visual.forward_intermediates(x, indices=None, intermediates_only=True)
    maps = out["image_intermediates"]
    ok = [i for i, m in enumerate(maps) if m.ndim == 4 and m.shape[-1] >= min_size and m.shape[-2] >= min_size]
    if not ok:
        raise ValueError(f"no feature map of the tower is at least {min_size}x{min_size} "
                         f"(sizes {[tuple(m.shape[-2:]) for m in maps]})")
    i = ok[-1]
    fm = maps[i].float()
    return fm, dict(layer=i, n_layers=len(maps), grid=int(fm.shape[-1]), channels=int(fm.shape[1]))


@torch.no_grad()
def _dense_of(loaded: Any, images: torch.Tensor, batch: int = 128, stride: int = 8):
    feats, info = [], {}
    for s in range(0, len(images), batch):
        f, info = dense_features(loaded.model, loaded.preprocess(images[s:s + batch]), stride)
        feats.append(f)
    return torch.cat(feats), info


def dense_frame(recipe_names: Iterable[str], set_name: str, *, n: int | None = None, profile: LabProfile = LAB,
                device: str = "cpu", stride: int = 8) -> pd.DataFrame:
    """The dense feature maps of every recipe's vision tower (its own training seed) on a lab set's images.

    One row per recipe: model, arch, features [N, C, h, w] (`dense_features`), layer, n_layers, grid, channels.
    """
    ls = labset(set_name, n, profile)
    rows = []
    for r in recipe_names:
        loaded = load(r, profile, device)
        feats, info = _dense_of(loaded, ls.images, stride=stride)
        rows.append(dict(model=r, arch=loaded.spec.family, features=feats, **info))
    return pd.DataFrame(rows)
