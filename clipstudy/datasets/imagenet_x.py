"""ImageNet-X (Idrissi et al. 2023): 16 human-annotated factors of variation per ImageNet val image.

The annotations come from the `imagenet-x` package (as its own `load_annotations`
returns them); the images are the user's ImageNet val, joined by file name. Only
annotated images are kept; `missing_images` lists annotated files not found on disk.
"""
from __future__ import annotations

import functools

from ..errors import ClipstudyError
from . import imagenet
from .base import ImageListDataset, resolve_root

NAME = "imagenet-x"
FETCHABLE = False  # the annotations ship with the `imagenet-x` package; the images are ImageNet val
HOW = "The images are ImageNet val (see `clipstudy fetch imagenet` for how to get them); " + imagenet.HOW
LAYOUT = "ImageNet val, as for `imagenet`:\n" + imagenet.LAYOUT


def factors() -> list[str]:
    from imagenet_x import FACTORS

    return list(FACTORS)


def classnames() -> list[str]:
    return imagenet.classnames()


def annotations(which_factor: str = "top", filter_prototypes: bool = True):
    """The val annotations: one row per file_name, with class, the 16 factors and metaclass."""
    return _annotations(which_factor, filter_prototypes).copy()


@functools.lru_cache(maxsize=4)
def _annotations(which_factor: str, filter_prototypes: bool):
    from imagenet_x import load_annotations  # reads a 17 MB JSON-lines file: once per process

    return load_annotations(which_factor=which_factor, partition="val", filter_prototypes=filter_prototypes)


def load(root=None, transform=None, which_factor: str = "top", filter_prototypes: bool = True,
         verify: bool = False, **kw) -> ImageListDataset:
    """ImageNet val restricted to annotated images; `frame` carries the factor columns."""
    root = resolve_root(root, imagenet.NAME)
    val = imagenet.load(root, transform=transform)
    ann = annotations(which_factor, filter_prototypes).set_index("file_name")
    on_disk = val.frame["file_name"]
    keep = on_disk.isin(ann.index).to_numpy()
    if not keep.any():
        raise ClipstudyError(f"{NAME}: none of the {len(on_disk)} images under {val.root} has an ImageNet-X "
                             f"annotation; they must be ILSVRC2012 val files named ILSVRC2012_val_<8 digits>.JPEG.")
    paths = [p for p, k in zip(val.paths, keep) if k]
    labels = [y for y, k in zip(val.labels, keep) if k]
    rows = ann.loc[on_disk[keep]]
    wrong = (rows["class"].to_numpy() != labels)
    if wrong.any():
        bad = list(rows.index[wrong][:5])
        raise ClipstudyError(f"{NAME}: {int(wrong.sum())} image(s) sit in a different class folder than their "
                             f"ImageNet label, e.g. {bad}; the val folder is mis-sorted.")
    extra = {"file_name": list(rows.index), "metaclass": list(rows["metaclass"])}
    extra.update({f: rows[f].astype(int).to_list() for f in factors()})
    ds = ImageListDataset(NAME, val.root, paths, labels, classnames(), transform, extra=extra, verify=verify)
    ds.missing_images = sorted(set(ann.index) - set(on_disk))
    return ds


def fetch(dest=None):
    return imagenet.fetch(dest)
