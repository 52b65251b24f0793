"""Cue-conflict, edge and silhouette stimuli (Geirhos et al. 2019), 16 entry-level classes.

Cue-conflict images are named `<shape><i>-<texture><j>.png` and sit in their shape's
folder; edges and filled silhouettes are `<class><i>.png`. Label = the shape class.

A 1000-class ImageNet model decides among the 16 classes as the texture-vs-shape
code does: the mean probability over each category's fine ImageNet classes
(`aggregate_probabilities`). A zero-shot CLIP can instead use a direct 16-way head
over `direct_classnames()`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..errors import ClipstudyError
from .base import (ImageListDataset, check_class_folders, fetch_archive, list_images, missing, require_dir,
                   resolve_root, subdirs)

NAME = "cue-conflict"
FETCHABLE = True
CATEGORIES = sorted(["knife", "keyboard", "elephant", "bicycle", "airplane", "clock", "oven", "chair", "bear",
                     "boat", "cat", "bottle", "truck", "car", "bird", "dog"])

# The ImageNet-1k class indices of each category, as listed in the `HumanCategories` class of
# bethgelab/model-vs-human (modelvshuman/helper/human_categories.py) and rgeirhos/texture-vs-shape
# (code/helper/human_categories.py). Recorded here as data; `tests` check their count and disjointness.
IMAGENET_INDICES: dict[str, list[int]] = {
    "airplane": [404],
    "bear": [294, 295, 296, 297],
    "bicycle": [444, 671],
    "bird": [8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92, 93,
             94, 95, 96, 98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140, 141, 142,
             143, 144, 145],
    "boat": [472, 554, 625, 814, 914],
    "bottle": [440, 720, 737, 898, 899, 901, 907],
    "car": [436, 511, 817],
    "cat": [281, 282, 283, 284, 285, 286],
    "chair": [423, 559, 765, 857],
    "clock": [409, 530, 892],
    # dogs: 152..268 except 192, 204, 227, 242, 251, 258, 260, 264
    "dog": [i for i in range(152, 269) if i not in (192, 204, 227, 242, 251, 258, 260, 264)],
    "elephant": [385, 386],
    "keyboard": [508, 878],
    "knife": [499],
    "oven": [766],
    "truck": [555, 569, 656, 675, 717, 734, 864, 867],
}

URL = "https://github.com/rgeirhos/texture-vs-shape/archive/ccd0c01d42c0a8a834e90ec141e7f24fa915dc23.tar.gz"
SHA256: str | None = None  # GitHub's generated archives carry no published checksum
_TOP = "texture-vs-shape-ccd0c01d42c0a8a834e90ec141e7f24fa915dc23/stimuli/"
KINDS = {  # kind -> (default folder under $CLIPSTUDY_DATA, archive member, alternates under $CLIPSTUDY_DATA)
    "cue-conflict": ("cue-conflict", _TOP + "style-transfer-preprocessed-512",
                     ("stimuli/cue-conflict", "stimuli/cue-conflict-sample")),
    "edges": ("edges", _TOP + "edges", ("stimuli/edges",)),
    "silhouettes": ("silhouettes", _TOP + "filled-silhouettes", ("stimuli/filled-silhouettes",)),
}
LAYOUT = """\
<root>/<class>/<shape><i>-<texture><j>.png   (16 class folders: airplane, bear, ..., truck; e.g. cat/cat1-elephant1.png)
   default root: $CLIPSTUDY_DATA/cue-conflict (or stimuli/cue-conflict, stimuli/cue-conflict-sample)"""
LAYOUT_PLAIN = """\
<root>/<class>/<class><i>.png   (16 class folders, e.g. knife/knife3.png)
   default roots: $CLIPSTUDY_DATA/edges and $CLIPSTUDY_DATA/silhouettes (or stimuli/edges, stimuli/filled-silhouettes)"""
_CONFLICT = re.compile(r"^([a-z]+)(\d+)-([a-z]+)(\d+)\.png$")
_PLAIN = re.compile(r"^([a-z]+)(\d+)\.png$")


def classnames() -> list[str]:
    return list(CATEGORIES)


def direct_classnames() -> list[str]:
    """Class names for a direct 16-way zero-shot head (same order as the labels)."""
    return list(CATEGORIES)


def imagenet_indices() -> list[list[int]]:
    return [IMAGENET_INDICES[c] for c in CATEGORIES]


def aggregate_probabilities(probs):
    """[N, 1000] ImageNet probabilities -> [N, 16]: mean over each category's ImageNet classes."""
    if isinstance(probs, torch.Tensor):
        return torch.stack([probs[:, ix].mean(dim=1) for ix in imagenet_indices()], dim=1)
    probs = np.asarray(probs)
    return np.stack([probs[:, ix].mean(axis=1) for ix in imagenet_indices()], axis=1)


