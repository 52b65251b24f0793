"""What a model is (`ModelSpec`) and what loading one gives (`Loaded`): plain records, the leaf of the model layer.

This module imports nothing from clipstudy, so every layer (the store, the lab, the runner) can name a model
without pulling in the registry or any source.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

LOCAL_DIR = "local-dir:"  # open_clip's own schema for a model folder
LAB_SOURCE = "lab"  # the source of the lab's CLIPs (`lab:RECIPE[@PROFILE]`, clipstudy.lab.zoo.spec)
LAB_PREFIX = "lab:"


@dataclass(frozen=True)
class ModelSpec:
    """One model and its factor annotation (columns named by `clipstudy.factors.COLUMN`; prompts are an
    evaluation knob, not a field)."""

    name: str
    source: str  # open_clip | timm | lab (LAB_SOURCE) | llava
    arch: str  # open_clip model name, timm model name, or lab recipe
    pretrained: str | None = None  # open_clip tag, local checkpoint path, or None
    family: str = ""  # architecture: vit, resnet, convnext, other (clipstudy.factors.ARCHITECTURES)
    data: str = ""  # training data source: openai-wit, laion2b, datacomp-1b, ...
    samples_seen: float | None = None  # training-set size (samples seen)
    finetuned: bool = False  # fine-tuned on ImageNet labels
    loss: str = "clip"  # clip | siglip | coca
    resolution: int = 224
    notes: str = ""

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def is_lab(self) -> bool:
        """A lab CLIP: its weights are named by their training key (`Loaded.extra["record"]`), not by files."""
        return self.source == LAB_SOURCE


@dataclass
class Loaded:
    """What `zoo.load` returns: the model (with `encode_image`), its preprocess, tokenizer and spec, and the two
    identities its cached outputs are keyed by.

    `weights_id` names the weights without hashing them (a lab model's training key and file hash); None means
    the engine hashes the parameters. `transform_id` names the preprocessing (its repr unless a source says
    better).
    """

    model: Any  # a torch.nn.Module
    preprocess: Callable
    tokenizer: Callable | None
    spec: ModelSpec
    device: str = "cpu"
    extra: dict = field(default_factory=dict)
    weights_id: str | None = None
    transform_id: str = ""

    def __post_init__(self) -> None:
        if not self.transform_id:
            self.transform_id = repr(self.preprocess)[:2000]

    @property
    def is_classifier(self) -> bool:
        return bool(getattr(self.model, "is_classifier", False))


def local_checkpoint(spec: ModelSpec) -> Path | None:
    """The file of an `ARCH@/path` spec, else None."""
    p = spec.pretrained
    if spec.source != "open_clip" or not p:
        return None
    if spec.name == f"{spec.arch}@{p}" or os.sep in p or p.endswith((".pt", ".pth", ".bin", ".safetensors")):
        return Path(p).expanduser()
    return None


def pretrained_tag(spec: ModelSpec) -> str | None:
    """The open_clip pretrained tag of a spec; None for random weights, local checkpoints and folders."""
    if spec.source != "open_clip" or not spec.pretrained or local_checkpoint(spec) is not None:
        return None
    return spec.pretrained
