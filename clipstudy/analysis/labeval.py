"""Lab evaluation plumbing for chapters 6-9: the zoo's recipes mapped to the six factors, evaluation sets
built with the base world (so every recipe sees the same images), and zero-shot outputs through the
cached engine (`clipstudy.zeroshot.run`), so each (model, set) is encoded once and reused by every metric.
"""
from __future__ import annotations

from typing import Any

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
        from ..lab import zoo as lab_zoo

        recipes_frame = lab_zoo.frame()
    return {r: book_factor(f) for r, f in zip(recipes_frame["recipe"], recipes_frame["factor"]) if f != "base"}


def labset(name: str, n: int, profile: str = "lab"):
    """An evaluation set of `n` items with the base world and default seed, at the profile's image size."""
    from ..lab import sets
    from ..lab import zoo as lab_zoo

    return sets.build(name, n=n, size=lab_zoo.profile_of(profile).image_size)


def dataset_id(ls: Any) -> str:
    """The feature-cache key of a lab set: its own cache file stem (name + hash of world, n, seed, size)."""
    from ..lab import sets
    from ..lab.world import WorldConfig

    m = ls.meta
    return sets.cache_path(ls.name, WorldConfig(**m["config"]) if isinstance(m.get("config"), dict) else WorldConfig(),
                           m["n"], m["seed"], m["size"]).stem


def load(recipe: str, profile: str = "lab", device: str = "cpu"):
    from ..lab import zoo as lab_zoo

    return lab_zoo.load(recipe, device=device, profile=profile, progress=False)


def outputs(loaded: Any, ls: Any, prompts: str = "ensemble", device: str = "cpu"):
    """`clipstudy.zeroshot.ZeroShot` of a loaded lab model on a lab set (features cached by the engine).

    prompts: 'single' or 'ensemble' (the lab's zero-shot templates); a classifier ignores it.
    """
    from .. import zeroshot
    from ..lab import captions

    if prompts not in PROMPTS:
        raise UnknownNameError("lab prompt set", prompts, list(PROMPTS))
    pp = loaded.preprocess
    native = getattr(pp, "size", None) == ls.images.shape[-1]
    ds = ls.dataset(transform=None if native and _same_norm(pp) else pp)
    return zeroshot.run(loaded, ds, dataset_id=dataset_id(ls), prompts=PROMPTS[prompts],
                        classnames=captions.classnames(), device=device, progress=False)


def _same_norm(pp: Any) -> bool:
    from ..lab.sets import MEAN, STD

    return tuple(getattr(pp, "mean", ())) == tuple(MEAN) and tuple(getattr(pp, "std", ())) == tuple(STD)
