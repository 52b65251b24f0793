"""Shared machinery for the real datasets: image lists, layout checks, safe archive fetching.

Every family module builds an `ImageListDataset` from (path, label) pairs that it
found in the dataset's real on-disk layout. The layout is checked up front, so a
wrong folder fails in seconds with the expected layout and the fetch command,
not hours into an encode. An unreadable image is not an error: the engine
protocol returns None for it, the engine counts it and names it in `skipped`.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ..config import data_root
from ..errors import ClipstudyError, FetchError, MissingDataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")


# --------------------------------------------------------------------------- roots and errors

def default_root(name: str, *alternates: str) -> Path:
    """`data_root()/<name>`, or the first existing alternate folder under data_root()."""
    base = data_root()
    for cand in (name, *alternates):
        if (base / cand).exists():
            return base / cand
    return base / name


def resolve_root(root: str | os.PathLike | None, name: str, *alternates: str) -> Path:
    return Path(root).expanduser() if root is not None else default_root(name, *alternates)


def fetch_hint(name: str, fetchable: bool, how: str = "") -> str:
    """The 'Get it with' line of a MissingDataError."""
    if fetchable:
        return f"clipstudy fetch {name}  (or: python -c \"import clipstudy.datasets as d; d.fetch('{name}')\")"
    return how or f"{name} has no public download; obtain it from its authors and unpack it as shown above."


def missing(name: str, root: Path, layout: str, fetchable: bool, how: str = "", what: str | None = None
            ) -> MissingDataError:
    return MissingDataError(what or f"{name} dataset", root, layout=layout, fetch=fetch_hint(name, fetchable, how))


def require_dir(root: Path, name: str, layout: str, fetchable: bool, how: str = "") -> Path:
    if not os.path.isdir(root):  # os.path: never raises (a name too long for a file is simply not there)
        raise missing(name, root, layout, fetchable, how)
    return root


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in `folder` (sorted, hidden files skipped)."""
    if recursive:
        return sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))
    # scandir's entries know their type without a stat per file: 3DCC's millions of files list faster
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_file() and not e.name.startswith(".")
                       and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)
    return [folder / n for n in names]


def subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_class_folders(root: Path, folders: Iterable[Path], allowed: Iterable[str], name: str, layout: str,
                        what: str = "synset") -> None:
    """Every class folder must be a known class; an unknown one means a wrong layout or wrong dataset."""
    allowed = set(allowed)
    unknown = sorted(p.name for p in folders if p.name not in allowed)
    if unknown:
        shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
        raise ClipstudyError(
            f"{name}: {len(unknown)} folder(s) in {root} are not a known {what}: {shown}.\n"
            f"Expected layout:\n{layout}")


def require_images(samples: Sequence, root: Path, name: str, layout: str, fetchable: bool, how: str = "") -> None:
    if not samples:
        raise missing(name, root, layout, fetchable, how, what=f"{name} images (the folder exists but holds none)")


# --------------------------------------------------------------------------- images

# PIL modes whose bands are 8-bit and which PIL converts to RGB by their meaning (palette, CMYK, YCbCr, LAB,
# HSV; alpha dropped; "1" is 0/255)
EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "LA", "PA")
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def _grey_8bit(arr: np.ndarray, top: float):
    from PIL import Image

    return Image.fromarray(np.clip(np.rint(arr / top * 255), 0, 255).astype(np.uint8))


def _to_8bit(im):
    """(8-bit grey image or None, note) of a 16-bit, 32-bit integer or float grey image, scaled by its range
    (PIL's convert would clip integers to white and floats in [0, 1] to black):

    - I;16*: 0..65535;
    - I (32-bit signed): 0..65535 when every value fits in 16 bits (a 16-bit PNG some PIL versions open as I),
      else 0..2^32-1; negative values have no known range: skipped;
    - F (32-bit float): [0, 1] when every value is in it, else 0..255, else 0..65535; non-finite values or
      values outside [0, 65535] have no known range: skipped.
    """
    arr = np.asarray(im, dtype=np.float64)
    mode = im.mode
    if mode in SIXTEEN_BIT_MODES:
        return _grey_8bit(arr, 65535.0), f"{mode} image scaled to 8 bits (range 0..65535)"
    if not arr.size:
        return None, f"{mode} image with no pixels, skipped"
    if mode == "F" and not np.isfinite(arr).all():
        return None, "F image with no known range, skipped (float with NaN or infinite values)"
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0:
        return None, f"{mode} image with no known range, skipped (negative values: min {lo:g}, max {hi:g})"
    if mode == "I":
        top = 65535.0 if hi <= 65535 else float(2 ** 32 - 1)
        return _grey_8bit(arr, top), f"I image scaled to 8 bits (range 0..{top:.0f})"
    for top, what in ((1.0, "0..1"), (255.0, "0..255"), (65535.0, "0..65535")):
        if hi <= top:
            return _grey_8bit(arr, top), f"F image scaled to 8 bits (float, range {what})"
    return None, f"F image with no known range, skipped (float with values up to {hi:g})"


