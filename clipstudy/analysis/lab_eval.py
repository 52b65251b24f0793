"""Zero-shot results of lab recipes on lab sets, through the one cached engine (chapters 01-05).

A thin layer over clipstudy.lab.zoo (models), clipstudy.lab.sets (images) and clipstudy.zeroshot
(cached features + heads): each (recipe, set, n) is encoded once per cache, and every metric reads
the same logits. Evaluation sets are built with the base world config, so every recipe is scored
on the same images.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import pandas as pd

PROMPTS = {"ensemble": "lab-ensemble", "single": "lab-single"}


@lru_cache(maxsize=64)
def _model(recipe: str, device: str, profile: str):
    from ..lab import zoo as lab_zoo

    return lab_zoo.load(recipe, device, profile, progress=False)


@lru_cache(maxsize=32)
def labset(name: str, n: int | None = None):
    """A named lab evaluation set (base world config, default seed), cached on disk by the lab."""
    from ..lab import sets

    return sets.build(name, n=n)


def set_id(ls) -> str:
    """Feature-cache key of a lab set: the stem of the set's own cache file (name + hash of world config,
    n, seed, size and world version), the same key analysis.labeval uses, so chapters share features."""
    from ..lab import sets
    from ..lab.world import WorldConfig

    m = ls.meta
    cfg = WorldConfig(**m["config"]) if isinstance(m.get("config"), dict) else WorldConfig()
    return sets.cache_path(ls.name, cfg, m["n"], m["seed"], m["size"]).stem


def zero_shot(recipe: str, set_name: str, *, n: int | None = None, profile: str = "lab", prompts: str = "ensemble",
              device: str = "cpu"):
    """(ZeroShot, LabSet) of one lab recipe on one lab set; fine-tuned recipes use their class head."""
    from .. import zeroshot
    from ..lab import sets
    from ..lab import zoo as lab_zoo  # noqa: F401  (importing it registers the lab prompt sets)

    loaded = _model(recipe, device, profile)
    ls = labset(set_name, n)
    pp = loaded.preprocess
    # the lab preprocess at the set's native size equals LabSet.dataset()'s own normalisation (no PIL round trip)
    native = getattr(pp, "size", None) == ls.meta["size"] and tuple(getattr(pp, "mean", ())) == tuple(sets.MEAN) \
        and tuple(getattr(pp, "std", ())) == tuple(sets.STD)
    ds = ls.dataset(None if native else pp)
    zs = zeroshot.run(loaded, ds, dataset_id=set_id(ls), prompts=PROMPTS.get(prompts, prompts),
                      classnames=ls.classnames, device=device, progress=False)
    return zs, ls


def recipes(profile: str = "lab") -> pd.DataFrame:
    """lab.zoo.frame(): one row per recipe (recipe, factor, arch, loss, ...)."""
    from ..lab import zoo as lab_zoo

    return lab_zoo.frame()


def accuracy_table(recipe_names: Iterable[str], set_names: Iterable[str], *, n: int | None = None,
                   profile: str = "lab", prompts: str = "ensemble", device: str = "cpu") -> pd.DataFrame:
    """Tidy top-1 accuracy: recipe, dataset, prompts, accuracy, n."""
    rows = []
    for r in recipe_names:
        for s in set_names:
            zs, ls = zero_shot(r, s, n=n, profile=profile, prompts=prompts, device=device)
            rows.append(dict(recipe=r, dataset=s, prompts=prompts, accuracy=zs.accuracy(), n=len(zs.labels)))
    return pd.DataFrame(rows)
