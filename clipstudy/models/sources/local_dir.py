"""`local-dir:FOLDER`: an open_clip model folder (open_clip_config.json + weights), as `clipstudy lab export`
writes it. Loaded by the open_clip source (open_clip reads the folder itself)."""
from __future__ import annotations

import json
from pathlib import Path

from ... import factors
from ...jsontypes import fits
from ...errors import CheckpointError
from .. import registry
from ..spec import LOCAL_DIR, ModelSpec


def resolve(name: str) -> ModelSpec:
    """ModelSpec of an open_clip `local-dir:` folder; its config names the architecture family and loss."""
    folder = Path(name[len(LOCAL_DIR):]).expanduser()
    cfg_file = folder / "open_clip_config.json"
    try:
        has_config = cfg_file.is_file()
        files = list(folder.iterdir()) if has_config else []
    except OSError as e:  # a name too long for a file, a folder that cannot be listed
        raise CheckpointError(f"{name}: {folder} cannot be read ({e.strerror or type(e).__name__})") from None
    if not has_config:
        raise CheckpointError(f"{name}: no open_clip_config.json in {folder}. An open_clip model folder holds "
                              "open_clip_config.json and its weights (e.g. from `clipstudy lab export`).")
    if not any(f.suffix in (".safetensors", ".bin", ".pth") for f in files):
        # open_clip would build the model with random weights and only log a warning
        raise CheckpointError(f"{name}: no weights (*.safetensors, *.bin or *.pth) in {folder}")
    try:
        cfg = json.loads(cfg_file.read_text())
        model_cfg = cfg["model_cfg"]
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise CheckpointError(f"{name}: unreadable {cfg_file} ({type(e).__name__}: {e})") from e
    problem = config_problem(cfg)
    if problem:
        raise CheckpointError(f"{name}: {cfg_file}: {problem}")
    tokenizer_problem(name, folder, model_cfg)
    vision = model_cfg.get("vision_cfg", {})
    family = factors.family_of(str(vision.get("timm_model_name") or "")) if vision.get("timm_model_name") else \
        "resnet" if isinstance(vision.get("layers"), (list, tuple)) else "vit"
    size = cfg.get("preprocess_cfg", {}).get("size", vision.get("image_size", 224))
    return ModelSpec(name=name, source="open_clip", arch=name, pretrained=None, family=family, data="local",
                     loss="siglip" if "init_logit_bias" in model_cfg else "clip",
                     resolution=int(size[0] if isinstance(size, (list, tuple)) else size))


# sizes a config gives that must be whole numbers of at least 1, and at most this: far above any published CLIP
# (ViT-bigG: width 1664, 48 layers), so a damaged or hostile config fails here instead of allocating a model
SIZE_FIELDS = {"width": 1 << 16, "layers": 4096, "heads": 4096, "head_width": 1 << 16, "patch_size": 4096,
               "image_size": 1 << 14, "context_length": 1 << 16, "vocab_size": 1 << 24, "embed_dim": 1 << 16,
               "size": 1 << 14}


def _type_name(tp) -> str:
    """An annotation in words: `Union[int, Tuple[int, int]]` -> "int or a list of 2 int"."""
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin is typing.Union:
        return " or ".join(_type_name(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} {_type_name(args[0])}" if args else "a list"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check(cfg: dict, hints: dict, where: str, strict: bool) -> str | None:
    for key, value in cfg.items():
        if key not in hints:
            if strict:
                return f"{where} has the field {key!r}, which open_clip does not know (known: " + \
                    ", ".join(sorted(hints)[:12]) + ", ...)"
            continue
        if not fits(value, hints[key]):
            shown = json.dumps(value)[:40]
            return f"{where}.{key} is {shown} ({type(value).__name__}); expected {_type_name(hints[key])}"
        sizes = value if isinstance(value, (list, tuple)) else [value]
        top = SIZE_FIELDS.get(key)
        if top and any(isinstance(v, int) and not 1 <= v <= top for v in sizes):
            return f"{where}.{key} is {json.dumps(value)[:40]}; expected a size from 1 to {top:,}"
    return None


def config_problem(cfg: dict) -> str | None:
    """What is wrong in an open_clip_config.json, checked against open_clip's own declarations (the typed fields
    of `CLIPVisionCfg` and `CLIPTextCfg`, `CLIP`'s arguments), or None. open_clip itself would fail deep in model
    building (`"width": "wide"`: a TypeError in a layer) or build a model from a value of the wrong kind."""
    import typing

    import open_clip.model as ocm

    model_cfg = cfg.get("model_cfg")
    if not isinstance(model_cfg, dict):
        return "model_cfg should be an object of the model's settings"
    top = typing.get_type_hints(ocm.CLIP.__init__)
    for key in ("vision_cfg", "text_cfg"):
        sub = model_cfg.get(key, {})
        if not isinstance(sub, dict):
            return f"model_cfg.{key} should be an object, not {json.dumps(sub)[:40]}"
        hints = typing.get_type_hints(ocm.CLIPVisionCfg if key == "vision_cfg" else ocm.CLIPTextCfg)
        why = _check(sub, hints, f"model_cfg.{key}", strict=True)
        if why:
            return why
    why = _check({k: v for k, v in model_cfg.items() if k not in ("vision_cfg", "text_cfg")},
                 {k: v for k, v in top.items() if k not in ("vision_cfg", "text_cfg", "cast_dtype", "return")},
                 "model_cfg", strict=False)
    if why:
        return why
    pre = cfg.get("preprocess_cfg", {})
    if not isinstance(pre, dict):
        return "preprocess_cfg should be an object"
    from typing import Tuple, Union

    return _check(pre, {"size": Union[int, Tuple[int, int]], "mean": Union[float, Tuple[float, ...]],
                        "std": Union[float, Tuple[float, ...]], "interpolation": str, "resize_mode": str,
                        "fill_color": int}, "preprocess_cfg", strict=False)


# What AutoTokenizer.from_pretrained(FOLDER) needs: its config, and the vocabulary in one of these forms.
TOKENIZER_CONFIG = "tokenizer_config.json"
TOKENIZER_VOCAB = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


def tokenizer_problem(name: str, folder: Path, model_cfg: dict) -> None:
    """A config naming a Hugging Face tokenizer (`text_cfg.hf_tokenizer_name`) makes open_clip read the tokenizer
    from the folder itself: its files must be there, or the load fails deep in transformers."""
    text = model_cfg.get("text_cfg", {}) if isinstance(model_cfg, dict) else {}
    hf_name = text.get("hf_tokenizer_name") if isinstance(text, dict) else None
    if not hf_name:
        return  # open_clip's own BPE tokenizer, shipped with open_clip
    missing = [] if (folder / TOKENIZER_CONFIG).is_file() else [TOKENIZER_CONFIG]
    if not any((folder / f).is_file() for f in TOKENIZER_VOCAB):
        missing.append(" or ".join(TOKENIZER_VOCAB[:3]) + " (the vocabulary)")
    if missing:
        raise CheckpointError(
            f"{name}: the tokenizer files are missing from {folder}: {', '.join(missing)}. Its config names a "
            f"Hugging Face tokenizer ({hf_name!r}), which open_clip reads from the model folder itself. Copy the "
            "tokenizer files back (a `clipstudy lab export` folder holds tokenizer.json, tokenizer_config.json and "
            "special_tokens_map.json), or export the model again.")


registry.register_resolver("local-dir:FOLDER", resolve, prefix=LOCAL_DIR)
