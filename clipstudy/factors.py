"""The one vocabulary of the study's six factors: their keys, display names, columns and tagging rules.

Every part of the package that names a factor reads it from here, so a factor is added (or renamed)
in one place:
- the model registry and `clipstudy models --factor` (the frame column each factor is stored in),
- the lab recipes (`Recipe.factor` is one of `TRAINING`),
- the records tags (`clipstudy.records.tags` applies `family_of`, `loss_of`, `data_of`, `DATA_SIZES`),
- the effects tables (a row's `factor` is a display name, `DISPLAY[key]`).

A registry row and a records row of the same model carry the same values in `COLUMN`s, so the two join.
This module imports only `clipstudy.errors`: it is the bottom layer.
"""
from __future__ import annotations

import re

from . import data_sources
from .errors import UnknownNameError

# ----------------------------------------------------------------- the six factors
KEYS: tuple[str, ...] = ("architecture", "data", "size", "finetuning", "loss", "prompts")
TRAINING: tuple[str, ...] = KEYS[:5]  # the five a model is trained with (prompts are a test-time knob)

# what the book's effects tables and figures call each factor
DISPLAY: dict[str, str] = {
    "architecture": "architecture", "data": "training distribution", "size": "training-set size",
    "finetuning": "fine-tuning", "loss": "contrastive loss", "prompts": "test-time prompts",
}
# the column that holds a factor in the registry (`ModelSpec` fields) and in records frames
COLUMN: dict[str, str] = {
    "architecture": "family", "data": "data", "size": "samples_seen", "finetuning": "finetuned",
    "loss": "loss", "prompts": "prompts",
}
# other spellings people (and older code) use; each resolves to its key
ALIASES: dict[str, str] = {
    "family": "architecture", "arch": "architecture", "training distribution": "data",
    "samples_seen": "size", "training-set size": "size", "finetuned": "finetuning", "finetune": "finetuning",
    "fine-tuning": "finetuning", "contrastive loss": "loss", "test-time prompts": "prompts",
}
# registry columns that sort a model table but are not factors
EXTRA_COLUMNS: tuple[str, ...] = ("resolution", "source")


def canonical(name: str) -> str:
    """The key of a factor given by its key, display name, column or alias; UnknownNameError (listing the keys)
    otherwise."""
    if name in KEYS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise UnknownNameError("factor", name, list(KEYS) + list(EXTRA_COLUMNS))


def column(name: str) -> str:
    """The frame column of a factor (any spelling) or of an extra sortable column such as `resolution`."""
    return name if name in EXTRA_COLUMNS else COLUMN[canonical(name)]


def display(name: str) -> str:
    """The effects-table name of a factor (any spelling)."""
    return DISPLAY[canonical(name)]


def of_display(display_name: str) -> str:
    """The key of a display name (`training distribution` -> `data`)."""
    return canonical(display_name)


# ----------------------------------------------------------------- architecture
ARCHITECTURES: tuple[str, ...] = ("vit", "resnet", "convnext", "other")  # EVA, DeiT, BEiT, SigLIP towers are ViTs


def family_of(name: str) -> str:
    """Architecture family from an open_clip, timm or testbed model name (one of ARCHITECTURES)."""
    n = name.lower().split(".")[0]
    if "convnext" in n:
        return "convnext"
    if re.search(r"(^|[-_])rn\d|resnet|resnext|^rn|wide_res|bit-|bitm", n):
        return "resnet"
    if re.search(r"vit|deit|eva|beit|siglip|clipa|(^|[-_])b-(16|32)", n):
        return "vit"
    return "other"


# ----------------------------------------------------------------- loss
LOSSES: tuple[str, ...] = ("clip", "siglip", "coca")


def loss_of(model: str) -> str:
    """coca_* -> coca; *SigLIP*/*siglip* -> siglip; otherwise the CLIP InfoNCE loss."""
    m = model.lower()
    if m.startswith("coca"):
        return "coca"
    return "siglip" if "siglip" in m else "clip"


# ----------------------------------------------------------------- data and its size
# Published sizes (image-text pairs or images) of the training sources, one spelling each, and the rules that tag
# an open_clip pretrained tag with its source: both read from the one table of sources (`clipstudy.data_sources`).
DATA_SIZES: dict[str, float] = dict(data_sources.SIZES)
# (regex on an open_clip pretrained tag, data source); first match wins; `{field}`s filled from the match's groups
DATA_RULES: list[tuple[str, str]] = list(data_sources.TAG_RULES)


def data_of(tag: str) -> str | None:
    """The training source of an open_clip pretrained tag (prefixes such as `frozen_` already removed)."""
    return data_sources.of_tag(tag)


def spec_fields(tags: dict, name: str) -> dict:
    """A model's factor fields (family, data, samples_seen, finetuned, loss, resolution) from its records tags,
    falling back on the name rules: one definition for every model source."""
    seen = tags.get("samples_seen")
    return dict(family=tags.get("family") or family_of(name), data=tags.get("data") or "",
                samples_seen=None if seen is None or seen != seen else float(seen),
                finetuned=bool(tags.get("finetuned")), loss=tags.get("loss") or loss_of(name),
                resolution=int(tags.get("resolution") or 224))
