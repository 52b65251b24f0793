"""Lab evaluation plumbing shared by every chapter: recipes mapped to the six factors, evaluation
sets built with the base world at the profile's image size (so every recipe sees the same images),
and zero-shot outputs through the cached engine, so each (model, set) is encoded once and reused
by every metric.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable

import pandas as pd

from ..errors import UnknownNameError

# the lab zoo's factor names -> the book's six factors (prompts are an evaluation knob, not a recipe)
FACTOR_NAMES = {"architecture": "architecture", "data": "training distribution", "size": "training-set size",
                "finetuning": "fine-tuning", "loss": "contrastive loss"}
PROMPTS = {"single": "lab-single", "ensemble": "lab-ensemble"}


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


def recipes(profile: str = "lab") -> pd.DataFrame:
    """lab.zoo.frame(): one row per recipe (recipe, factor, arch, loss, ...)."""
    from ..lab import zoo as lab_zoo

    return lab_zoo.frame()


@lru_cache(maxsize=64)
def load(recipe: str, profile: str = "lab", device: str = "cpu"):
    """A loaded lab model (trained first if missing)."""
    from ..lab import zoo as lab_zoo

    return lab_zoo.load(recipe, device=device, profile=profile, progress=False)


@lru_cache(maxsize=32)
def labset(name: str, n: int | None = None, profile: str = "lab"):
    """An evaluation set of `n` items (default size if None), base world, default seed, profile's image size."""
    from ..lab import sets
    from ..lab import zoo as lab_zoo

    return sets.build(name, n=n, size=lab_zoo.profile_of(profile).image_size)


def dataset_id(ls: Any) -> str:
    """The feature-cache key of a lab set: its own cache file stem (name + hash of world, n, seed, size)."""
    from ..lab import sets
    from ..lab.world import WorldConfig

    m = ls.meta
    cfg = WorldConfig(**m["config"]) if isinstance(m.get("config"), dict) else WorldConfig()
    return sets.cache_path(ls.name, cfg, m["n"], m["seed"], m["size"]).stem


def _same_norm(pp: Any) -> bool:
    from ..lab.sets import MEAN, STD

    return tuple(getattr(pp, "mean", ())) == tuple(MEAN) and tuple(getattr(pp, "std", ())) == tuple(STD)


def outputs(loaded: Any, ls: Any, prompts: str = "ensemble", device: str = "cpu"):
    """`clipstudy.zeroshot.ZeroShot` of a loaded lab model on a lab set (features cached by the engine).

    prompts: 'single' or 'ensemble' (the lab's zero-shot templates); a classifier ignores it.
    """
    from .. import zeroshot

    if prompts not in PROMPTS:
        raise UnknownNameError("lab prompt set", prompts, list(PROMPTS))
    pp = loaded.preprocess
    # the lab preprocess at the set's native size equals LabSet.dataset()'s own normalisation (no PIL round trip)
    native = getattr(pp, "size", None) == ls.images.shape[-1] and _same_norm(pp)
    ds = ls.dataset(transform=None if native else pp)
    return zeroshot.run(loaded, ds, dataset_id=dataset_id(ls), prompts=PROMPTS[prompts],
                        classnames=ls.classnames, device=device, progress=False)


def zero_shot(recipe: str, set_name: str, *, n: int | None = None, profile: str = "lab", prompts: str = "ensemble",
              device: str = "cpu"):
    """(ZeroShot, LabSet) of one lab recipe on one lab set; fine-tuned recipes use their class head."""
    ls = labset(set_name, n, profile)
    return outputs(load(recipe, profile, device), ls, prompts, device), ls


def accuracy_table(recipe_names: Iterable[str], set_names: Iterable[str], *, n: int | None = None,
                   profile: str = "lab", prompts: str = "ensemble", device: str = "cpu") -> pd.DataFrame:
    """Tidy top-1 accuracy: recipe, dataset, prompts, accuracy, n."""
    rows = []
    for r in recipe_names:
        for s in set_names:
            zs, _ = zero_shot(r, s, n=n, profile=profile, prompts=prompts, device=device)
            rows.append(dict(recipe=r, dataset=s, prompts=prompts, accuracy=zs.accuracy(), n=len(zs.labels)))
    return pd.DataFrame(rows)
