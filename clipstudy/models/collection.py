"""Named collections of models, written `@NAME` wherever a list of names is taken.

Models: `@live` (the live panel), `@zero-shot` and `@fine-tuned` (the registry's open_clip CLIPs and its
timm ImageNet-fine-tuned CLIPs), `@baselines` (ImageNet-1k-trained timm models, the paper's baseline
role), `@lab` (the lab zoo, registered by its source), and `@FIELD=VALUE` over the registry (`@family=vit`,
`@data=laion2b`, `@loss=siglip`; a factor's key works too: `@architecture=vit`). The one `@` parser is
`clipstudy.models.registry.expand`. Dataset collections derive from the axes' declarations: see
`clipstudy.axes.datasets`.
"""
from __future__ import annotations

from typing import Iterable

from . import registry

# ImageNet-1k-trained timm models (supervised baselines: the paper's ER line is fitted over models like these).
BASELINES: tuple[str, ...] = tuple(f"timm:{n}" for n in (
    "resnet50.tv_in1k", "resnet101.tv_in1k", "resnet152.tv_in1k", "resnet50.a1_in1k", "wide_resnet50_2.tv_in1k",
    "resnext50_32x4d.tv_in1k", "densenet121.tv_in1k", "vgg16.tv_in1k", "inception_v3.tv_in1k",
    "efficientnet_b0.ra_in1k", "efficientnet_b3.ra2_in1k", "mobilenetv3_large_100.ra_in1k", "regnety_040.pycls_in1k",
    "convnext_tiny.fb_in1k", "convnext_base.fb_in1k", "vit_small_patch16_224.augreg_in1k",
    "vit_base_patch16_224.augreg_in1k", "deit_small_patch16_224.fb_in1k", "deit_base_patch16_224.fb_in1k",
    "swin_tiny_patch4_window7_224.ms_in1k", "swin_base_patch4_window7_224.ms_in1k"))


MODEL_COLLECTIONS = ("live", "zero-shot", "fine-tuned", "baselines", "lab")
FIELDS = registry.FIELDS

# A small live panel that spans the six factors (`@live`, the book's live grid); `clipstudy models` lists the registry.
LIVE: tuple[str, ...] = (
    "RN50/openai", "ViT-B-32/openai", "ViT-B-16/openai", "ViT-L-14/openai",
    "ViT-B-32/laion400m_e32", "ViT-B-32/laion2b_s34b_b79k", "ViT-B-16/datacomp_xl_s13b_b90k",
    "ViT-B-16-SigLIP/webli", "coca_ViT-B-32/laion2b_s13b_b90k",
    "timm:vit_base_patch16_clip_224.openai_ft_in1k",
)


def _hub_clips(finetuned: bool) -> list[str]:
    return [n for n, s in registry.entries().items()
            if s.source in registry.HUB_SOURCES and s.finetuned == finetuned]


registry.register_collection("live", lambda: list(LIVE))
registry.register_collection("baselines", lambda: list(BASELINES))
registry.register_collection("zero-shot", lambda: _hub_clips(False))
registry.register_collection("fine-tuned", lambda: _hub_clips(True))


def models(name: str) -> list[str]:
    """The members of a model collection (`name` without the @): a named one, or `FIELD=VALUE`."""
    return registry.collection(name)


def expand_models(items: Iterable[str] | str) -> list[str]:
    """Model names with each `@COLLECTION` replaced by its members, each once, in order ("a,b" splits)."""
    return registry.expand(items)
