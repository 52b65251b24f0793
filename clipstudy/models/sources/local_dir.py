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
    tokenizer_problem(name, folder, model_cfg)
    vision = model_cfg.get("vision_cfg", {})
    family = factors.family_of(str(vision.get("timm_model_name") or "")) if vision.get("timm_model_name") else \
        "resnet" if isinstance(vision.get("layers"), (list, tuple)) else "vit"
    size = cfg.get("preprocess_cfg", {}).get("size", vision.get("image_size", 224))
    return ModelSpec(name=name, source="open_clip", arch=name, pretrained=None, family=family, data="local",
                     loss="siglip" if "init_logit_bias" in model_cfg else "clip",
                     resolution=int(size[0] if isinstance(size, (list, tuple)) else size))


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
