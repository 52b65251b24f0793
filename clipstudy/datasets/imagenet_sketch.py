"""ImageNet-Sketch (Wang et al. 2019): 50,889 sketches of the 1000 ImageNet classes, in synset folders."""
from __future__ import annotations

from . import imagenet
from .base import ImageListDataset, class_folder_dataset, fetch_archive, resolve_root

NAME = "imagenet-sketch"
FETCHABLE = True
# The authors' copy is on Google Drive (no direct URL); this is the Hugging Face mirror of the same zip
# (dataset `songweig/imagenet_sketch`, file data/ImageNet-Sketch.zip). No checksum is published: sha256=None.
URL = "https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip"
SHA256: str | None = None
MEMBER = "sketch"
LAYOUT = """\
<root>/sketch/<wnid>/<n>.JPEG   (1000 synset folders, ~50 sketches each; <root> may be sketch/ itself)"""


def classnames() -> list[str]:
    return imagenet.classnames()


def load(root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    root = resolve_root(root, NAME)
    if (root / MEMBER).is_dir():
        root = root / MEMBER
    return class_folder_dataset(NAME, root, imagenet.wnids(), classnames(), LAYOUT, FETCHABLE, transform,
                                verify=verify)


def fetch(dest=None, url: str | None = None):
    dest = resolve_root(dest, NAME)
    return fetch_archive(url or URL, {MEMBER: dest / MEMBER}, sha256=SHA256)[0]
