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
B, M = 1e9, 1e6
# Published sizes (image-text pairs or images) of the training sources, one spelling each.
DATA_SIZES: dict[str, float] = {
    "openai-wit": 400 * M, "laion400m": 400 * M, "laion2b": 2.32 * B, "laion5b": 5.85 * B,
    "laion-aesthetic": 900 * M, "datacomp-1b": 1.4 * B, "datacomp-l": 140 * M, "datacomp-m": 14 * M,
    "datacomp-s": 1.4 * M, "commonpool-xl": 12.8 * B, "commonpool-l": 1.28 * B, "commonpool-m": 128 * M,
    "commonpool-s": 12.8 * M, "dfn-5b": 5 * B, "dfn-2b": 2 * B, "metaclip-400m": 400 * M,
    "metaclip-2.5b": 2.5 * B, "webli": 10 * B, "merged-2b": 2 * B, "yfcc15m": 15 * M, "cc12m": 12 * M,
    "laion80m": 80 * M,  # LAION-80M of the scaling-law grid (Cherti et al. 2023): an 80M-sample subset of LAION
    "instagram-3.6b": 3.6 * B,  # SWAG (Singh et al. 2022): IG-3.6B hashtag-labelled images
}

# (regex on an open_clip pretrained tag, data source); first match wins; None: built from the match
DATA_RULES: list[tuple[str, str | None]] = [
    (r"^openai$", "openai-wit"),
    (r"^laion400m", "laion400m"),
    (r"^laion2b", "laion2b"),
    (r"^laion5b", "laion5b"),
    (r"^laion_?aesthetic|^laiona", "laion-aesthetic"),
    (r"^datacomp_(xl|l|m|s)_", None),  # datacomp-<scale> (xl is DataComp-1B)
    (r"^datacomp", "datacomp-1b"),     # datacomp1b (CLIPA), datacomp_s34b_b86k: DataComp-1B
    (r"^commonpool_(xl|l|m|s)(?:_(clip|laion|image|text|basic))?_", None),  # commonpool-<scale>[-<filter>]
    (r"^dfn5b", "dfn-5b"),
    (r"^dfn2b", "dfn-2b"),
    (r"^metaclip_400m", "metaclip-400m"),
    (r"^metaclip_fullcc", "metaclip-2.5b"),
    (r"^webli", "webli"),
    (r"^merged2b", "merged-2b"),
    (r"^yfcc15m", "yfcc15m"),
    (r"^cc12m", "cc12m"),
]


def data_of(tag: str) -> str | None:
    """The training source of an open_clip pretrained tag (prefixes such as `frozen_` already removed)."""
    t = tag.lower()
    for pat, data in DATA_RULES:
        m = re.search(pat, t)
        if not m:
            continue
        if data is None and t.startswith("datacomp"):
            return f"datacomp-{m.group(1)}" if m.group(1) != "xl" else "datacomp-1b"
        if data is None:  # commonpool_<scale>[_<filter>]: size known only for the unfiltered pool
            return f"commonpool-{m.group(1)}" + (f"-{m.group(2)}" if m.group(2) else "")
        return data
    return None


def spec_fields(tags: dict, name: str) -> dict:
    """A model's factor fields (family, data, samples_seen, finetuned, loss, resolution) from its records tags,
    falling back on the name rules: one definition for every model source."""
    seen = tags.get("samples_seen")
    return dict(family=tags.get("family") or family_of(name), data=tags.get("data") or "",
                samples_seen=None if seen is None or seen != seen else float(seen),
                finetuned=bool(tags.get("finetuned")), loss=tags.get("loss") or loss_of(name),
                resolution=int(tags.get("resolution") or 224))
