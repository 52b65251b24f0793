"""One on-disk format: ImageNet classes as one folder per synset, `<root>/<member>/<wnid>/<image>`.

ImageNet-Sketch (Wang et al. 2019: all 1000 classes), ImageNet-R (renditions) and ImageNet-A (natural
adversarial examples; Hendrycks et al. 2021: 200 classes each) share it. For a 200-class set, labels run
over its classes in sorted-synset order and `imagenet_indices` maps them into the 1000-class head, so a
model is scored on the matching subset of its head (as the releases' own evaluation does). A new family
in this format is one entry in SOURCES (and SYNSETS for a class subset).
"""
from __future__ import annotations

from pathlib import Path

from . import imagenet
from .base import ImageListDataset, class_folder_dataset, fetch_archive, resolve_root

NAME = "synset-folders"
FETCHABLE = True
# name -> (archive URL, folder inside the archive, layout). No checksums are published: sha256=None.
SOURCES: dict[str, tuple[str, str, str]] = {
    # The authors' copy of ImageNet-Sketch is on Google Drive (no direct URL); this is the Hugging Face mirror of
    # the same zip (dataset `songweig/imagenet_sketch`, file data/ImageNet-Sketch.zip).
    "imagenet-sketch": ("https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",
                        "sketch", "<root>/sketch/<wnid>/<n>.JPEG   (1000 synset folders, ~50 sketches each; <root> "
                                  "may be sketch/ itself)"),
    "imagenet-r": ("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar", "imagenet-r",
                   "<root>/imagenet-r/<wnid>/<style>_<n>.jpg   (200 synset folders, 30,000 images; <root> may be "
                   "imagenet-r/ itself)"),
    "imagenet-a": ("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar", "imagenet-a",
                   "<root>/imagenet-a/<wnid>/<n>.jpg   (200 synset folders, 7,500 images; <root> may be imagenet-a/ "
                   "itself)"),
}
SHA256: dict[str, str | None] = {k: None for k in SOURCES}
SYNSETS: dict[str, str] = {"imagenet-r": "imagenet_r_synsets.txt",  # a class subset: its synsets, as shipped with timm
                           "imagenet-a": "imagenet_a_synsets.txt"}
LAYOUT = "\n".join(f"{k}: {v[2]}" for k, v in SOURCES.items())


def _check(name: str) -> None:
    if name not in SOURCES:
        from ..errors import UnknownNameError

        raise UnknownNameError("synset-folder dataset", name, list(SOURCES))


def wnids(name: str) -> list[str]:
    """The synsets of `name`, sorted (all 1000 for a full-class set)."""
    _check(name)
    return sorted(imagenet._timm_info(SYNSETS[name])) if name in SYNSETS else imagenet.wnids()


def imagenet_indices(name: str):
    """Columns of the 1000-class head that a class subset uses (None for a full-class set)."""
    return imagenet.subset_indices(wnids(name)) if name in SYNSETS else None


def classnames(name: str) -> list[str]:
    names = imagenet.classnames()
    idx = imagenet_indices(name)
    return names if idx is None else [names[i] for i in idx]


def load(name: str, root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    _check(name)
    _, member, layout = SOURCES[name]
    root = resolve_root(root, name)
    if (root / member).is_dir():
        root = root / member
    sub = name in SYNSETS
    return class_folder_dataset(name, root, wnids(name), classnames(name), layout, FETCHABLE, transform,
                                verify=verify, **(dict(what=f"{name} synset (one of its 200)",
                                                       imagenet_indices=imagenet_indices(name)) if sub else {}))


def fetch(name: str, dest=None, url: str | None = None) -> Path:
    _check(name)
    u, member, _ = SOURCES[name]
    dest = resolve_root(dest, name)
    return fetch_archive(url or u, {member: dest / member}, sha256=SHA256[name])[0]