def decisions(probs) -> list[str]:
    """The 16-class decision (category name) for each row of [N, 1000] probabilities."""
    agg = aggregate_probabilities(probs)
    idx = agg.argmax(dim=1).tolist() if isinstance(agg, torch.Tensor) else agg.argmax(axis=1).tolist()
    return [CATEGORIES[i] for i in idx]


def _load(kind: str, root, transform, verify: bool) -> ImageListDataset:
    folder, _, alternates = KINDS[kind]
    root = resolve_root(root, folder, *alternates)
    layout = LAYOUT if kind == "cue-conflict" else LAYOUT_PLAIN
    require_dir(root, kind, layout, FETCHABLE)
    folders = subdirs(root)
    if not folders:
        raise missing(kind, root, layout, FETCHABLE, what=f"{kind} class folders")
    check_class_folders(root, folders, CATEGORIES, kind, layout, what="cue-conflict class")
    index = {c: i for i, c in enumerate(CATEGORIES)}
    paths, shapes, textures = [], [], []
    for f in folders:
        for p in list_images(f):
            m = (_CONFLICT if kind == "cue-conflict" else _PLAIN).match(p.name)
            if m is None or m.group(1) != f.name or (kind == "cue-conflict" and m.group(3) not in index):
                want = "<shape><i>-<texture><j>.png" if kind == "cue-conflict" else "<class><i>.png"
                raise ClipstudyError(f"{kind}: {p} does not follow the naming {want} with a shape matching its "
                                     f"folder.\nExpected layout:\n{layout}")
            paths.append(p)
            shapes.append(m.group(1))
            textures.append(m.group(3) if kind == "cue-conflict" else None)
    if not paths:
        raise missing(kind, root, layout, FETCHABLE, what=f"{kind} images")
    extra = {"kind": [kind] * len(paths), "shape": shapes, "texture": textures}
    if kind == "cue-conflict":
        extra["texture_label"] = [index[t] for t in textures]
        extra["conflict"] = [s != t for s, t in zip(shapes, textures)]
    return ImageListDataset(kind, root, paths, [index[s] for s in shapes], classnames(), transform, extra=extra,
                            imagenet_indices=imagenet_indices(), verify=verify)


def load(root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    """Cue-conflict stimuli: label = shape class; frame has shape, texture, texture_label, conflict."""
    return _load("cue-conflict", root, transform, verify)


def load_edges(root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    return _load("edges", root, transform, verify)


def load_silhouettes(root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    return _load("silhouettes", root, transform, verify)


def fetch(dest=None, kind: str = "cue-conflict", url: str | None = None) -> Path:
    """Fetch one kind of stimuli from the texture-vs-shape repository archive into `dest`
    (default `$CLIPSTUDY_DATA/<kind>`). The three kinds share one archive, downloaded once."""
    folder, member, _ = KINDS[kind]
    dest = resolve_root(dest, folder)
    return fetch_archive(url or URL, {member: dest}, sha256=SHA256, archive_name="texture-vs-shape.tar.gz")[0]
