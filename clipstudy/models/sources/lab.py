"""`lab:RECIPE[@PROFILE]`: a tiny CLIP trained in the lab (`clipstudy.lab.zoo`), trained on first use.

The lab zoo is imported on use, so registering this source does not import torch.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import registry
from ..spec import LAB_PREFIX as PREFIX, LAB_SOURCE as SOURCE, Loaded, ModelSpec


@dataclass(frozen=True)
class LabName:
    """A `lab:RECIPE[#SEED][@PROFILE]` model name, read."""

    recipe: str  # with its seed, as lab.zoo reads it (`base#1`)
    profile: str | None  # None: the name gives none (the `lab` profile, or the grid's where a runner qualifies it)

    def under(self, profile: str) -> str:
        """The name with a profile named: its own where it gives one, else `profile` (`lab` stays bare)."""
        prof = self.profile or profile or "lab"
        return f"{PREFIX}{self.recipe}" + ("" if self.profile is None and prof == "lab" else f"@{prof}")


def parse(name: str) -> LabName | None:
    """The parts of a lab model name; None for a name of any other form."""
    if not str(name).startswith(PREFIX):
        return None
    recipe, _, profile = str(name)[len(PREFIX):].partition("@")
    return LabName(recipe, profile or None)


def resolve(name: str) -> ModelSpec:
    from ...lab import zoo as lab_zoo

    lab = parse(name)
    return lab_zoo.spec(lab.recipe, lab.profile)


def load(spec: ModelSpec, device: str) -> Loaded:
    from ...lab import zoo as lab_zoo

    # the name, not spec.arch (the bare recipe): it carries the seed (`base#1`) and the profile (`@smoke`)
    return lab_zoo.load(spec.name[len(PREFIX):], device=device)


def listed() -> list[ModelSpec]:
    """Every lab recipe under the `lab` profile (what `clipstudy models` lists beside the registry)."""
    from ...lab import zoo as lab_zoo

    return lab_zoo.specs("lab")


def members() -> list[str]:
    from ...lab import zoo as lab_zoo

    return [f"{PREFIX}{r}" for r in lab_zoo.names()]


registry.register_resolver("lab:RECIPE[@PROFILE]", resolve, prefix=PREFIX)
registry.register_source(SOURCE, load, lister=listed)
registry.register_collection("lab", members)
