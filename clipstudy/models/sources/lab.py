"""`lab:RECIPE[@PROFILE]`: a tiny CLIP trained in the lab (`clipstudy.lab.zoo`), trained on first use.

The lab zoo is imported on use, so registering this source does not import torch.
"""
from __future__ import annotations

from .. import registry
from ..spec import Loaded, ModelSpec

PREFIX = "lab:"


def resolve(name: str) -> ModelSpec:
    from ...lab import zoo as lab_zoo
    from ...profiles import lab_profile

    recipe, _, profile = name[len(PREFIX):].partition("@")
    return lab_zoo.spec(recipe, lab_profile(profile or None))  # the name's profile: resolved here, at its edge


def load(spec: ModelSpec, device: str) -> Loaded:
    from ...lab import zoo as lab_zoo

    # the name, not spec.arch (the bare recipe): it carries the seed (`base#1`) and the profile (`@smoke`)
    return lab_zoo.load(spec.name[len(PREFIX):], device=device)


def listed() -> list[ModelSpec]:
    """Every lab recipe under the `lab` profile (what `clipstudy models` lists beside the registry)."""
    from ...lab import zoo as lab_zoo

    return lab_zoo.specs()


def members() -> list[str]:
    from ...lab import zoo as lab_zoo

    return [f"{PREFIX}{r}" for r in lab_zoo.names()]


registry.register_resolver("lab:RECIPE[@PROFILE]", resolve, prefix=PREFIX)
registry.register_source("lab", load, lister=listed)
registry.register_collection("lab", members)
