"""ImageNet-1k validation set (ILSVRC2012), in synset folders or flat.

Class order is the standard sorted-WordNet-ID order (timm's `imagenet_synsets.txt`),
class names are OpenAI's cleaned names from `open_clip.zero_shot_metadata`.
There is no public download: the images need an image-net.org account.
"""
from __future__ import annotations

import functools
import pkgutil
from pathlib import Path

import numpy as np

from ..errors import ClipstudyError
from .base import ImageListDataset, class_folder_dataset, list_images, missing, require_dir, resolve_root, subdirs

NAME = "imagenet"
FETCHABLE = False
HOW = ("ImageNet has no public download. Register at https://image-net.org, download "
       "ILSVRC2012_img_val.tar, unpack it into <root>/val and sort it into synset folders "
       "(e.g. with the widely used valprep.sh); a flat folder of ILSVRC2012_val_*.JPEG also works.")
LAYOUT = """\
<root>/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG   (1000 synset folders, e.g. n01440764/, 50 images each)
   or <root>/val/ILSVRC2012_val_<8 digits>.JPEG    (flat; labels from the imagenet-x package's filename_label.csv)
   (<root> may also be the val folder itself)"""


@functools.lru_cache(maxsize=None)
def _timm_info(fname: str) -> list[str]:
    data = pkgutil.get_data("timm.data", f"_info/{fname}")
    return data.decode("utf-8").split()


def wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet IDs in class-index order."""
    return list(_timm_info("imagenet_synsets.txt"))


@functools.lru_cache(maxsize=None)
def wnid_to_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(wnids())}


def classnames() -> list[str]:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


def subset_indices(subset_wnids) -> np.ndarray:
    """Indices into the 1000-class head of the given WordNet IDs (in the given order)."""
    idx = wnid_to_index()
    return np.array([idx[w] for w in subset_wnids], dtype=int)


@functools.lru_cache(maxsize=1)
def val_labels() -> dict[str, int]:
    """File name -> class index of all 50,000 val images (shipped with the imagenet-x package)."""
    import pandas as pd
    from imagenet_x.utils import get_annotation_path

    df = pd.read_csv(get_annotation_path() / "filename_label.csv")
    return dict(zip(df.file_name, df.label.astype(int)))


def val_folder(root: Path) -> Path:
    return root / "val" if (root / "val").is_dir() else root


def load(root=None, transform=None, verify: bool = False, **kw) -> ImageListDataset:
    """ImageNet val: label = class index, key = `<wnid>/<file>` (or `<file>` when flat)."""
    root = resolve_root(root, NAME)
    require_dir(root, NAME, LAYOUT, FETCHABLE, HOW)
    folder = val_folder(root)
    if subdirs(folder):
        return _synset(folder, transform, verify)
    files = list_images(folder)
    if not files:
        raise missing(NAME, root, LAYOUT, FETCHABLE, HOW, what="ImageNet val images")
    labels = val_labels()
    unknown = [p.name for p in files if p.name not in labels]
    if unknown:
        raise ClipstudyError(f"{NAME}: {len(unknown)} image(s) in {folder} are neither in synset folders nor "
                             f"ILSVRC2012 val file names, e.g. {', '.join(unknown[:3])}.\nExpected layout:\n{LAYOUT}")
    return ImageListDataset(NAME, folder, files, [labels[p.name] for p in files], classnames(), transform,
                            extra={"file_name": [p.name for p in files]}, verify=verify)


def _synset(folder: Path, transform, verify: bool) -> ImageListDataset:
    ds = class_folder_dataset(NAME, folder, wnids(), classnames(), LAYOUT, FETCHABLE, transform, HOW, verify=verify)
    ds.frame["file_name"] = [p.name for p in ds.paths]
    return ds


def fetch(dest=None):
    from ..errors import MissingDataError

    raise MissingDataError("a public download of ImageNet val", "image-net.org", layout=LAYOUT, fetch=HOW)
