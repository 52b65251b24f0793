"""`imagefolder:PATH`: a user's own class-folder dataset, `PATH/<class>/<image>`.

Class names for the prompts come from the folder names (underscores read as spaces), or from
`PATH/classnames.txt` when present: one line per class folder, either `folder<TAB>class name`
or just the class name, in the sorted order of the folders.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ClipstudyError
from .base import IMAGE_EXTENSIONS as IMAGE_SUFFIXES
from .base import ImageListDataset, list_images, require_dir, require_images, subdirs

NAME = "imagefolder"
PREFIX = "imagefolder:"
FETCHABLE = False
LAYOUT = """  PATH/
    <class name>/<image>.jpg|png|...      one folder per class (any names; underscores read as spaces)
    classnames.txt                        optional: one line per class folder, in sorted folder order,
                                          `folder<TAB>class name` or just `class name`"""
HOW = "imagefolder:PATH is your own folder of class sub-folders; point PATH at it."


def read_classnames(file: Path, folders: list[str]) -> list[str]:
    """Class names from `file` for the sorted class `folders` (see the module docstring)."""
    lines = [ln.rstrip("\n") for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if lines and all("\t" in ln for ln in lines):
        mapping = dict(ln.split("\t", 1) for ln in lines)
        missing = [f for f in folders if f not in mapping]
        if missing:
            raise ClipstudyError(f"{file} names no class for folder(s) {', '.join(missing[:8])}")
        return [mapping[f].strip() for f in folders]
    if len(lines) != len(folders):
        raise ClipstudyError(f"{file} has {len(lines)} class names for {len(folders)} class folders; give one "
                             "line per folder in sorted folder order, or `folder<TAB>class name` lines")
    return [ln.strip() for ln in lines]


def _check_links(folder: Path, classes: list[Path]) -> None:
    """A class folder that is a link back to the dataset (its root or a folder above it) or onto another class
    folder would list the same images twice, under two labels: refused, with the link named."""
    root = folder.resolve()
    real: dict[Path, Path] = {}
    for c in classes:
        r = c.resolve()
        if r == root or r in root.parents:
            raise ClipstudyError(f"{folder}: the class folder {c.name!r} links to {r}, which is the dataset or "
                                 "holds its class folders; its images would be counted twice. Remove the link")
        if r in real:
            raise ClipstudyError(f"{folder}: the class folders {real[r].name!r} and {c.name!r} are the same folder "
                                 f"({r}); its images would be counted under two classes. Remove the link")
        real[r] = c


def load(path: str | Path, root: str | Path | None = None, transform=None, verify: bool = False
         ) -> ImageListDataset:
    """The dataset at `root` (or `path`): label i is the i-th class folder in sorted order."""
    folder = Path(root if root is not None else path).expanduser()
    require_dir(folder, NAME, LAYOUT, FETCHABLE, HOW)
    classes = subdirs(folder)
    if not classes:
        raise ClipstudyError(f"{folder} has no class sub-folders.\nExpected layout:\n{LAYOUT}")
    names = [c.name for c in classes]
    _check_links(folder, classes)
    file = folder / "classnames.txt"
    classnames = read_classnames(file, names) if file.is_file() else [n.replace("_", " ") for n in names]
    paths, labels = [], []
    seen: dict[Path, Path] = {}  # real file -> the path it was first listed under
    for i, c in enumerate(classes):
        imgs = list_images(c, recursive=True)
        for p in imgs:
            real = p.resolve()
            if real in seen:
                raise ClipstudyError(f"{folder}: the image {seen[real]} is listed again as {p} (a link), under "
                                     f"{'another class' if seen[real].parent != p.parent else 'the same class'}; "
                                     "each image must be in one class folder once")
            seen[real] = p
        paths += imgs
        labels += [i] * len(imgs)
    empty = [names[i] for i in range(len(classes)) if i not in set(labels)]
    if paths and empty:  # as torchvision's ImageFolder: an empty class would still be a column of the head
        shown = ", ".join(empty[:8]) + (f" and {len(empty) - 8} more" if len(empty) > 8 else "")
        raise ClipstudyError(f"{folder}: class folder(s) with no image: {shown}. Every class folder needs at "
                             f"least one image ({', '.join(sorted(IMAGE_SUFFIXES))}); remove the empty ones or "
                             "fill them")
    require_images(paths, folder, NAME, LAYOUT, FETCHABLE, HOW)
    return ImageListDataset(f"{PREFIX}{folder}", folder, paths, labels, classnames, transform, verify=verify,
                            extra={"folder": [names[y] for y in labels]})


def classnames(path: str | Path) -> list[str]:
    return list(load(path).classnames)
