"""Shared pieces of the benchmarks: generated image folders, random checkpoints, timing, tables.

Nothing here is a finding: the images are procedurally generated and the weights are
random, so the benchmarks measure pipelines (speed, forward passes, equality of results),
never model quality.
"""
from __future__ import annotations

import io
import os
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` from a checkout
    sys.path.insert(0, str(ROOT))


def sketch_wnids(n_classes: int) -> list[str]:
    """The first `n_classes` ImageNet synsets (sorted WordNet-ID order), as ImageNet-Sketch names its folders."""
    from clipstudy.datasets import imagenet

    return imagenet.wnids()[:n_classes]


def _picture(rng: np.random.Generator, w: int, h: int):
    """A photo-like JPEG-able picture: a smooth colour field with a few shapes and some grain."""
    from PIL import Image, ImageDraw, ImageFilter

    small = (rng.random((max(2, h // 24), max(2, w // 24), 3)) * 255).astype(np.uint8)
    im = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = [x0, y0, x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))]
        fill = tuple(int(v) for v in rng.integers(0, 255, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=fill)
    im = im.filter(ImageFilter.GaussianBlur(0.8))
    grain = rng.normal(0, 6, (h, w, 3))
    arr = np.clip(np.asarray(im, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def make_sketch_folder(root: str | os.PathLike, n_classes: int = 5, per_class: int = 48, size=(400, 300),
                       jitter: int = 100, seed: int = 0) -> Path:
    """An ImageFolder in the ImageNet-Sketch layout: `root/<wnid>/<i>.JPEG`, realistic-size JPEGs.

    Sizes vary by up to `jitter` pixels around `size`, as real photos do. Kept if already complete.
    """
    root = Path(root)
    wnids = sketch_wnids(n_classes)
    done = root / ".complete"
    if done.exists() and done.read_text() == repr((n_classes, per_class, size, jitter, seed)):
        return root
    rng = np.random.default_rng(seed)
    for w in wnids:
        d = root / w
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            W = int(size[0] + rng.integers(0, jitter + 1))
            H = int(size[1] + rng.integers(0, jitter + 1))
            buf = io.BytesIO()
            _picture(rng, W, H).save(buf, "JPEG", quality=90)
            (d / f"{i}.JPEG").write_bytes(buf.getvalue())
    done.write_text(repr((n_classes, per_class, size, jitter, seed)))
    return root


def lab_sketch_folder(root: str | os.PathLike, set_name: str = "lab-val", profile: str = "lab"
                      ) -> tuple[Path, list[str], list[str]]:
    """A lab set's renders as PNGs (lossless, so both tools read the same pixels) in the ImageNet-Sketch
    layout: class k goes to the k-th ImageNet synset folder. Returns (root, class names, wnids)."""
    import json

    from PIL import Image

    from clipstudy.lab import evaluate as lab_eval
    from clipstudy.profiles import lab_profile

    ls = lab_eval.labset(set_name, profile=lab_profile(profile))
    names = list(ls.classnames)
    wnids = sketch_wnids(len(names))
    root = Path(root)
    done = root / ".complete"
    stamp = json.dumps([set_name, profile, lab_eval.dataset_id(ls)])
    if not (done.exists() and done.read_text() == stamp):
        for i, (img, y) in enumerate(zip(ls.images, ls.labels.tolist())):
            d = root / wnids[y]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(d / f"{i}.png")
        done.write_text(stamp)
    return root, names, wnids


def random_checkpoint(arch: str, path: str | os.PathLike, seed: int = 0) -> Path:
    """A random-initialised open_clip model saved in open_clip's training-checkpoint format.

    `{"epoch": 0, "state_dict": ...}` is what open_clip's own `load_checkpoint` reads, so
    both clip_benchmark (`--pretrained PATH`) and clipstudy (`ARCH@PATH`) load it unchanged.
    """
    import open_clip
    import torch

    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None)
    tmp = path.with_suffix(".tmp")
    torch.save({"epoch": 0, "name": f"{arch}-random-seed{seed}", "state_dict": model.state_dict()}, tmp)
    os.replace(tmp, path)
    return path


@contextmanager
def timer(out: dict, key: str) -> Iterator[None]:
    t = time.perf_counter()
    try:
        yield
    finally:
        out[key] = out.get(key, 0.0) + time.perf_counter() - t


def machine() -> str:
    import torch

    import open_clip

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} CPU ({cpu}), torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"open_clip {open_clip.__version__}, python {platform.python_version()}, load avg {load:.1f}")


def table(rows: Sequence[dict], cols: Sequence[str] | None = None, floatfmt: str = "{:.2f}") -> str:
    """A GitHub-markdown table, so the output can be pasted into benchmarks/README.md."""
    if not rows:
        return "(no rows)"
    cols = list(cols or rows[0].keys())

    def fmt(v):
        if isinstance(v, float):
            return floatfmt.format(v) if np.isfinite(v) else "-"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    out = [line(cols), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)
