"""GPU throughput (issue 7, item 3): bf16 autocast encode of random ViT-B-32 and ViT-L-14, and the loader alone.

For each architecture: the engine's encode rate at each batch size (random-initialised weights,
pipeline only), the data loader's rate alone on the same generated JPEG folder, and the ratio
encoder / loader-bound rate (goal >= 0.7 at the best batch size). Without a CUDA GPU it says so
and exits 0 without measuring anything.

`--formats` instead checks, on the device, that each `hf-hub:` format gives its own library's outputs: the tiny
random repos of tests/hub_models.py (open_clip's format with safetensors; with .bin and a second repo's text
tower; transformers' CLIP; transformers' SigLIP) on a local hub (tests/hubserver.py), through clipstudy
(`zoo.load` + `zeroshot.run`, fp32) and through open_clip's `create_model_and_transforms("hf-hub:...")` or
transformers' `AutoModel` + `AutoProcessor(padding=...)` on the same device and images; it prints the largest
feature difference and the argmax agreement per format (the test suite does the same on CPU).

    .venv/bin/python benchmarks/gpu.py --workers 8
    .venv/bin/python benchmarks/gpu.py --formats [--device cpu]
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
    p.add_argument("--formats", action="store_true", help="the per-format equality check of hf-hub: models instead")
    p.add_argument("--device", default="cuda", help="--formats: the device (cpu to try it without a GPU)")
    a = p.parse_args(argv)
    if a.formats:
        return formats_check(a.device, Path(a.workdir))
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


def formats_check(device: str, work: Path) -> list[dict]:
    """Each hf-hub format through clipstudy and through its own library on `device` (see the module docstring)."""
    import sys

    if device.startswith("cuda") and not torch.cuda.is_available():
        print("# gpu.py --formats: no CUDA GPU visible to torch on this machine; NOT RUN (nothing compared).")
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import hub_models as HM
    from hubserver import Hub

    hub = Hub()
    work.mkdir(parents=True, exist_ok=True)  # before huggingface_hub is imported: it reads these once
    os.environ.update(HF_ENDPOINT=hub.url, HF_HOME=str(Path(tempfile.mkdtemp(prefix="hf-", dir=work))),
                      CLIPSTUDY_CACHE=tempfile.mkdtemp(prefix="cache-", dir=work))
    HM.serve(hub, work / "hub-models")
    import numpy as np
    from PIL import Image

    from clipstudy import datasets, zeroshot, zoo

    rng = np.random.default_rng(0)
    root = work / "format-images"
    for c in ("cat", "dog", "fox"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for j, (w, h) in enumerate(((37, 53), (64, 40), (50, 50))):
            Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(root / c / f"{c}_{j}.png")
    print(f"# gpu.py --formats on {torch.cuda.get_device_name() if device.startswith('cuda') else device}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    rows = []
    try:
        for label, repo in HM.MODELS.items():
            loaded = zoo.load(f"hf-hub:{repo}", device)
            ds = datasets.get(f"imagefolder:{root}").load(transform=loaded.preprocess)
            res = zeroshot.run(loaded, ds, dataset_id=f"formats-{repo}", prompts="single", precision="fp32",
                               device=device, num_workers=0, progress=False)
            texts = [f"a photo of a {c}." for c in ds.classnames]
            images = [Image.open(p).convert("RGB") for p in ds.paths]
            img, txt = _reference(repo, images, texts, device, HM)
            rows.append(dict(format=label, images=len(images),
                             image_max_diff=float((res.encoded.features - img).abs().max()),
                             text_max_diff=float((res.head.T - txt).abs().max()),
                             argmax_agree=float((res.logits.argmax(1) == (img @ txt.T).argmax(1)).float().mean())))
    finally:
        hub.close()
    print(table(rows, floatfmt="{:.2e}"))
    return rows


def _reference(repo: str, images: list, texts: list[str], device: str, HM) -> tuple:
    """Normalised image and text features from the repo's own library, on `device`, at fp32."""
    with torch.no_grad():
        if repo in (HM.OC_SAFE, HM.OC_BIN):
            import open_clip

            model, _, preprocess = open_clip.create_model_and_transforms(f"hf-hub:{repo}", device=device)
            tok = open_clip.get_tokenizer(f"hf-hub:{repo}")
            model.eval()
            img = model.encode_image(torch.stack([preprocess(i) for i in images]).to(device))
            txt = model.encode_text(tok(texts).to(device))
            img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
        else:
            from transformers import AutoModel, AutoProcessor

            model = AutoModel.from_pretrained(repo).to(device).eval()
            inputs = AutoProcessor.from_pretrained(repo)(text=texts, images=images, return_tensors="pt",
                                                         padding="max_length" if repo == HM.HF_SIGLIP else True)
            out = model(**{k: v.to(device) for k, v in inputs.items()})
            img, txt = out.image_embeds, out.text_embeds
    return img.float().cpu(), txt.float().cpu()


if __name__ == "__main__":
    main()
