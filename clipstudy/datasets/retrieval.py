"""Image-text retrieval: COCO 5k and Flickr30k 1k, the Karpathy test splits.

Captions come from Karpathy's split files (`dataset_coco.json`, `dataset_flickr30k.json`):
`{"images": [{"filepath"?, "filename", "split", "sentences": [{"raw": ...}, ...]}, ...]}`,
five captions per image. Item i is image i (label = i); `texts` is every caption
of the kept images, in order, with `image_to_texts[i]` the caption indices of image
i and `text_to_image[t]` the image of caption t.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ClipstudyError, MissingDataError, SchemaError
from .base import ImageListDataset, fetch_archive, missing, require_dir, resolve_root

CAPTIONS_URL = "http://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"
SPECS = {
    "coco-5k": dict(json="dataset_coco.json", images="val2014", n_test=5000,
                    image_url="http://images.cocodataset.org/zips/val2014.zip",
                    layout="<root>/dataset_coco.json\n<root>/val2014/COCO_val2014_<12 digits>.jpg   "
                           "(the Karpathy test split: 5,000 images from val2014, 5 captions each)"),
    "flickr30k-1k": dict(json="dataset_flickr30k.json", images="flickr30k-images", n_test=1000, image_url=None,
                         layout="<root>/dataset_flickr30k.json\n<root>/flickr30k-images/<id>.jpg   "
                                "(the Karpathy test split: 1,000 images, 5 captions each)"),
}
SHA256: dict[str, str | None] = {"captions": None, "coco-5k": None}  # none published
NAMES = tuple(SPECS)
NAME = "coco-5k"
FETCHABLE = True
FLICKR_HOW = ("Flickr30k images have no public download URL: request them at "
              "https://shannon.cs.illinois.edu/DenotationGraph/ and unpack flickr30k-images/ into <root>; "
              "`clipstudy fetch flickr30k-1k` fetches the Karpathy captions file.")
LAYOUT = "\n".join(f"{k}:\n{v['layout']}" for k, v in SPECS.items())


class RetrievalDataset(ImageListDataset):
    texts: list[str]
    image_to_texts: list[list[int]]
    text_to_image: np.ndarray
    missing_images: list[str]


def classnames(name: str = NAME) -> list[str]:
    return []


def read_karpathy(path: Path, split: str = "test") -> list[dict]:
    """The entries of one split of a Karpathy captions file (validated)."""
    try:
        data = json.loads(Path(path).read_text())
        entries = [e for e in data["images"] if e["split"] == split]
        for e in entries:
            e["filename"], [s["raw"] for s in e["sentences"]]
    except (KeyError, TypeError, ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError too
        raise SchemaError(f"{path} is not a Karpathy captions file (images[].filename/split/sentences[].raw): "
                          f"{type(err).__name__}: {err}") from err
    return entries


def load(name: str, root=None, transform=None, split: str = "test", on_missing: str = "error",
         verify: bool = False, **kw) -> RetrievalDataset:
    """One retrieval split. `on_missing`: "error" (default) or "skip" images named in the captions
    file but absent on disk (their captions are dropped too; they are listed in `missing_images`)."""
    if name not in SPECS:
        from ..errors import UnknownNameError

        raise UnknownNameError("retrieval dataset", name, list(SPECS))
    spec = SPECS[name]
    how = FLICKR_HOW if name == "flickr30k-1k" else ""
    root = resolve_root(root, name)
    require_dir(root, name, spec["layout"], True, how)
    cap = root / spec["json"]
    if not cap.is_file():
        raise missing(name, root, spec["layout"], True, how, what=f"captions file {spec['json']}")
    entries = read_karpathy(cap, split)
    if not entries:
        raise SchemaError(f"{cap} has no images in split {split!r}")
    paths, keys, texts, i2t, t2i, absent = [], [], [], [], [], []
    for e in entries:
        p = root / (e.get("filepath") or spec["images"]) / e["filename"]
        if not p.is_file():
            absent.append(e["filename"])
            continue
        paths.append(p)
        keys.append(e["filename"])
        caps = [s["raw"].strip() for s in e["sentences"]]
        i2t.append(list(range(len(texts), len(texts) + len(caps))))
        t2i += [len(paths) - 1] * len(caps)
        texts += caps
    if absent and (on_missing != "skip" or not paths):
        if not paths:
            raise missing(name, root, spec["layout"], True, how, what=f"{name} images")
        raise ClipstudyError(
            f"{name}: {len(absent)} of {len(entries)} images named in {cap.name} are missing under {root}, "
            f"e.g. {', '.join(absent[:3])}. Complete the image folder, or load with on_missing='skip' to "
            f"drop them (and their captions) and count them in `missing_images`.\nExpected layout:\n{spec['layout']}")
    ds = RetrievalDataset(name, root, paths, list(range(len(paths))), [], transform, keys=keys,
                          extra={"n_captions": [len(c) for c in i2t]}, verify=verify)
    ds.texts, ds.image_to_texts, ds.text_to_image = texts, i2t, np.asarray(t2i, dtype=int)
    ds.missing_images = absent
    return ds


def fetch(name: str, dest=None, captions_url: str | None = None, image_url: str | None = None) -> Path:
    """Karpathy captions (both sets) and, for COCO, the val2014 images (about 6 GB)."""
    spec = SPECS[name]
    dest = resolve_root(dest, name)
    if not (dest / spec["json"]).is_file():
        tmp = dest / ".captions"
        fetch_archive(captions_url or CAPTIONS_URL, {"": tmp}, sha256=SHA256["captions"],
                      archive_name="caption_datasets.zip")
        src = next(iter(tmp.rglob(spec["json"])), None)
        if src is None:
            raise MissingDataError(spec["json"], captions_url or CAPTIONS_URL)
        src.replace(dest / spec["json"])
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    if spec["image_url"] or image_url:
        fetch_archive(image_url or spec["image_url"], {spec["images"]: dest / spec["images"]},
                      sha256=SHA256.get(name))
    elif not (dest / spec["images"]).is_dir():
        raise MissingDataError(f"{name} images", dest / spec["images"], layout=spec["layout"], fetch=FLICKR_HOW)
    return dest
