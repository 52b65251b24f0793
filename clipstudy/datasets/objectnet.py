"""ObjectNet (Barbu et al. 2019), restricted to the 113 classes that overlap ImageNet-1k.

The overlap comes from the release's own mapping files, read as shipped:
- `mappings/folder_to_objectnet_label.json`: image folder -> ObjectNet label;
- `mappings/objectnet_to_imagenet_1k.json`: ObjectNet label -> "imagenet name; other name";
- `mappings/imagenet_to_label_2012_v2`: ImageNet names, one a line, in ILSVRC2012-ID order;
- `mappings/pytorch_to_imagenet_2012_id.json`: PyTorch class index -> line of that file.

Labels run over the 113 overlapping classes in sorted-folder order. A class can map
to several ImageNet classes (`imagenet_indices[c]` is a list); `project_logits`
scores a class by the max over its ImageNet logits, as the usual evaluation does.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import MissingDataError, SchemaError
from .base import ImageListDataset, check_class_folders, list_images, missing, require_dir, resolve_root, subdirs

NAME = "objectnet"
FETCHABLE = False
HOW = ("ObjectNet is distributed under its own licence (no redistribution, no training): accept it at "
       "https://objectnet.dev/download.html, download objectnet-1.0.zip and unzip it (password from that page) "
       "so that <root>/objectnet-1.0/ exists.")
LAYOUT = """\
<root>/objectnet-1.0/images/<folder>/<hash>.png        (313 class folders, e.g. alarm_clock/)
<root>/objectnet-1.0/mappings/folder_to_objectnet_label.json
<root>/objectnet-1.0/mappings/objectnet_to_imagenet_1k.json
<root>/objectnet-1.0/mappings/imagenet_to_label_2012_v2
<root>/objectnet-1.0/mappings/pytorch_to_imagenet_2012_id.json
   (<root> may also be objectnet-1.0/ itself)"""
MAPPING_FILES = ("folder_to_objectnet_label.json", "objectnet_to_imagenet_1k.json", "imagenet_to_label_2012_v2",
                 "pytorch_to_imagenet_2012_id.json")
BORDER = 2  # ObjectNet images carry a thin border that the usual evaluation crops off


def _base(root: Path) -> Path:
    return root / "objectnet-1.0" if (root / "objectnet-1.0").is_dir() else root


def read_mappings(root) -> dict:
    """The overlap: sorted folders, their ObjectNet names and ImageNet (PyTorch) indices."""
    base = _base(Path(root))
    mdir = base / "mappings"
    for f in MAPPING_FILES:
        if not (mdir / f).is_file():
            raise MissingDataError(f"ObjectNet mapping file {f}", mdir, layout=LAYOUT, fetch=HOW)
    try:
        folder_to_label = json.loads((mdir / MAPPING_FILES[0]).read_text())
        label_to_folder = {v: k for k, v in folder_to_label.items()}
        on_to_in = json.loads((mdir / MAPPING_FILES[1]).read_text())
        in_names = [line.strip() for line in (mdir / MAPPING_FILES[2]).read_text().splitlines() if line.strip()]
        pt_to_2012 = json.loads((mdir / MAPPING_FILES[3]).read_text())
        line_to_pt = {int(v): int(k) for k, v in pt_to_2012.items()}
        name_to_pt = {name: line_to_pt[i] for i, name in enumerate(in_names) if i in line_to_pt}
        folder_to_idx = {}
        for on_label, names in on_to_in.items():
            if on_label not in label_to_folder:
                raise SchemaError(f"{mdir / MAPPING_FILES[1]}: ObjectNet label {on_label!r} has no folder in "
                                  f"{MAPPING_FILES[0]}")
            idx = []
            for n in names.split("; "):
                if n not in name_to_pt:
                    raise SchemaError(f"{mdir / MAPPING_FILES[1]}: ImageNet name {n!r} (for {on_label!r}) is not in "
                                      f"{MAPPING_FILES[2]} / {MAPPING_FILES[3]}")
                idx.append(name_to_pt[n])
            folder_to_idx[label_to_folder[on_label]] = sorted(idx)
    except SchemaError:
        raise
    except (ValueError, TypeError, AttributeError, RecursionError) as e:  # not JSON, not UTF-8, not a mapping
        raise SchemaError(f"ObjectNet's mapping files in {mdir} do not parse as the release's "
                          f"({type(e).__name__}: {str(e)[:120]}).\nExpected layout:\n{LAYOUT}") from e
    folders = sorted(folder_to_idx)
    return {"folders": folders, "names": [folder_to_label[f] for f in folders],
            "imagenet_indices": [folder_to_idx[f] for f in folders], "all_folders": set(folder_to_label)}


def classnames(root=None) -> list[str]:
    """The 113 overlapping ObjectNet class names (lower case), read from the mapping files."""
    return [n.lower() for n in read_mappings(resolve_root(root, NAME))["names"]]


class ObjectNetDataset(ImageListDataset):
    border = BORDER

    def prepare(self, img):
        """ObjectNet images carry a thin border; crop BORDER pixels as the usual evaluation does."""
        if self.border and min(img.size) > 2 * self.border:
            w, h = img.size
            img = img.crop((self.border, self.border, w - self.border, h - self.border))
        return img

    def project_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """[N, 1000] ImageNet logits -> [N, 113]: max over each class's ImageNet classes."""
        return project_logits(logits, self.imagenet_indices)


def project_logits(logits: torch.Tensor, imagenet_indices) -> torch.Tensor:
    logits = torch.as_tensor(logits)
    return torch.stack([logits[:, list(ix)].max(dim=1).values for ix in imagenet_indices], dim=1)


def load(root=None, transform=None, verify: bool = False, border: int = BORDER, **kw) -> ObjectNetDataset:
    root = resolve_root(root, NAME)
    require_dir(root, NAME, LAYOUT, FETCHABLE, HOW)
    base = _base(root)
    images = base / "images"
    if not images.is_dir():
        raise missing(NAME, root, LAYOUT, FETCHABLE, HOW, what="ObjectNet images/ folder")
    maps = read_mappings(base)
    folders = subdirs(images)
    check_class_folders(images, folders, maps["all_folders"], NAME, LAYOUT, what="ObjectNet folder")
    index = {f: i for i, f in enumerate(maps["folders"])}
    paths, labels = [], []
    for f in folders:
        if f.name in index:  # the other 200 ObjectNet classes have no ImageNet counterpart
            imgs = list_images(f)
            paths += imgs
            labels += [index[f.name]] * len(imgs)
    if not paths:
        raise missing(NAME, root, LAYOUT, FETCHABLE, HOW, what="images of the 113 ImageNet-overlapping classes")
    ds = ObjectNetDataset(NAME, images, paths, labels, [n.lower() for n in maps["names"]], transform,
                          imagenet_indices=maps["imagenet_indices"],
                          extra={"folder": [p.parent.name for p in paths]})
    ds.border = border
    if verify:
        ds.verify()
    return ds


def fetch(dest=None):
    raise MissingDataError("a public download of ObjectNet", "https://objectnet.dev", layout=LAYOUT, fetch=HOW)
