"""Out-of-distribution sets for ImageNet as the ID set: the MOS/MCM subsets of iNaturalist,
SUN, Places and Textures (DTD), plus NINCO and ImageNet-O.

These are scored, not classified: every image has label -1 (no ImageNet class);
`frame["group"]` keeps the sub-folder (e.g. the DTD texture or NINCO class).
"""
from __future__ import annotations

from pathlib import Path

from .base import ImageListDataset, fetch_archive, list_images, missing, require_dir, resolve_root

OOD_LABEL = -1
MOS = "http://pages.cs.wisc.edu/~huangrui/imagenet_ood_dataset/"  # MOS (Huang & Li 2021) subsets, used by MCM
# name -> (archive URL, folder inside the archive, layout). No checksums are published for these: sha256=None.
SOURCES: dict[str, tuple[str, str, str]] = {
    "inaturalist": (MOS + "iNaturalist.tar.gz", "iNaturalist",
                    "<root>/iNaturalist/images/<hash>.jpg   (10,000 images of 110 plant classes not in ImageNet)"),
    "sun": (MOS + "SUN.tar.gz", "SUN", "<root>/SUN/images/sun_<id>.jpg   (10,000 images)"),
    "places": (MOS + "Places.tar.gz", "Places", "<root>/Places/images/<b>_<id>.jpg   (10,000 images)"),
    "textures": ("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz", "dtd",
                 "<root>/dtd/images/<texture>/<texture>_<id>.jpg   (5,640 images, 47 textures)"),
    "ninco": ("https://zenodo.org/record/8013288/files/NINCO_all.tar.gz", "NINCO",
              "<root>/NINCO/NINCO_OOD_classes/<class>/<file>.jpg   (5,879 images, 64 classes; "
              "NINCO_OOD_unit_tests/ and NINCO_popular_datasets_subsamples/ are not used)"),
    "imagenet-o": ("https://people.eecs.berkeley.edu/~hendrycks/imagenet-o.tar", "imagenet-o",
                   "<root>/imagenet-o/<wnid>/<file>.jpg   (2,000 images in 200 synset folders)"),
}
SHA256: dict[str, str | None] = {k: None for k in SOURCES}
# the part of each release that holds the OOD images
IMAGE_DIRS = {"inaturalist": "images", "sun": "images", "places": "images", "textures": "images",
              "ninco": "NINCO_OOD_classes", "imagenet-o": ""}
NAMES = tuple(SOURCES)
NAME = "ood"
FETCHABLE = True
LAYOUT = "\n".join(f"{k}: {v[2]}   (<root> may also be the inner folder)" for k, v in SOURCES.items())


def classnames(name: str = "inaturalist") -> list[str]:
    return []  # OOD sets carry no classes of their own


def load(name: str, root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    """All images of one OOD set, label -1; key = path under the set's image folder."""
    if name not in SOURCES:
        from ..errors import UnknownNameError

        raise UnknownNameError("OOD dataset", name, list(SOURCES))
    _, inner, layout = SOURCES[name]
    root = resolve_root(root, name)
    require_dir(root, name, layout, FETCHABLE)
    base = root / inner if (root / inner).is_dir() else root
    images = base / IMAGE_DIRS[name] if IMAGE_DIRS[name] else base
    if not images.is_dir():
        raise missing(name, root, layout, FETCHABLE, what=f"{name} {IMAGE_DIRS[name]}/ folder")
    paths = list_images(images, recursive=True)
    if not paths:
        raise missing(name, root, layout, FETCHABLE, what=f"{name} images (the folder exists but holds none)")
    groups = [p.parent.relative_to(images).as_posix() if p.parent != images else "" for p in paths]
    return ImageListDataset(name, images, paths, [OOD_LABEL] * len(paths), [], transform,
                            extra={"group": groups}, verify=verify)


def fetch(name: str, dest=None, url: str | None = None) -> Path:
    u, inner, _ = SOURCES[name]
    dest = resolve_root(dest, name)
    return fetch_archive(url or u, {inner: dest / inner}, sha256=SHA256[name])[0]
