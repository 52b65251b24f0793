"""Issue 34.4: why clip_benchmark's 4 loader processes beat clipstudy's decoding threads on the lab PNGs once they sit
in the page cache, and whether another decoder in the same thread pool can match them on this machine's cores.

The lab CLIP's forward costs about 0.05 ms an image; decoding a 64 px PNG and preparing it costs more than ten times
that, so a zero-shot pass over the lab set is a decoding race. This script times decoding alone, over the same PNG
files (the lab-val renders in the ImageNet-Sketch layout, benchmarks/common.lab_sketch_folder), read from the page
cache (a first untimed pass reads every file), three ways, each on 1 thread and on every core:

- `pil`: what clipstudy's image folders do per item (datasets.base.read_image: PIL open, mode check, convert to RGB;
  then the lab preprocess from a uint8 tensor, as the engine's lab transform does);
- `tv`: torchvision.io.decode_png on the file's bytes, then the same preprocess (a C++ op that releases the GIL);
- the same `pil` work in worker processes (a torch DataLoader with `num_workers` = cores, what clip_benchmark runs).

For each it prints images per second and the speed-up of N threads (or processes) over one. A speed-up of threads
well under the core count, where processes reach it, is the GIL: the Python part of PIL's decoding (PNG chunk
parsing, `convert`, array building) holds it, so threads queue on it; a decoder that holds the GIL for less of each
image scales in threads as processes do.

    .venv/bin/python benchmarks/decode_scaling.py [--repeat 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import lab_sketch_folder, machine, table  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def pil_item(path: str) -> torch.Tensor:
    from clipstudy.datasets.base import read_image
    from clipstudy.lab.train import Preprocess

    img, _ = read_image(path)
    return Preprocess()(torch.from_numpy(np.array(img)).permute(2, 0, 1))


def tv_item(path: str) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_png, read_file

    from clipstudy.lab.train import Preprocess

    return Preprocess()(decode_png(read_file(path), mode=ImageReadMode.RGB))


class Files(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return pil_item(self.paths[i])


def threads(fn, paths, n: int) -> float:
    t0 = time.perf_counter()
    if n == 1:
        for p in paths:
            fn(p)
    else:
        with ThreadPoolExecutor(n) as pool:
            for _ in pool.map(fn, paths, chunksize=16):
                pass
    return len(paths) / (time.perf_counter() - t0)


def processes(paths, n: int) -> float:
    dl = torch.utils.data.DataLoader(Files(paths), batch_size=64, num_workers=n, persistent_workers=False)
    t0 = time.perf_counter()
    for _ in dl:
        pass
    return len(paths) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "clipstudy-bench" / "lab-val-png")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    root, _, _ = lab_sketch_folder(a.folder)
    paths = sorted(str(p) for p in Path(root).rglob("*.png"))
    for p in paths:  # into the page cache
        Path(p).read_bytes()
    assert torch.equal(pil_item(paths[0]), tv_item(paths[0])), "the two decoders give different pixels"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# decode_scaling.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}; {cores} cores; "
          f"{len(paths)} lab-val PNGs ({Path(paths[0]).stat().st_size} bytes the first), page cache warm")
    rows = []
    for r in range(a.repeat):
        load = os.getloadavg()[0]
        res = {("pil", "threads", 1): threads(pil_item, paths, 1), ("pil", "threads", cores): threads(pil_item, paths, cores),
               ("tv", "threads", 1): threads(tv_item, paths, 1), ("tv", "threads", cores): threads(tv_item, paths, cores),
               ("pil", "processes", cores): processes(paths, cores),
               ("pil", "processes", 2 * cores): processes(paths, 2 * cores)}
        one = {"pil": res[("pil", "threads", 1)], "tv": res[("tv", "threads", 1)]}
        for (dec, how, n), ips in res.items():
            rows.append(dict(round=r + 1, load=load, decoder=dec, workers=f"{n} {how}", images_per_s=ips,
                             ms_per_image=1e3 / ips, vs_one_thread=ips / one[dec],
                             vs_pil_one_thread=ips / one["pil"]))
    print(table(rows, floatfmt="{:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
