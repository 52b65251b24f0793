"""CLIP_benchmark's webdataset layout in miniature, from generated images (tests/test_datasets_wds.py and the live
book's local hub, tests/test_book_live.py): `test/nshards.txt`, `test/{i}.tar` with KEY.webp|png|jpg + KEY.cls or
KEY.txt, `classnames.txt`, `dataset_type.txt`, `zeroshot_classification_templates.txt`."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

from PIL import Image


def image_bytes(i: int, fmt: str) -> bytes:
    img = Image.new("RGB", (24 + i, 20), ((37 * i) % 256, (91 * i) % 256, (53 * i) % 256))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def shard(samples: list[dict]) -> bytes:
    """A plain tar of KEY.EXT members, as CLIP_benchmark's `webdataset_builder` writes them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for s in samples:
            for ext, data in s.items():
                if ext == "__key__":
                    continue
                info = tarfile.TarInfo(f"{s['__key__']}.{ext}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def layout(classnames: list[str], shards: list[list[dict]], kind: str = "classification") -> dict[str, bytes]:
    files = {"test/nshards.txt": f"{len(shards)}\n".encode(), "dataset_type.txt": f"{kind}\n".encode(),
             "zeroshot_classification_templates.txt": b"a photo of a {c}.\n"}
    if classnames:
        files["classnames.txt"] = "\n".join(classnames).encode() + b"\n"
    files.update({f"test/{i}.tar": shard(s) for i, s in enumerate(shards)})
    return files


def classification(n: int, n_classes: int, n_shards: int = 2) -> list[list[dict]]:
    fmts = [("webp", "WEBP"), ("jpg", "JPEG"), ("png", "PNG")]
    samples = [{"__key__": f"s{i:07d}", fmts[i % 3][0]: image_bytes(i, fmts[i % 3][1]),
                "cls": str((i * 7) % n_classes).encode()} for i in range(n)]
    return [samples[k::n_shards] for k in range(n_shards)]


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder
