"""The datasets a unit reads, opened the same way for planning (no transform) and for encoding.

Names: a registered family (`clipstudy datasets`; `wds/NAME` is CLIP_benchmark's webdataset of a family, read
as that family), `imagefolder:PATH`, `wds:PATH`, or a lab set `lab-NAME[:N]` (N
images; default the set's default size), rendered at the lab profile's image size. Dataset ids match
what the chapters use (the family's name; a lab set's cache stem, as `lab.evaluate` keys it), so
features the runner encodes are the ones the chapters read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import tasks

# what an axis reads, by dataset (registered families not listed take their registry task)
LAB_TASKS = dict(tasks.LAB_SETS)  # the lab's evaluation sets and their tasks (clipstudy.tasks)
TASKS = {"imagenet-x": "factors", "imagenet-3dcc": "3d"}


@dataclass
class Data:
    dataset: Any  # the engine-protocol dataset
    data_id: str  # dataset id in the feature key (+ the fingerprint for data read from disk)
    task: str  # classification | ood | retrieval | shape-bias | factors | 3d
    classnames: list[str]
    id_set: str  # the in-distribution set that calibration's temperature and OOD detection read
    frame: pd.DataFrame | None = None  # one row per image (key, label and the family's columns)
    texts: list[str] | None = None  # captions of a retrieval set
    image_to_texts: list[list[int]] | None = None
    class_index: Any = None  # columns of a 1000-way classifier head this dataset uses
    fingerprint: str = ""  # resolved root and files (size, mtime) of data read from disk


def split_lab(name: str) -> tuple[str, int | None]:
    """`lab-val:48` -> ("lab-val", 48); other names are returned whole."""
    if not name.startswith("lab-"):
        return name, None
    base, _, n = name.partition(":")
    if n and not n.isdigit():
        from ..errors import ClipstudyError

        raise ClipstudyError(f"{name}: a lab set's size follows a colon as a number, e.g. lab-val:600")
    return base, (int(n) if n else None)


def is_lab(name: str) -> bool:
    return split_lab(name)[0] in LAB_TASKS


def id_set_of(name: str) -> str:
    """The ID set of calibration's temperature and OOD detection: lab-val for lab sets, ImageNet val for the
    real ones (its webdataset form, wds/imagenet1k, for CLIP_benchmark's webdatasets)."""
    if is_lab(name):
        _, n = split_lab(name)
        return "lab-val" + (f":{n}" if n else "")
    if name.startswith(("wds/", "wds:")):
        return "wds/imagenet1k"
    return "imagenet"


def open_dataset(name: str, transform: Any = None, lab_profile: str = "lab", root: str | Path | None = None) -> Data:
    """Open `name` (see the module docstring), as the runner and `clipstudy eval` read it; `root` is a family's
    folder (default `$CLIPSTUDY_DATA/<name>`). The loaders' own errors say what is missing and where."""
    if is_lab(name):
        return _open_lab(name, transform, lab_profile)
    from .. import datasets
    from ..prompts import imagenet_classnames

    entry = datasets.get(name)
    ds = entry.load(root=root, transform=transform)
    task = TASKS.get(name, entry.task if not name.startswith(datasets.IMAGEFOLDER) else "classification")
    if task == "ood":
        names = imagenet_classnames()  # OOD images are scored with the ID (ImageNet) head
    elif task == "retrieval":
        names = []
    else:
        names = list(ds.classnames)
    fp = ds.fingerprint() if hasattr(ds, "fingerprint") else None
    frame = ds.frame.drop(columns=[c for c in ("path",) if c in ds.frame.columns]) if hasattr(ds, "frame") else None
    return Data(ds, name, task, names, id_set_of(name), frame,
                list(ds.texts) if task == "retrieval" else None,
                [list(t) for t in ds.image_to_texts] if task == "retrieval" else None,
                getattr(ds, "imagenet_indices", None), fp or "")


def _open_lab(name: str, transform: Any, lab_profile: str) -> Data:
    from ..lab import evaluate as lab_eval

    base, n = split_lab(name)
    ls = lab_eval.labset(base, n, lab_profile)
    native = transform is None or (getattr(transform, "size", None) == ls.images.shape[-1]
                                   and lab_eval._same_norm(transform))
    ds = ls.dataset(transform=None if native else transform)
    frame = ls.factors.copy()
    frame.insert(0, "key", [f"{ls.name}/{i:06d}" for i in range(len(ls))])
    texts, owner = ls.texts() if base == "lab-retrieval" else (None, None)
    return Data(ds, lab_eval.dataset_id(ls), LAB_TASKS[base], list(ls.classnames), id_set_of(name), frame,
                texts, owner)


def save_frame(frame: pd.DataFrame, path: Path) -> None:
    """The per-image frame as parquet, written atomically (object columns that parquet cannot type as str)."""
    from .. import store

    f = frame.reset_index(drop=True).copy()
    for c in f.columns:
        if f[c].dtype == object and not all(isinstance(v, str) for v in f[c]):
            f[c] = f[c].map(lambda v: v if v is None else str(v))
    store.atomic_write(Path(path), lambda fh: f.to_parquet(fh, index=False), "wb")


def load_frame(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if Path(path).exists() else None
