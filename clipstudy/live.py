"""The live path inside the book: which real checkpoints and datasets this machine has, and their numbers.

Nothing here estimates: a model whose weights cannot be loaded, or a dataset whose
folder is absent, is reported as missing with the way to get it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from .errors import ClipstudyError

# A small default live panel that spans the six factors; `clipstudy models` lists the full registry.
DEFAULT_MODELS: tuple[str, ...] = (
    "RN50/openai", "ViT-B-32/openai", "ViT-B-16/openai", "ViT-L-14/openai",
    "ViT-B-32/laion400m_e32", "ViT-B-32/laion2b_s34b_b79k", "ViT-B-16/datacomp_xl_s13b_b90k",
    "ViT-B-16-SigLIP/webli", "coca_ViT-B-32/laion2b_s13b_b90k",
    "timm:vit_base_patch16_clip_224.openai_ft_in1k",
)


@dataclass
class Panel:
    """The live models and datasets that are present, and what is missing."""

    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return bool(self.models and self.datasets)


def dataset_present(name: str, root: Any = None) -> str | None:
    """None when the dataset loads, else the loader's message (expected layout and fetch command)."""
    from . import datasets

    try:
        datasets.get(name).load(root=root)
        return None
    except ClipstudyError as e:  # the loader's own message names the layout and how to get the data
        return " ".join(str(e).split())


def weights_present(name: str) -> str | None:
    """None when the checkpoint is in the local cache (open_clip/timm hub cache or a path), else why not."""
    from . import zoo

    try:
        spec = zoo.get(name)
    except ClipstudyError as e:
        return str(e)
    if spec.source == "open_clip" and spec.pretrained and not spec.pretrained.endswith((".pt", ".bin", ".safetensors")):
        import open_clip
        from huggingface_hub import try_to_load_from_cache

        cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained) or {}
        hub = (cfg.get("hf_hub") or "").rstrip("/")
        if hub:
            for fname in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
                if isinstance(try_to_load_from_cache(hub, fname), str):
                    return None
        return f"{name}: weights not in the local hub cache (hf-hub:{hub or '?'}); they download on first use online"
    if spec.source == "timm":
        import timm
        from huggingface_hub import try_to_load_from_cache

        cfg = timm.models.get_pretrained_cfg(spec.arch)
        hub = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        if hub and any(isinstance(try_to_load_from_cache(hub, f), str)
                       for f in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")):
            return None
        return f"{name}: weights not in the local hub cache (hf-hub:{hub or '?'})"
    return None


def panel(dataset_names: Iterable[str], models: Iterable[str] = DEFAULT_MODELS, enabled: bool = True) -> Panel:
    """Check what this machine has for a chapter's live section."""
    p = Panel()
    if not enabled:
        p.missing.append("the live profile was not selected: build with `clipstudy build --profile live` "
                         "on a machine with the checkpoints and datasets")
        return p
    for m in models:
        why = weights_present(m)
        (p.missing.append(why) if why else p.models.append(m))
    for d in dataset_names:
        why = dataset_present(d)
        (p.missing.append(why) if why else p.datasets.append(d))
    return p


def zero_shot_table(models: Iterable[str], dataset_names: Iterable[str], prompts: str = "openai80",
                    device: str = "auto") -> pd.DataFrame:
    """Top-1/top-5 of each (model, dataset), one tidy row per metric; features are cached."""
    from . import datasets, zeroshot, zoo
    from .config import resolve_device

    device = resolve_device(device)
    rows = []
    for m in models:
        loaded = zoo.load(m, device)
        for d in dataset_names:
            ds = datasets.get(d).load(transform=loaded.preprocess)
            rows.append(zeroshot.run(loaded, ds, dataset_id=d, prompts=prompts, device=device).tidy())
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
