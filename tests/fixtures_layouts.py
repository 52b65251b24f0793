"""Miniature copies of the real datasets' on-disk layouts, for the loader and fetcher tests.

Each `make_*` writes a few tiny images in exactly the real folder and file-name
layout, plus the real annotation, caption or mapping files in miniature, and
returns what a correct loader must find (labels, mappings). Nothing here is real
data; the images are 8x8 solid colours.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from PIL import Image

# Real ILSVRC2012 val file names with their real labels (from imagenet-x's filename_label.csv),
# so that the ImageNet-X join by file name can be tested against the real annotations.
VAL_FILES = {  # wnid -> [(file name, class index)]
    "n01440764": [("ILSVRC2012_val_00000293.JPEG", 0), ("ILSVRC2012_val_00002138.JPEG", 0)],
}


def image(path: Path, color=(200, 30, 30), size=(8, 8), fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or ("PNG" if path.suffix.lower() == ".png" else "JPEG")
    Image.new("RGB", size, color).save(path, fmt)
    return path


def corrupt(path: Path) -> Path:
    """Overwrite an image with a truncated JPEG (a valid header, then nothing)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[:200])
    return path


def _val_files(n_classes: int) -> dict[str, list[tuple[str, int]]]:
    import pandas as pd
    from imagenet_x.utils import get_annotation_path

    from clipstudy.datasets import imagenet

    ann = get_annotation_path()
    df = pd.read_csv(ann / "filename_label.csv")
    x = pd.read_json(ann / "imagenet_x_val_top_factor.jsonl", lines=True, nrows=2000)
    df = df[df.file_name.isin(x.file_name)]  # annotated files only
    wn = imagenet.wnids()
    out: dict[str, list[tuple[str, int]]] = {}
    for label, g in df.groupby("label"):
        out[wn[int(label)]] = [(f, int(label)) for f in g.file_name.iloc[:2]]
        if len(out) == n_classes:
            break
    return out


def make_imagenet(root: Path, n_classes: int = 3, flat: bool = False) -> dict:
    """<root>/val/<wnid>/ILSVRC2012_val_*.JPEG (or flat) with real file names and labels."""
    files = _val_files(n_classes)
    expect = {}
    for wnid, items in files.items():
        for f, label in items:
            image(root / "val" / ("" if flat else wnid) / f, color=(label % 256, 50, 50))
            expect[f if flat else f"{wnid}/{f}"] = label
    return expect


def make_imagenet_v2(root: Path, classes=(0, 1, 999), per_class: int = 2) -> dict:
    expect = {}
    for c in classes:
        for j in range(per_class):
            name = f"{c:04d}{j}abcdef0123456789abcdef01234567.jpeg"
            image(root / "imagenetv2-matched-frequency-format-val" / str(c) / name)
            expect[f"{c}/{name}"] = c
    return expect


def make_sketch(root: Path, wnids=("n01440764", "n15075141"), per_class: int = 2) -> dict:
    from clipstudy.datasets import imagenet

    idx = imagenet.wnid_to_index()
    expect = {}
    for w in wnids:
        for j in range(per_class):
            image(root / "sketch" / w / f"sketch_{j}.JPEG")
            expect[f"{w}/sketch_{j}.JPEG"] = idx[w]
    return expect


def make_subset200(root: Path, member: str, wnids, per_class: int = 2) -> dict:
    """ImageNet-R/-A: <root>/<member>/<wnid>/<file>.jpg; labels are positions among the 200 sorted synsets."""
    expect = {}
    for w in wnids:
        for j in range(per_class):
            name = f"art_{j}.jpg" if member == "imagenet-r" else f"0.00{j}_thing _ thing_0.5.jpg"
            image(root / member / w / name)
            expect[f"{w}/{name}"] = w
    return expect


# ObjectNet in miniature: 3 of the 113 overlapping classes (one mapping to two ImageNet classes)
# plus one folder without an ImageNet counterpart. The ImageNet name file is cut to the lines used,
# and pytorch_to_imagenet_2012_id.json maps PyTorch indices to those lines, as the real files do.
OBJECTNET_FOLDERS = {"alarm_clock": "Alarm clock", "backpack": "Backpack", "banana": "Banana",
                     "air_freshener": "Air freshener"}
OBJECTNET_TO_IMAGENET = {"Alarm clock": "analog clock; digital clock", "Backpack": "backpack",
                         "Banana": "banana"}
OBJECTNET_EXPECT = {"alarm_clock": [409, 530], "backpack": [414], "banana": [954]}


def make_objectnet(root: Path, per_class: int = 2) -> dict:
    base = root / "objectnet-1.0"
    maps = base / "mappings"
    maps.mkdir(parents=True, exist_ok=True)
    (maps / "folder_to_objectnet_label.json").write_text(json.dumps(OBJECTNET_FOLDERS, indent=1))
    (maps / "objectnet_to_imagenet_1k.json").write_text(json.dumps(OBJECTNET_TO_IMAGENET, indent=1))
    lines = ["digital clock", "banana", "analog clock", "backpack"]  # ILSVRC2012-ID order in miniature
    (maps / "imagenet_to_label_2012_v2").write_text("\n".join(lines) + "\n")
    (maps / "pytorch_to_imagenet_2012_id.json").write_text(json.dumps({"530": 0, "954": 1, "409": 2, "414": 3}))
    for folder in OBJECTNET_FOLDERS:
        for j in range(per_class):
            image(base / "images" / folder / f"{j:04x}beef.png")
    return OBJECTNET_EXPECT


