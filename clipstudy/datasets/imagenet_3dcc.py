"""ImageNet-3DCC (Kar et al. 2022): 12 depth-aware corruptions of ImageNet val at 5 severities."""
from __future__ import annotations

from pathlib import Path

from ..errors import ClipstudyError
from . import imagenet
from .base import (ImageListDataset, check_class_folders, fetch_archive, list_images, missing, require_dir,
                   resolve_root, subdirs)

NAME = "imagenet-3dcc"
FETCHABLE = True
CORRUPTIONS = ("near_focus", "far_focus", "fog_3d", "flash", "color_quant", "low_light", "xy_motion_blur",
               "z_motion_blur", "iso_noise", "bit_error", "h265_abr", "h265_crf")
SEVERITIES = (1, 2, 3, 4, 5)
URL = "https://datasets.epfl.ch/3dcc/imagenet_3dcc/{corruption}.tar.gz"  # as in the authors' download script
SHA256: dict[str, str | None] = {c: None for c in CORRUPTIONS}  # none published
LAYOUT = """\
<root>/<corruption>/<severity 1..5>/<wnid>/ILSVRC2012_val_<8 digits>.JPEG
   corruptions: """ + ", ".join(CORRUPTIONS)


def classnames() -> list[str]:
    return imagenet.classnames()


def load(root=None, transform=None, corruption: str | None = None, severity: int | None = None,
         verify: bool = False, **kw) -> ImageListDataset:
    """All (or one corruption / severity of the) present corruptions; frame has corruption, severity."""
    root = resolve_root(root, NAME)
    require_dir(root, NAME, LAYOUT, FETCHABLE)
    present = subdirs(root)
    check_class_folders(root, present, CORRUPTIONS, NAME, LAYOUT, what="3DCC corruption")
    if corruption is not None:
        if corruption not in CORRUPTIONS:
            from ..errors import UnknownNameError

            raise UnknownNameError("3DCC corruption", corruption, list(CORRUPTIONS))
        present = [p for p in present if p.name == corruption]
        if not present:
            raise missing(NAME, root / corruption, LAYOUT, FETCHABLE, what=f"{NAME} corruption {corruption}")
    if not present:
        raise missing(NAME, root, LAYOUT, FETCHABLE, what=f"{NAME} corruption folders")
    index = imagenet.wnid_to_index()
    paths, labels, corr, sev = [], [], [], []
    for c in present:
        levels = subdirs(c)
        check_class_folders(c, levels, [str(s) for s in SEVERITIES], NAME, LAYOUT, what="severity (1..5)")
        for lv in levels:
            if severity is not None and int(lv.name) != int(severity):
                continue
            folders = subdirs(lv)
            check_class_folders(lv, folders, index, NAME, LAYOUT)
            for f in folders:
                imgs = list_images(f)
                paths += imgs
                labels += [index[f.name]] * len(imgs)
                corr += [c.name] * len(imgs)
                sev += [int(lv.name)] * len(imgs)
    if not paths:
        raise missing(NAME, root, LAYOUT, FETCHABLE, what=f"{NAME} images"
                      + (f" for severity {severity}" if severity is not None else ""))
    return ImageListDataset(NAME, root, paths, labels, classnames(), transform,
                            extra={"corruption": corr, "severity": sev}, verify=verify)


def fetch(dest=None, corruptions=CORRUPTIONS, url: str | None = None) -> Path:
    """One archive per corruption (`url` may hold `{corruption}`); already present ones are kept."""
    dest = resolve_root(dest, NAME)
    for c in corruptions:
        if c not in CORRUPTIONS:
            raise ClipstudyError(f"unknown 3DCC corruption {c!r}; valid: {', '.join(CORRUPTIONS)}")
        fetch_archive((url or URL).format(corruption=c), {c: dest / c}, sha256=SHA256[c])
    return dest
