"""GPU throughput (issue 7, item 3): bf16 autocast encode of random ViT-B-32 and ViT-L-14, and the loader alone.

For each architecture: the engine's encode rate at each batch size (random-initialised weights,
pipeline only), the data loader's rate alone on the same generated JPEG folder, and the ratio
encoder / loader-bound rate (goal >= 0.7 at the best batch size). Without a CUDA GPU it says so
and exits 0 without measuring anything.

    .venv/bin/python benchmarks/gpu.py --workers 8
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import machine, make_sketch_folder, table

import torch


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["ViT-B-32", "ViT-L-14"])
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 128, 256, 512])
    p.add_argument("--images", type=int, default=2048)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "clipstudy-bench"))
    p.add_argument("--no-record", action="store_true", help="do not append the best model-only rate per arch to "
                   "$CLIPSTUDY_CACHE/benchmarks/throughput.csv (what `clipstudy run --estimate` prices with)")
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("# gpu.py: no CUDA GPU visible to torch on this machine; NOT RUN (nothing measured).")
        return []

    import open_clip
    from torch.utils.data import DataLoader

    from clipstudy import datasets, encode
    from clipstudy.cache import FeatureCache

    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    work = Path(a.workdir)
    per_class = -(-a.images // 8)
    root = make_sketch_folder(work / f"imagenet_sketch-8x{per_class}", 8, per_class)
    precision = encode.resolve_precision("auto", dev)  # this benchmark's entry: resolved once, passed down
    print(f"# gpu: {torch.cuda.get_device_name()} (CUDA {torch.version.cuda}), {a.workers} loader workers, "
          f"precision auto = {precision}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("# " + machine())
    rows = []
    for arch in a.archs:
        torch.manual_seed(0)
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device=dev)
        model.eval()
        ds = datasets.load("imagenet-sketch", root=root, transform=preprocess)
        ds = torch.utils.data.Subset(ds, range(min(a.images, len(ds))))
        n = len(ds)
        for bs in a.batch_sizes:
            # the loader alone (what the encoder could at best consume)
            t = time.perf_counter()
            for _ in DataLoader(ds, batch_size=bs, num_workers=a.workers, collate_fn=encode.collate_skip,
                                pin_memory=True):
                pass
            loader = n / (time.perf_counter() - t)
            # the model alone on one resident batch (bf16 autocast, as the engine runs it)
            x = torch.stack([ds[i][0] for i in range(min(bs, n))]).to(dev)
            with torch.inference_mode(), encode.autocast(dev, precision):
                model.encode_image(x)
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(5):
                    model.encode_image(x)
                torch.cuda.synchronize()
            compute = 5 * len(x) / (time.perf_counter() - t)
            # the engine end to end (fresh cache)
            cache = FeatureCache(Path(tempfile.mkdtemp(prefix="gpu-cache-", dir=work)))
            torch.cuda.synchronize()
            t = time.perf_counter()
            e = encode.encode_images(model, ds, model_id=f"{arch}/random", dataset_id=f"gpu-{n}", batch_size=bs,
                                     device=dev, num_workers=a.workers, cache=cache, precision=precision,
                                     progress=False)
            torch.cuda.synchronize()
            engine = n / (time.perf_counter() - t)
            assert e.forward_passes == n
            rows.append(dict(arch=arch, batch=bs, loader_img_s=loader, model_only_img_s=compute,
                             engine_img_s=engine, engine_vs_bound=engine / min(loader, compute)))
    print()
    print(table(rows, floatfmt="{:.1f}"))
    if not a.no_record:
        from clipstudy.run.estimate import record_throughput

        best = {}
        for r in rows:
            if r["model_only_img_s"] > best.get(r["arch"], {}).get("img_s", 0):
                best[r["arch"]] = dict(arch=r["arch"], device=f"cuda:{torch.cuda.get_device_name()}",
                                       img_s=r["model_only_img_s"], batch=r["batch"], precision="auto",
                                       when=time.strftime("%Y-%m-%dT%H:%M:%S"), source="benchmarks/gpu.py")
        print(f"# recorded in {record_throughput(best.values())}")
    return rows


if __name__ == "__main__":
    main()