def read_image(path: str | os.PathLike):
    """(RGB PIL image or None, note): the note says why an image was skipped or how it was changed.

    Every PIL mode is converted by its range (8-bit modes by PIL, deeper grey modes by `_to_8bit`) or the
    image is skipped with a note that names the mode."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            note = ""
            if im.mode in SIXTEEN_BIT_MODES or im.mode in ("I", "F"):
                im, note = _to_8bit(im)
                if im is None:
                    return None, note
            elif im.mode not in EIGHT_BIT_MODES:
                try:
                    return im.convert("RGB"), f"{im.mode} image converted to RGB by PIL"
                except ValueError:
                    return None, f"{im.mode} image that PIL cannot convert to RGB, skipped"
            return im.convert("RGB"), note  # convert() forces a full decode, so truncation shows up here
    except Image.DecompressionBombError as e:
        return None, f"over PIL's pixel limit, raise PIL.Image.MAX_IMAGE_PIXELS to read it ({e})"
    except (OSError, SyntaxError, ValueError) as e:
        return None, f"unreadable ({type(e).__name__})"


def load_image(path: str | os.PathLike):
    """RGB PIL image, or None when the file is unreadable, truncated or over PIL's pixel limit."""
    return read_image(path)[0]


def _to_tensor(img) -> torch.Tensor:
    from torchvision.transforms.functional import to_tensor

    return to_tensor(img)


class ImageListDataset(Dataset):
    """A list of (path, label) in the engine protocol: item i -> (image or None, label, key).

    Attributes the chapters use: `classnames`, `frame` (one row per sample: key,
    label, path and the family's extra columns), `class_mask` / `imagenet_indices`
    where the 1000-class head must be subset, and `skipped` (keys found unreadable,
    by `verify()` or while loading in this process).
    """

    def __init__(self, name: str, root: Path, paths: Sequence[Path], labels: Sequence[int],
                 classnames: Sequence[str], transform: Callable | None = None,
                 extra: dict[str, Sequence] | None = None, keys: Sequence[str] | None = None,
                 imagenet_indices: Sequence | None = None, verify: bool = False):
        self.name, self.root = name, Path(root)
        self.paths = [p if isinstance(p, Path) else Path(p) for p in paths]
        self.labels = [int(y) for y in labels]
        self.keys = list(keys) if keys is not None else self._keys(self.paths)
        self._fingerprint: str | None = None
        self.classnames = list(classnames)
        self.transform = transform
        self.imagenet_indices = imagenet_indices
        cols = {"key": self.keys, "label": self.labels, "path": [str(p) for p in self.paths]}
        cols.update(extra or {})
        self.frame = pd.DataFrame(cols)
        self.skipped: list[str] = []
        if verify:
            self.verify()

    def _key(self, p: Path) -> str:
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return p.as_posix()

    def _keys(self, paths: Sequence[Path]) -> list[str]:
        """Each path relative to the root (as `_key`), by string prefix: Path.relative_to per file dominated
        opening a million-file dataset."""
        prefix = self.root.as_posix().rstrip("/") + "/"
        out = []
        for p in paths:
            s = p.as_posix()
            out.append(s[len(prefix):] if s.startswith(prefix) and "/../" not in s else self._key(p))
        return out

    @property
    def class_mask(self) -> np.ndarray | None:
        """Boolean mask over the 1000 ImageNet classes for heads that must be subset (None: all)."""
        if self.imagenet_indices is None:
            return None
        mask = np.zeros(1000, dtype=bool)
        for idx in self.imagenet_indices:
            mask[np.asarray(idx, dtype=int)] = True
        return mask

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        """`(image, label, key)`, plus a fourth element `note` when the image was skipped or changed."""
        img, note = read_image(self.paths[i])
        if img is None:
            if self.keys[i] not in self.skipped:
                self.skipped.append(self.keys[i])
            return None, self.labels[i], self.keys[i], note
        img = self.prepare(img)
        img = self.transform(img) if self.transform is not None else _to_tensor(img)
        return (img, self.labels[i], self.keys[i]) + ((note,) if note else ())

    def fingerprint(self) -> str:
        """The resolved root and every file's relative path, label, size and mtime: a cheap identity of
        what this dataset reads, so another folder, or a repaired image, is never served stale features. Computed once per opened dataset: the identity of what it reads when first asked."""
        from ..store import digest

        if getattr(self, "_fingerprint", None) is not None:
            return self._fingerprint
        rows = []
        for p, k, y in zip(self.paths, self.keys, self.labels):
            try:
                st = p.stat()
                rows.append((k, y, st.st_size, st.st_mtime_ns))
            except OSError:
                rows.append((k, y, None, None))
        self._fingerprint = digest([str(self.root.resolve()), type(self).__name__, rows], 24)
        return self._fingerprint

    def prepare(self, img):
        """A family's fix-up of the decoded PIL image before the transform (none by default)."""
        return img

    def verify(self) -> list[str]:
        """Decode every image once, up front; unreadable ones go to `skipped` (and are returned)."""
        from tqdm.auto import tqdm

        bad = []
        for p, k in tqdm(list(zip(self.paths, self.keys)), desc=f"verify {self.name}", leave=False,
                         disable=len(self.paths) < 1000):
            if load_image(p) is None:
                bad.append(k)
        self.skipped = sorted(set(self.skipped) | set(bad))
        return bad

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n={len(self)}, classes={len(self.classnames)}, root={self.root})"


