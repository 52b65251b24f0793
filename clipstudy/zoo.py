"""Model registry (timm-style names) and loading of open_clip, timm and lab models.

`NAME_FORMS` lists the ways a model is named. Hub weights come through `clipstudy.weights`; each
open_clip model is built with the activation (QuickGELU or GELU) and preprocessing its tag was trained with.
torch, pandas and open_clip are imported on use, so the CLI can show `NAME_FORMS` in its help at once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .errors import CheckpointError, ClipstudyError, UnknownNameError

if TYPE_CHECKING:
    import pandas as pd
    import torch

NAME_FORMS = """model names:
  ARCH/TAG                 an open_clip pretrained pair (open_clip.list_pretrained()), e.g. ViT-B-32/openai;
                           `clipstudy models` lists the curated registry with its six factors
  timm:NAME                a timm model with its ImageNet head, e.g. timm:vit_base_patch16_clip_224.openai_ft_in1k
  ARCH@/path/to/file.pt    a local open_clip checkpoint (.pt/.pth/.bin/.safetensors) for architecture ARCH;
                           OpenAI-style weights need the QuickGELU variant, e.g. ViT-B-32-quickgelu@/path/to/file.pt
  local-dir:/path/to/dir   an open_clip model folder (open_clip_config.json + weights), as `clipstudy lab export` writes
  lab:RECIPE[@PROFILE]     a tiny CLIP trained in the lab (`clipstudy lab recipes`)
  ARCH/random              random weights (seeded), for pipeline checks only
