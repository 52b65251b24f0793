"""Model registry (timm-style names) and loading of open_clip, timm and lab models.

A model is named in one of these ways:
- a registry name (`clipstudy models` lists them), e.g. `ViT-B-32/laion2b_s34b_b79k`;
- an open_clip `ARCH/TAG` pair from `open_clip.list_pretrained()`;
- `ARCH/random`: random-initialised weights, for pipeline tests only;
- `ARCH@/path/to/checkpoint.pt`: a local checkpoint, loaded by open_clip;
- `local-dir:/path/to/folder`: an open_clip model folder (open_clip_config.json + weights, and its
  tokenizer), as `clipstudy lab export` writes;
- `timm:NAME`: a timm model with its ImageNet head (fine-tuned CLIPs);
- `lab:RECIPE`: a tiny CLIP trained in the lab.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import torch

from .errors import CheckpointError, ClipstudyError, UnknownNameError

FACTORS = ("family", "data", "samples_seen", "finetuned", "loss", "resolution")


@dataclass(frozen=True)
class ModelSpec:
    """One model and its six-factor annotation (prompts are an evaluation knob, not a field)."""

    name: str
    source: str  # open_clip | timm | lab
    arch: str  # open_clip model name, timm model name, or lab recipe
    pretrained: str | None = None  # open_clip tag, local checkpoint path, or None
    family: str = ""  # architecture family: vit, resnet, convnext, eva, ...
    data: str = ""  # training data source: openai-wit, laion2b, datacomp, ...
    samples_seen: float | None = None  # training-set size (samples seen)
    finetuned: bool = False  # fine-tuned on ImageNet labels
    loss: str = "clip"  # clip | siglip | coca
    resolution: int = 224
    notes: str = ""

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Loaded:
    """What `load` returns: the model (with `encode_image`), its preprocess, tokenizer and spec."""

    model: torch.nn.Module
    preprocess: Callable
    tokenizer: Callable | None
    spec: ModelSpec
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return bool(getattr(self.model, "is_classifier", False))


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    REGISTRY[spec.name] = spec
    return spec


def _ensure_registry() -> None:
    if REGISTRY:
        return
    try:
        from . import zoo_registry
    except ImportError:
        return
    for spec in zoo_registry.specs():
        register(spec)
    from .lab import zoo as lab_zoo

    for spec in lab_zoo.specs("lab"):
        register(spec)


def family_of(arch: str) -> str:
    a = arch.lower()
    for key, fam in (("eva", "eva"), ("convnext", "convnext"), ("rn", "resnet"), ("resnet", "resnet"),
                     ("vit", "vit"), ("coca", "vit")):
        if a.startswith(key) or f"_{key}" in a or f"-{key}" in a:
            return fam
    return "other"


def _open_clip_pairs() -> list[str]:
    import open_clip

    return [f"{m}/{t}" for m, t in open_clip.list_pretrained()]


def _suggestions() -> list[str]:
    out = list(REGISTRY) + _open_clip_pairs()
    try:
        import timm

        out += [f"timm:{n}" for n in timm.list_models(pretrained=True)]
    except Exception:  # timm is optional for suggestions only
        pass
    return out


def get(name: str | ModelSpec) -> ModelSpec:
    """Resolve a model name (see the module docstring) to a ModelSpec; unknown names suggest close ones."""
    import open_clip

    if isinstance(name, ModelSpec):
        return name
    _ensure_registry()
    if name in REGISTRY:
        return REGISTRY[name]
    if name.startswith("lab:"):
        from .lab import zoo as lab_zoo

        recipe, _, profile = name[4:].partition("@")
        return lab_zoo.spec(recipe, profile or None)
    if name.startswith(LOCAL_DIR):
        return _local_dir_spec(name)
    if name.startswith("timm:"):
        import timm

        tname = name[5:]
        known = timm.list_models(pretrained=True) if "." in tname else timm.list_models()
        if tname not in known:
            raise UnknownNameError("timm model", tname, timm.list_models(pretrained=True))
        return ModelSpec(name=name, source="timm", arch=tname, pretrained=tname, **_factors("timm", tname))
    if "@" in name:
        arch, path = name.split("@", 1)
        if arch not in open_clip.list_models():
            raise UnknownNameError("open_clip architecture", arch, open_clip.list_models())
        return ModelSpec(name=name, source="open_clip", arch=arch, pretrained=path, family=family_of(arch),
                         data="local", loss=_loss_of(arch))
    if "/" in name:
        arch, tag = name.split("/", 1)
        if tag == "random" and arch in open_clip.list_models():
            return ModelSpec(name=name, source="open_clip", arch=arch, pretrained=None, family=family_of(arch),
                             data="random-init", loss=_loss_of(arch), notes="random weights: pipeline tests only")
        if (arch, tag) in set(open_clip.list_pretrained()):
            return ModelSpec(name=name, source="open_clip", arch=arch, pretrained=tag,
                             **_factors("open_clip", arch, tag))
    raise UnknownNameError("model", name, _suggestions(),
                           hint="Use ARCH/TAG from open_clip.list_pretrained(), timm:NAME, ARCH@CHECKPOINT, "
                                "local-dir:FOLDER, lab:RECIPE, or a name from `clipstudy models`.")


LOCAL_DIR = "local-dir:"  # open_clip's own schema for a model folder


def _local_dir_spec(name: str) -> ModelSpec:
    """ModelSpec of an open_clip `local-dir:` folder; its config names the architecture family and loss."""
    import json

    folder = Path(name[len(LOCAL_DIR):]).expanduser()
    cfg_file = folder / "open_clip_config.json"
    if not cfg_file.is_file():
        raise CheckpointError(f"{name}: no open_clip_config.json in {folder}. An open_clip model folder holds "
                              "open_clip_config.json and its weights (e.g. from `clipstudy lab export`).")
    if not any(f.suffix in (".safetensors", ".bin", ".pth") for f in folder.iterdir()):
        # open_clip would build the model with random weights and only log a warning
        raise CheckpointError(f"{name}: no weights (*.safetensors, *.bin or *.pth) in {folder}")
    try:
        cfg = json.loads(cfg_file.read_text())
        model_cfg = cfg["model_cfg"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{name}: unreadable {cfg_file} ({type(e).__name__}: {e})") from e
    vision = model_cfg.get("vision_cfg", {})
    family = family_of(str(vision.get("timm_model_name") or "")) if vision.get("timm_model_name") else \
        "resnet" if isinstance(vision.get("layers"), (list, tuple)) else "vit"
    size = cfg.get("preprocess_cfg", {}).get("size", vision.get("image_size", 224))
    return ModelSpec(name=name, source="open_clip", arch=name, pretrained=None, family=family, data="local",
                     loss="siglip" if "init_logit_bias" in model_cfg else "clip",
                     resolution=int(size[0] if isinstance(size, (list, tuple)) else size))


def _factors(source: str, name: str, tag: str | None = None) -> dict[str, Any]:
    """The six factor fields, from the same tag rules the records use (one definition for both)."""
    from .records import tags

    t = tags.open_clip_tags(name, tag) if source == "open_clip" else tags.timm_tags(name)
    seen = t.get("samples_seen")
    return dict(family=t.get("family") or family_of(name), data=t.get("data") or "",
                samples_seen=None if seen is None or seen != seen else float(seen),
                finetuned=bool(t.get("finetuned")), loss=t.get("loss") or _loss_of(name),
                resolution=int(t.get("resolution") or 224))


def _loss_of(arch: str) -> str:
    a = arch.lower()
    return "siglip" if "siglip" in a else "coca" if "coca" in a else "clip"


def names(**filters: Any) -> list[str]:
    """Registry names whose fields equal the given values."""
    _ensure_registry()
    return [n for n, s in REGISTRY.items() if all(getattr(s, k) == v for k, v in filters.items())]


def frame(factor: str | None = None) -> pd.DataFrame:
    """The registry as a table; `factor` sorts and groups it by one of the six factor fields."""
    _ensure_registry()
    df = pd.DataFrame([s.row() for s in REGISTRY.values()])
    if df.empty:
        return df
    if factor is not None:
        if factor not in FACTORS:
            raise UnknownNameError("factor", factor, list(FACTORS))
        df = df.sort_values([factor, "name"], na_position="last")
        df = df[["name", factor] + [c for c in df.columns if c not in ("name", factor)]]
    return df.reset_index(drop=True)


class ClassifierAdapter(torch.nn.Module):
    """A timm classifier seen through the engine's `encode_image`: it returns ImageNet logits."""

    is_classifier = True

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _load_open_clip(spec: ModelSpec, device: str) -> Loaded:
    import open_clip

    pretrained = spec.pretrained
    if pretrained and (os.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors"))):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise CheckpointError(f"checkpoint for {spec.arch} not found: {path}")
    if pretrained is None and not spec.arch.startswith(LOCAL_DIR):
        torch.manual_seed(0)  # ARCH/random is the same random network every time, so its features cache
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(spec.arch, pretrained=pretrained, device=device)
    except Exception as e:  # open_clip raises RuntimeError/KeyError/OSError/HF errors; name the file and cause
        where = pretrained or ("(folder)" if spec.arch.startswith(LOCAL_DIR) else "(random init)")
        hint = ""
        if pretrained and not os.path.exists(str(pretrained)):
            hint = (" The weights are fetched from the model hub on first use; offline, put them in the HF cache "
                    "or pass ARCH@/path/to/checkpoint.")
        raise CheckpointError(f"could not load {spec.arch} weights {where}: {type(e).__name__}: {e}.{hint}") from e
    model.eval()
    tokenizer = open_clip.get_tokenizer(spec.arch)
    return Loaded(model, preprocess, tokenizer, spec, device)


def _load_timm(spec: ModelSpec, device: str) -> Loaded:
    import timm

    try:
        model = timm.create_model(spec.arch, pretrained=True)
    except Exception as e:
        raise CheckpointError(f"could not load timm weights for {spec.arch}: {type(e).__name__}: {e}. "
                              "Weights come from the model hub on first use.") from e
    cfg = timm.data.resolve_data_config({}, model=model)
    preprocess = timm.data.create_transform(**cfg)
    return Loaded(ClassifierAdapter(model).to(device).eval(), preprocess, None, spec, device)


def load(spec: ModelSpec | str, device: str = "cpu") -> Loaded:
    """Build the model with its preprocess and tokenizer; weights come from open_clip/timm/lab loaders."""
    spec = get(spec)
    if spec.source == "open_clip":
        return _load_open_clip(spec, device)
    if spec.source == "timm":
        return _load_timm(spec, device)
    if spec.source == "lab":
        from .lab import zoo as lab_zoo

        return lab_zoo.load(spec.arch, device=device)
    raise ClipstudyError(f"unknown model source {spec.source!r} for {spec.name}")


def model_id(spec: ModelSpec) -> str:
    """The cache id of a model: its name, plus the checkpoint file's size and mtime for local files."""
    if spec.pretrained and os.path.isfile(spec.pretrained):
        st = os.stat(spec.pretrained)
        return f"{spec.name}#{st.st_size}-{int(st.st_mtime)}"
    if spec.arch.startswith(LOCAL_DIR):
        files = [f for f in Path(spec.arch[len(LOCAL_DIR):]).expanduser().iterdir() if f.is_file()]
        return f"{spec.name}#{sum(f.stat().st_size for f in files)}-{max(int(f.stat().st_mtime) for f in files)}"
    return spec.name


def specs(names_: Iterable[str]) -> list[ModelSpec]:
    return [get(n) for n in names_]
