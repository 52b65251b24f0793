"""The real datasets, one module per on-disk format, behind one typed registry of names.

    >>> import clipstudy.datasets as D
    >>> D.names()                      # every dataset name
    >>> ds = D.load("imagenet-r")      # root defaults to $CLIPSTUDY_DATA/imagenet-r (always <data>/<name>)
    >>> D.fetch("imagenet-r")          # where a public download exists
    >>> D.get("objectnet").layout      # the expected on-disk layout

A registry row (`DatasetEntry`) names the format module and the family's fixed arguments; a module that holds
several families (synset_folders: ImageNet-Sketch, -R, -A; ood; retrieval) takes the family's name first.
Every dataset follows the engine protocol: item i is (image tensor or None, label, key[, note]).
`imagefolder:PATH` loads a user's own folder of class sub-folders. `wds/NAME` is CLIP_benchmark's webdataset
`clip-benchmark/wds_NAME` from the Hugging Face hub, read as its folder-form family (`wds.FAMILIES`); `wds:PATH`
is a local folder in that layout.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UnknownNameError
from ..registry import Registry
from ..tasks import TASKS


@dataclass(frozen=True)
class DatasetEntry:
    """A registry row: which module loads the dataset, with which fixed arguments."""

    name: str
    module: str
    loader: str = "load"
    fetcher: str | None = "fetch"
    args: tuple = ()  # leading positional arguments (e.g. the OOD set's name)
    kwargs: dict = field(default_factory=dict)
    fetch_kwargs: dict = field(default_factory=dict)
    fetchable: bool = True
    task: str = "classification"  # one of TASKS
    description: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UnknownNameError("dataset task", self.task, TASKS)

    @property
    def mod(self):
        return importlib.import_module(f"{__name__}.{self.module}")

    @property
    def layout(self) -> str:
        mod = self.mod
        if hasattr(mod, "SOURCES") and self.name in getattr(mod, "SOURCES"):
            return mod.SOURCES[self.name][2]
        if hasattr(mod, "SPECS") and self.name in getattr(mod, "SPECS"):
            return mod.SPECS[self.name]["layout"]
        if self.loader != "load" and hasattr(mod, "LAYOUT_PLAIN"):
            return mod.LAYOUT_PLAIN
        return mod.LAYOUT

    def classnames(self) -> list[str]:
        fn = self.mod.classnames
        return fn(*self.args) if self.args else fn()

    def load(self, root: str | Path | None = None, transform=None, **kw: Any):
        return getattr(self.mod, self.loader)(*self.args, root=root, transform=transform, **{**self.kwargs, **kw})

    def fetch(self, dest: str | Path | None = None, **kw: Any):
        return getattr(self.mod, self.fetcher or "fetch")(*self.args, dest=dest, **{**self.fetch_kwargs, **kw})


_E = DatasetEntry
REGISTRY: Registry[DatasetEntry] = Registry("dataset", hint="`clipstudy datasets` lists them with their layouts; your "
                                                       "own class folders load as imagefolder:PATH.")
REGISTRY.update(((e.name, e) for e in [
    _E("imagenet", "imagenet", fetchable=False, description="ImageNet-1k val (50k, synset folders)"),
    _E("imagenet-v2", "imagenet_v2", description="ImageNetV2 matched-frequency (10k)"),
    _E("imagenet-sketch", "synset_folders", args=("imagenet-sketch",), description="ImageNet-Sketch (50,889)"),
    _E("imagenet-r", "synset_folders", args=("imagenet-r",), description="ImageNet-R, 200 classes (30k)"),
    _E("imagenet-a", "synset_folders", args=("imagenet-a",), description="ImageNet-A, 200 classes (7.5k)"),
    _E("objectnet", "objectnet", fetchable=False, description="ObjectNet, 113 ImageNet-overlapping classes"),
    _E("imagenet-x", "imagenet_x", fetchable=False, description="ImageNet val + ImageNet-X factor annotations"),
    _E("cue-conflict", "cue_conflict", task="shape-bias", description="Geirhos cue-conflict stimuli (16 classes)"),
    _E("edges", "cue_conflict", loader="load_edges", fetch_kwargs={"kind": "edges"}, task="shape-bias",
       description="edge drawings (16 classes)"),
    _E("silhouettes", "cue_conflict", loader="load_silhouettes", fetch_kwargs={"kind": "silhouettes"},
       task="shape-bias",
       description="filled silhouettes (16 classes)"),
    *[_E(n, "ood", args=(n,), task="ood", description=f"OOD set {n}")
      for n in ("inaturalist", "sun", "places", "textures", "ninco", "imagenet-o")],
    _E("coco-5k", "retrieval", args=("coco-5k",), task="retrieval", description="COCO Karpathy test, 5k images"),
    _E("flickr30k-1k", "retrieval", args=("flickr30k-1k",), task="retrieval",
       description="Flickr30k Karpathy test, 1k images (images: manual download; captions fetched)"),
    _E("imagenet-3dcc", "imagenet_3dcc", description="ImageNet-3DCC, 12 corruptions x 5 severities"),
    _E("imagenet-d", "imagenet_d", fetchable=False, description="ImageNet-D background/texture/material"),
]), replace=False)


@dataclass(frozen=True)
class PublishedSize:
    """A family's size as its authors publish it: what `clipstudy run --estimate` prices a grid with, so planning
    needs no file on disk. `head` names the class list a zero-shot head is built over (sets that share it share one
    head per model, as the engine's head cache does); OOD sets are scored with the ImageNet head."""

    images: int
    classes: int = 0  # size of the zero-shot head (0: none, caption-only sets)
    head: str = ""
    captions: int = 0  # retrieval: captions to encode
    source: str = ""


_P = PublishedSize
_IN = dict(classes=1000, head="imagenet-1k")
PUBLISHED: dict[str, PublishedSize] = {
    # ILSVRC2012 validation set: 50 images x 1000 classes (Russakovsky et al. 2015)
    "imagenet": _P(50_000, **_IN, source="ILSVRC2012 val, Russakovsky et al. 2015"),
    # ImageNetV2 matched-frequency: 10 images x 1000 classes (Recht et al. 2019)
    "imagenet-v2": _P(10_000, **_IN, source="ImageNetV2 matched-frequency, Recht et al. 2019"),
    # ImageNet-Sketch: 50,889 images, ~50 per class (Wang et al. 2019, the dataset's README)
    "imagenet-sketch": _P(50_889, **_IN, source="Wang et al. 2019"),
    # ImageNet-R: 30,000 renditions of 200 classes (Hendrycks et al. 2021, "The Many Faces of Robustness")
    "imagenet-r": _P(30_000, 200, "imagenet-r-200", source="Hendrycks et al. 2021a"),
    # ImageNet-A: 7,500 natural adversarial examples of 200 classes (Hendrycks et al. 2021, CVPR)
    "imagenet-a": _P(7_500, 200, "imagenet-a-200", source="Hendrycks et al. 2021b"),
    # ObjectNet restricted to the 113 classes that overlap ImageNet-1k (what `objectnet` loads). 18,574 is the
    # figure of the overlap subset as the robustness literature uses it; not recounted here.
    # The full release is 50,000 images of 313 classes (Barbu et al. 2019).
    "objectnet": _P(18_574, 113, "objectnet-113", source="ObjectNet 1.0 overlap (113 classes), issue 25"),
    # ImageNet-X annotates every ImageNet val image (Idrissi et al. 2023): the 50,000 val images again
    "imagenet-x": _P(50_000, **_IN, source="ImageNet val via ImageNet-X, Idrissi et al. 2023"),
    # Geirhos et al. 2019 stimuli (rgeirhos/texture-vs-shape): 1,280 cue-conflict, 160 edges, 160 silhouettes
    "cue-conflict": _P(1_280, 16, "cue-16", source="Geirhos et al. 2019"),
    "edges": _P(160, 16, "cue-16", source="Geirhos et al. 2019"),
    "silhouettes": _P(160, 16, "cue-16", source="Geirhos et al. 2019"),
    # OOD sets as in MCM (Ming et al. 2022), from MOS (Huang & Li 2021): iNaturalist, SUN, Places 10,000 each,
    # Textures = all of DTD (Cimpoi et al. 2014), 5,640
    "inaturalist": _P(10_000, **_IN, source="MOS/MCM subset, Huang & Li 2021"),
    "sun": _P(10_000, **_IN, source="MOS/MCM subset, Huang & Li 2021"),
    "places": _P(10_000, **_IN, source="MOS/MCM subset, Huang & Li 2021"),
    "textures": _P(5_640, **_IN, source="DTD, Cimpoi et al. 2014"),
    # NINCO OOD classes: 5,879 images of 64 classes (Bitterwolf et al. 2023)
    "ninco": _P(5_879, **_IN, source="NINCO, Bitterwolf et al. 2023"),
    # ImageNet-O: 2,000 images of 200 classes outside ImageNet-1k (Hendrycks et al. 2021, CVPR)
    "imagenet-o": _P(2_000, **_IN, source="Hendrycks et al. 2021b"),
    # Karpathy test splits (Karpathy & Fei-Fei 2015): COCO 5,000 images / 25,010 captions, Flickr30k 1,000 / 5,000
    "coco-5k": _P(5_000, captions=25_010, source="Karpathy split, COCO test"),
    "flickr30k-1k": _P(1_000, captions=5_000, source="Karpathy split, Flickr30k test"),
    # ImageNet-3DCC: 12 corruptions x 5 severities of the 50,000 ImageNet val images (Kar et al. 2022)
    "imagenet-3dcc": _P(12 * 5 * 50_000, **_IN, source="Kar et al. 2022: 12 x 5 x ImageNet val"),
    # ImageNet-D: 4,835 images of 113 classes (background 3,764, texture 498, material 573; Zhang et al. 2024)
    "imagenet-d": _P(4_835, 113, "imagenet-d-113", source="Zhang et al. 2024"),
}


def published_size(name: str) -> PublishedSize:
    """The published size of a registered family (`PUBLISHED`); other names (imagefolder:, lab sets) have none."""
    if name not in PUBLISHED:
        from ..errors import ClipstudyError

        raise ClipstudyError(f"{name}: no published size (`clipstudy.datasets.PUBLISHED` lists the families that "
                             "have one; a folder of your own is counted on disk: plan without --estimate)")
    return PUBLISHED[name]


def _wds_entry(name: str) -> DatasetEntry:
    from . import wds

    fam = wds.check_name(name)
    local = name.startswith(wds.LOCAL)
    desc = (f"{fam.description}; read as {fam.family}" if fam is not None else "your own webdataset folder")
    return DatasetEntry(name, "wds", args=(name,), task=wds.task_of(name), fetchable=not local,
                        fetcher=None if local else "fetch",
                        description=(f"CLIP_benchmark's wds: {desc}" if not local else f"wds folder: {desc}"))


def _wds_names() -> list[str]:
    from . import wds

    return wds.names()


REGISTRY.update(((n, _wds_entry(n)) for n in _wds_names()), replace=False)
# a hub webdataset is its family's published set in another format: priced as that family
def _wds_published() -> dict:
    from . import wds

    return {n: PUBLISHED[wds.family_of(n)] for n in _wds_names() if wds.family_of(n) in PUBLISHED}


PUBLISHED.update(_wds_published())


def names(task: str | None = None) -> list[str]:
    """Registered dataset names (optionally only those of one task)."""
    return [n for n, e in REGISTRY.items() if task is None or e.task == task]


IMAGEFOLDER = "imagefolder:"
WDS, WDS_LOCAL = "wds/", "wds:"  # CLIP_benchmark's webdatasets: from the hub, or a local folder in that layout


def get(name: str) -> DatasetEntry:
    """A registered family, or `imagefolder:PATH` (a folder of class sub-folders)."""
    if name.startswith(IMAGEFOLDER):
        return DatasetEntry(name, "imagefolder", args=(name[len(IMAGEFOLDER):],), fetcher=None, fetchable=False,
                            description="your own class-folder dataset")
    if name.startswith(WDS_LOCAL) or (name.startswith(WDS) and name not in REGISTRY):
        return _wds_entry(name)  # wds:PATH, wds/NAME@REV
    return REGISTRY.get(name)


def family_of(name: str) -> str:
    """The folder-form family a dataset name stands for: `wds/imagenetv2` -> `imagenet-v2`; other names are
    their own family. Chapters read a wds dataset's results as its family's."""
    from . import wds

    return wds.family_of(name)


def load(name: str, root: str | Path | None = None, transform=None, **kw: Any):
    """Load a dataset by name (root defaults to `$CLIPSTUDY_DATA/<name>`)."""
    return get(name).load(root=root, transform=transform, **kw)


def fetch(name: str, dest: str | Path | None = None, **kw: Any):
    """Download and unpack a dataset where a public URL exists; otherwise say how to obtain it."""
    return get(name).fetch(dest=dest, **kw)


def frame(layouts: bool = False):
    """The registry as a table: name, task, fetchable, description (and the on-disk layout)."""
    import pandas as pd

    rows = [dict(name=e.name, task=e.task, fetchable=e.fetchable, module=e.module, description=e.description,
                 **({"layout": e.layout} if layouts else {})) for e in REGISTRY.values()]
    return pd.DataFrame(rows)


__all__ = ["DatasetEntry", "PUBLISHED", "PublishedSize", "REGISTRY", "published_size", "names", "get", "load",
           "fetch", "frame", "family_of"]