Hub weights (ARCH/TAG, timm:NAME) download on first use unless offline (--offline or HF_HUB_OFFLINE=1);
`clipstudy fetch model NAME` downloads them ahead."""

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
    return list(dict.fromkeys(out))  # registry names are open_clip pairs too: list each once


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
        if not path.strip():  # open_clip would build random, unseeded weights and carry on
            raise CheckpointError(f"{name}: no checkpoint path after '@'. Write {arch}@/path/to/checkpoint.pt; "
                                  f"random weights (pipeline checks only) are {arch}/random.")
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
                                "local-dir:FOLDER, lab:RECIPE, ARCH/random, or a name from `clipstudy models`.")


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
    import pandas as pd

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


@functools.cache
def _classifier_adapter() -> type:
    import torch

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

    return ClassifierAdapter


def __getattr__(name: str) -> Any:
    """`zoo.ClassifierAdapter` is made on first use: it needs torch, and `import zoo` must stay light."""
    if name == "ClassifierAdapter":
        return _classifier_adapter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# pretrained-cfg preprocessing keys -> create_model_and_transforms arguments
PREPROCESS_ARGS = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                   "resize_mode": "image_resize_mode"}


def open_clip_kwargs(arch: str, tag: str | None) -> dict[str, Any]:
    """The `create_model` kwargs that rebuild the network `tag` was trained as.

    open_clip's built-in configs use nn.GELU; for a tag trained with QuickGELU (OpenAI, ViT-B-32 LAION-400M,
    MetaCLIP, DFN, ...) it only warns and returns a network with the wrong activation. The tag's preprocessing
    is passed too, because clipstudy gives open_clip the weights as a file, not as the tag.
    """
    import open_clip

    cfg = (open_clip.get_pretrained_cfg(arch, tag) or {}) if tag else {}
    kw: dict[str, Any] = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
    kw.update({arg: cfg[k] for k, arg in PREPROCESS_ARGS.items() if cfg.get(k) is not None})
    return kw


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


def build_open_clip(spec: ModelSpec, checkpoint: str | None, device: str = "cpu") -> tuple[Any, Callable]:
    """(model, preprocess) built as the spec's tag was trained, weights from the local file `checkpoint`
    (random when None). The activation test builds every registry entry with device="meta"."""
    import open_clip

    kw = open_clip_kwargs(spec.arch, pretrained_tag(spec))
    model, _, preprocess = open_clip.create_model_and_transforms(spec.arch, pretrained=checkpoint, device=device, **kw)
    return model, preprocess


def _check_checkpoint_file(spec: ModelSpec, path: Path) -> Path:
    """The errors a glance at the path can tell, before open_clip reads it."""
    if not path.exists():
        raise CheckpointError(f"checkpoint for {spec.arch} not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{spec.name}: {path} is a folder, not a checkpoint file. For an open_clip model folder "
                              f"(open_clip_config.json + weights) use local-dir:{path}; for one file in it use "
                              f"{spec.arch}@{path}/FILE.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{spec.name}: {path} is empty (0 bytes): an interrupted download or copy? "
                              "Get the checkpoint again.")
    return path


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """open_clip logs 'initialized randomly' for the shape-only build of a diagnosis; hide that."""
    import logging

    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def checkpoint_problem(spec: ModelSpec, path: Path) -> str | None:
    """Why `path` does not load as `spec.arch`, in plain words; None when no plainer reason is found.
    Only run after a load failed: it reads the file again."""
    import torch
    from open_clip.factory import load_state_dict

    try:
        sd = load_state_dict(str(path))
    except Exception as e:
        with path.open("rb") as f:
            head = f.read(4096)
        what = "a text file" if _is_text(head) else f"unreadable by torch.load and safetensors ({type(e).__name__})"
        return (f"{path} is {what}, not a checkpoint: expected a PyTorch (.pt/.pth/.bin) or .safetensors "
                f"state dict of {spec.arch}")
    if not isinstance(sd, dict) or not any(isinstance(v, torch.Tensor) for v in sd.values()):
        return f"{path} holds no tensors: expected a state dict of {spec.arch}"
    with torch.device("meta"), _quiet_open_clip():
        ref = build_open_clip(spec, None, device="meta")[0].state_dict()
    for k, v in sd.items():
        if k in ref and isinstance(v, torch.Tensor) and tuple(v.shape) != tuple(ref[k].shape):
            return (f"architecture mismatch: {path} is not a {spec.arch} checkpoint: tensor {k} has shape "
                    f"{tuple(v.shape)} in the file but {tuple(ref[k].shape)} in {spec.arch}")
    missing, extra = [k for k in ref if k not in sd], [k for k in sd if k not in ref]
    if missing:
        return (f"architecture mismatch: {path} is not a {spec.arch} checkpoint: it lacks {len(missing)} of the "
                f"{len(ref)} tensors {spec.arch} has (e.g. {', '.join(missing[:3])})"
                + (f" and has {len(extra)} it does not (e.g. {', '.join(extra[:3])})" if extra else ""))
    return None


def _is_text(head: bytes) -> bool:
    try:
        return b"\0" not in head and bool(head.decode("utf-8").strip())
    except UnicodeDecodeError:
        return False


def _load_open_clip(spec: ModelSpec, device: str) -> Loaded:
    import open_clip
    import torch

    local = local_checkpoint(spec)
    checkpoint: str | None = None
    if local is not None:
        checkpoint = str(_check_checkpoint_file(spec, local))
    elif pretrained_tag(spec) is not None:
        from . import weights

        hub = weights.ensure(spec)  # the hub file, downloaded unless offline; None: open_clip fetches a URL tag
        checkpoint = str(hub) if hub is not None else spec.pretrained
    elif not spec.arch.startswith(LOCAL_DIR):
        torch.manual_seed(0)  # ARCH/random is the same random network every time, so its features cache
    try:
        model, preprocess = build_open_clip(spec, checkpoint, device)
    except Exception as e:  # open_clip raises RuntimeError/KeyError/EOFError/...; say what is wrong in plain words
        why = checkpoint_problem(spec, local) if local is not None else None
        where = checkpoint or ("(folder)" if spec.arch.startswith(LOCAL_DIR) else "(random init)")
        raise CheckpointError(f"{spec.name}: {why}" if why else
                              f"could not load {spec.arch} weights {where}: {type(e).__name__}: {e}") from e
    model.eval()
    tokenizer = open_clip.get_tokenizer(spec.arch)
    return Loaded(model, preprocess, tokenizer, spec, device)


def _load_timm(spec: ModelSpec, device: str) -> Loaded:
    import timm

    from . import weights

    hub = weights.ensure(spec)  # the hub file, downloaded unless offline; None: timm fetches its URL itself
    overlay = {"file": str(hub)} if hub is not None else None
    try:
        model = timm.create_model(spec.arch, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as e:
        raise CheckpointError(f"could not load timm weights for {spec.arch} from {hub or 'its URL'}: "
                              f"{type(e).__name__}: {e}") from e
    cfg = timm.data.resolve_data_config({}, model=model)
    preprocess = timm.data.create_transform(**cfg)
    return Loaded(_classifier_adapter()(model).to(device).eval(), preprocess, None, spec, device)


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
