"""Images per second of clipstudy's engine on CPU, and the cached re-run time (issue 2).

A random-initialised ViT-B-32 (pipeline only, not a finding) encodes a generated folder of
realistic-size JPEGs in the ImageNet-Sketch layout at batch 64, through
`clipstudy.encode.encode_images` with a fresh feature cache; then the same call again,
which must hit the cache and run no forward pass. For context it also times the data
loader alone (in-process, as the engine runs it, and with all intra-op threads, as the
engine ran it before) and the bare forward pass on pre-decoded tensors.

    .venv/bin/python benchmarks/engine.py            # ~2-4 min on 2 busy cores
    .venv/bin/python benchmarks/engine.py --images 256 --workers 1
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import machine, make_sketch_folder, table

import torch


def load_rate(ds, batch_size: int, threads: int | None) -> float:
    from torch.utils.data import DataLoader

    from clipstudy.encode import collate_skip, intra_op_threads

    t = time.perf_counter()
    with intra_op_threads(threads or torch.get_num_threads()):
        for _ in DataLoader(ds, batch_size=batch_size, num_workers=0, collate_fn=collate_skip):
            pass
    return len(ds) / (time.perf_counter() - t)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="ViT-B-32")
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="engine num_workers (its default: 0)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "clipstudy-bench"))
    a = p.parse_args(argv)

    import open_clip

    from clipstudy import datasets, encode
    from clipstudy.cache import FeatureCache

    work = Path(a.workdir)
    per_class = -(-a.images // 4)
    root = make_sketch_folder(work / f"imagenet_sketch-4x{per_class}", 4, per_class)
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(a.arch, pretrained=None)
    model.eval()
    ds = datasets.load("imagenet-sketch", root=root, transform=preprocess)
    ds = torch.utils.data.Subset(ds, range(min(a.images, len(ds))))
    n = len(ds)
    print(f"# engine: {a.arch} random init, {n} JPEGs ~400-500x300-400 px, batch {a.batch_size}, "
          f"num_workers {a.workers}")
    print("# " + machine())
    rows = []
    r1 = load_rate(ds, a.batch_size, 1)
    rAll = load_rate(ds, a.batch_size, None)
    rows.append(dict(what="data loader alone, in-process, 1 thread (engine now)", img_per_s=r1, seconds=n / r1))
    rows.append(dict(what=f"data loader alone, in-process, {torch.get_num_threads()} threads (engine before)",
                     img_per_s=rAll, seconds=n / rAll))

    x = torch.stack([ds[i][0] for i in range(min(a.batch_size, n))])
    with torch.inference_mode():
        model.encode_image(x[:2])  # warm-up
        t = time.perf_counter()
        model.encode_image(x)
        dt = time.perf_counter() - t
    rows.append(dict(what=f"forward alone, batch {len(x)}, pre-decoded", img_per_s=len(x) / dt,
                     seconds=n * dt / len(x)))

    cache = FeatureCache(Path(tempfile.mkdtemp(prefix="engine-cache-", dir=work)))
    kw = dict(model_id=f"{a.arch}/random", dataset_id=f"bench-sketch-{n}", batch_size=a.batch_size,
              num_workers=a.workers, cache=cache, precision=encode.resolve_precision("auto", "cpu"), progress=False)
    t = time.perf_counter()
    cold = encode.encode_images(model, ds, **kw)
    dt_cold = time.perf_counter() - t
    assert not cold.from_cache and cold.forward_passes == n and not cold.skipped
    rows.append(dict(what="engine, cold (fresh cache)", img_per_s=n / dt_cold, seconds=dt_cold,
                     forward_passes=cold.forward_passes))
    t = time.perf_counter()
    warm = encode.encode_images(model, ds, **kw)
    dt_warm = time.perf_counter() - t
    assert warm.from_cache and warm.forward_passes == 0 and torch.equal(warm.features, cold.features)
    rows.append(dict(what="engine, cached re-run (incl. weights hash)", img_per_s=n / dt_warm, seconds=dt_warm,
                     forward_passes=warm.forward_passes))
    t = time.perf_counter()
    encode.weights_hash(model)
    rows.append(dict(what="  of which: weights hash", img_per_s=float("nan"), seconds=time.perf_counter() - t))
    print()
    print(table(rows, ["what", "img_per_s", "seconds", "forward_passes"]))
    print(f"\ncached re-run is {dt_cold / dt_warm:.0f}x faster than the cold encode")
    return rows


if __name__ == "__main__":
    main()
