"""Small models and datasets for the runner's tests and benchmark: random-initialised tiny open_clip CLIPs
saved as open_clip `local-dir:` folders (so every executor's worker loads them by name), and fixture
datasets in their real on-disk layouts. Random weights: pipeline checks only, never findings."""
from __future__ import annotations

import json
from pathlib import Path

import fixtures_layouts as F


def tiny_local_dir(folder: Path, seed: int = 0, width: int = 64, image_size: int = 32) -> str:
    """A random tiny CLIP as an open_clip model folder; returns its model name `local-dir:FOLDER`."""
    import open_clip
    import torch

    folder = Path(folder)
    if not (folder / "open_clip_config.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        model_cfg = dict(embed_dim=32, vision_cfg=dict(layers=2, width=width, patch_size=8, image_size=image_size),
                         text_cfg=dict(context_length=24, vocab_size=49408, width=32, heads=2, layers=1))
        torch.manual_seed(seed)
        model = open_clip.CLIP(**model_cfg)
        torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
        (folder / "open_clip_config.json").write_text(json.dumps(dict(
            model_cfg=model_cfg, preprocess_cfg=dict(size=image_size, mean=[0.48145466, 0.4578275, 0.40821073],
                                                     std=[0.26862954, 0.26130258, 0.27577711]))))
    return f"local-dir:{folder}"


def class_folders(root: Path, classes=("cat", "dog", "fox"), per_class: int = 6, seed: int = 0, size: int = 40) -> str:
    """`imagefolder:ROOT`: random PNGs in class folders; returns the dataset name."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        d = Path(root) / c
        d.mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(d / f"{c}_{j}.png")
    return f"imagefolder:{root}"


def data_root(root: Path, per_class: int = 2) -> Path:
    """A CLIPSTUDY_DATA with miniature ImageNet val, ImageNet-Sketch, an OOD set (textures), cue-conflict
    stimuli and a COCO Karpathy test split, each in its real layout (tests/fixtures_layouts)."""
    root = Path(root)
    F.make_imagenet(root / "imagenet", n_classes=3)
    F.make_sketch(root / "imagenet-sketch", per_class=per_class)
    F.make_ood(root / "textures", "textures")
    F.make_cue_conflict(root / "cue-conflict")
    F.make_retrieval(root / "coco-5k", "coco-5k", n_test=4)
    return root
