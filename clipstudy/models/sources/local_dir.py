"""`local-dir:FOLDER`: an open_clip model folder (open_clip_config.json + weights), as `clipstudy lab export`
writes it. Loaded by the open_clip source (open_clip reads the folder itself)."""
from __future__ import annotations

import json
from pathlib import Path

from ... import factors
from ...errors import CheckpointError
from .. import registry
from ..spec import LOCAL_DIR, ModelSpec


def resolve(name: str) -> ModelSpec:
    """ModelSpec of an open_clip `local-dir:` folder; its config names the architecture family and loss."""
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
    family = factors.family_of(str(vision.get("timm_model_name") or "")) if vision.get("timm_model_name") else \
        "resnet" if isinstance(vision.get("layers"), (list, tuple)) else "vit"
    size = cfg.get("preprocess_cfg", {}).get("size", vision.get("image_size", 224))
    return ModelSpec(name=name, source="open_clip", arch=name, pretrained=None, family=family, data="local",
                     loss="siglip" if "init_logit_bias" in model_cfg else "clip",
                     resolution=int(size[0] if isinstance(size, (list, tuple)) else size))


registry.register_resolver("local-dir:FOLDER", resolve, prefix=LOCAL_DIR)