def make_cue_conflict(root: Path) -> dict:
    """<root>/<shape>/<shape><i>-<texture><j>.png, including one non-conflict (shape == texture) image."""
    items = {"cat/cat1-elephant1.png": ("cat", "elephant"), "cat/cat2-cat3.png": ("cat", "cat"),
             "knife/knife1-bird2.png": ("knife", "bird"), "truck/truck4-clock10.png": ("truck", "clock")}
    for rel in items:
        image(root / rel, color=(30, 30, 200))
    return items


def make_plain_stimuli(root: Path, classes=("bear", "oven"), per_class: int = 2) -> dict:
    expect = {}
    for c in classes:
        for i in range(1, per_class + 1):
            image(root / c / f"{c}{i}.png")
            expect[f"{c}/{c}{i}.png"] = c
    return expect


OOD_LAYOUT = {  # name -> files relative to the dataset root, as in the real releases
    "inaturalist": ["iNaturalist/images/0a1b2c.jpg", "iNaturalist/images/ffee01.jpg"],
    "sun": ["SUN/images/sun_aaqwtwllhdqbfgbh.jpg", "SUN/images/sun_abbfqrxylpbjmzqm.jpg"],
    "places": ["Places/images/b_badlands_00000001.jpg", "Places/images/b_bamboo_forest_00000002.jpg"],
    "textures": ["dtd/images/banded/banded_0002.jpg", "dtd/images/zigzagged/zigzagged_0003.jpg"],
    "ninco": ["NINCO/NINCO_OOD_classes/amphiuma_means/a.jpg", "NINCO/NINCO_OOD_classes/caracal_caracal/b.jpg"],
    "imagenet-o": ["imagenet-o/n01443537/o1.jpg", "imagenet-o/n01704323/o2.jpg"],
}


def make_ood(root: Path, name: str) -> list[str]:
    for rel in OOD_LAYOUT[name]:
        image(root / rel)
    if name == "ninco":  # parts of the release that are not OOD classes
        image(root / "NINCO/NINCO_OOD_unit_tests/noise/x.jpg")
    return OOD_LAYOUT[name]


def make_retrieval(root: Path, name: str, n_test: int = 3, missing: int = 0) -> dict:
    """Karpathy captions file in miniature (5 captions per image, plus train/val entries) and images."""
    coco = name == "coco-5k"
    images, expect = [], {}
    for i in range(n_test + 2):
        split = "test" if i < n_test else ("train" if i == n_test else "val")
        fname = f"COCO_val2014_{i:012d}.jpg" if coco else f"{1000 + i}.jpg"
        sents = [{"raw": f"image {i} caption {k}.", "tokens": ["image", str(i)], "imgid": i, "sentid": 5 * i + k}
                 for k in range(5)]
        entry = {"filename": fname, "split": split, "sentences": sents, "imgid": i, "sentids": [s["sentid"] for s in sents]}
        if coco:
            entry.update(filepath="val2014", cocoid=i)
        images.append(entry)
        if split == "test" and i >= missing:  # the first `missing` test images are not written
            image(root / ("val2014" if coco else "flickr30k-images") / fname)
            expect[fname] = [s["raw"] for s in sents]
    root.mkdir(parents=True, exist_ok=True)
    (root / ("dataset_coco.json" if coco else "dataset_flickr30k.json")).write_text(
        json.dumps({"images": images, "dataset": "coco" if coco else "flickr30k"}))
    return expect


def make_3dcc(root: Path, corruptions=("fog_3d", "near_focus"), severities=(1, 5),
              wnids=("n01440764", "n01443537")) -> int:
    n = 0
    for c in corruptions:
        for s in severities:
            for w in wnids:
                image(root / c / str(s) / w / f"ILSVRC2012_val_{n + 1:08d}.JPEG")
                n += 1
    return n


def make_imagenet_d(root: Path, subsets=("background", "texture", "material"),
                    folders=("alarm_clock", "coffee_or_french_press", "wok")) -> int:
    n = 0
    base = root / "ImageNet-D"
    for s in subsets:
        for f in folders:
            image(base / s / f / f"{f}_{s}_0.jpg")
            n += 1
    (base / "questions").mkdir(parents=True, exist_ok=True)
    (base / "questions" / "background.csv").write_text("image,question\nalarm_clock/x.jpg,Is this a wok or a clock?\n")
    return n


def tar_folder(src: Path, archive: Path, arcname: str) -> Path:
    """A .tar.gz of `src` stored under `arcname/`, as the real release archives are."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname=arcname)
    return archive
