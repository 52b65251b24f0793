"""ImageNet-A (Hendrycks et al. 2021): natural adversarial examples of 200 ImageNet classes.

Labels run over the 200 classes in sorted-synset order; `imagenet_indices` maps
them into the 1000-class head, so a model is scored on the matching subset of its
head (as the release's own evaluation does).
"""
from __future__ import annotations

from . import imagenet
from .base import ImageListDataset, class_folder_dataset, fetch_archive, resolve_root

NAME = "imagenet-a"
FETCHABLE = True
URL = "https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar"
SHA256: str | None = None  # not published by the authors
MEMBER = "imagenet-a"
SYNSET_FILE = "imagenet_a_synsets.txt"  # the 200 synsets, as shipped with timm
LAYOUT = """\
<root>/imagenet-a/<wnid>/<n>.jpg   (200 synset folders, 7,500 images; <root> may be imagenet-a/ itself)"""


def wnids() -> list[str]:
    return sorted(imagenet._timm_info(SYNSET_FILE))


def imagenet_indices():
    return imagenet.subset_indices(wnids())


def classnames() -> list[str]:
    names = imagenet.classnames()
    return [names[i] for i in imagenet_indices()]


def load(root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    root = resolve_root(root, NAME)
    if (root / MEMBER).is_dir():
        root = root / MEMBER
    return class_folder_dataset(NAME, root, wnids(), classnames(), LAYOUT, FETCHABLE, transform,
                                what=f"{NAME} synset (one of its 200)", verify=verify,
                                imagenet_indices=imagenet_indices())


def fetch(dest=None, url: str | None = None):
    dest = resolve_root(dest, NAME)
    return fetch_archive(url or URL, {MEMBER: dest / MEMBER}, sha256=SHA256)[0]