def class_folder_dataset(name: str, root: Path, classes: Sequence[str], classnames: Sequence[str],
                         layout: str, fetchable: bool, transform=None, how: str = "", what: str = "synset",
                         verify: bool = False, imagenet_indices=None, recursive: bool = False,
                         **extra_cols) -> ImageListDataset:
    """`root/<class>/<image>` with class folder names from `classes` (label = position in `classes`)."""
    require_dir(root, name, layout, fetchable, how)
    folders = subdirs(root)
    if not folders:
        raise missing(name, root, layout, fetchable, how,
                      what=f"{name} class folders (the folder exists but has no sub-folders)")
    check_class_folders(root, folders, classes, name, layout, what)
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for f in folders:
        imgs = list_images(f, recursive=recursive)
        paths += imgs
        labels += [index[f.name]] * len(imgs)
    require_images(paths, root, name, layout, fetchable, how)
    return ImageListDataset(name, root, paths, labels, classnames, transform, verify=verify,
                            imagenet_indices=imagenet_indices, extra=extra_cols or None)


# --------------------------------------------------------------------------- fetching

def downloads_dir() -> Path:
    return data_root() / ".downloads"


def url_filename(url: str) -> str:
    return PurePosixPath(urllib.parse.urlparse(url).path).name or "download"


def _check_member(name: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise FetchError(f"archive member {name!r} would be written outside the target folder; refusing to extract")


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a tar(.gz/.bz2/.xz) or zip archive into `dest`, refusing path traversal and links.

    A truncated or corrupt archive raises FetchError.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(info.filename)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symlink stored in the zip
                        raise FetchError(f"archive member {info.filename!r} is a link; refusing to extract")
                bad = zf.testzip()
                if bad is not None:
                    raise FetchError(f"{archive}: member {bad} fails its CRC check (corrupt archive)")
                zf.extractall(dest)
        else:
            with tarfile.open(archive, "r:*") as tf:
                members = tf.getmembers()
                for m in members:
                    _check_member(m.name)
                    if m.issym() or m.islnk() or m.isdev():
                        raise FetchError(f"archive member {m.name!r} is a link or device; refusing to extract")
                tf.extractall(dest, members=members, filter="data")
    except FetchError:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        raise FetchError(f"archive {archive} is truncated or corrupt ({type(e).__name__}: {e}); "
                         f"it was deleted, fetch again") from e
    return dest


def fetch_archive(url: str, targets: dict[str, str | os.PathLike], sha256: str | None = None,
                  archive_name: str | None = None) -> list[Path]:
    """Download `url` (verified, resumable), extract it to a temporary folder, then move each
    archive member folder `targets[member]` into place with an atomic rename.

    `member` "" means the whole archive. Targets that already exist are kept. On any
    failure nothing is left half-written at a target, and a corrupt archive is deleted.
    """
    from ..download import download

    targets = {m: Path(t) for m, t in targets.items()}
    todo = {m: t for m, t in targets.items() if not (t.is_dir() and any(t.iterdir()))}
    if not todo:
        return list(targets.values())
    archive = download(url, downloads_dir() / (archive_name or url_filename(url)), sha256=sha256)
    parent = next(iter(todo.values())).parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=parent))
    try:
        try:
            safe_extract(archive, tmp)
        except FetchError:
            archive.unlink(missing_ok=True)
            raise
        for member, target in todo.items():
            src = tmp / member if member else tmp
            if not src.is_dir():
                raise FetchError(f"{url_filename(url)} does not contain the folder {member!r} it should; "
                                 f"found: {', '.join(sorted(p.name for p in tmp.iterdir())[:10])}")
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target.rmdir()  # an empty leftover folder
            os.replace(src, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return list(targets.values())
