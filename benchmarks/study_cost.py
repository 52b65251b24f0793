"""Whole-study cost: forward passes and time, naive per-axis recomputation vs the feature cache.

A study of M models x the lab's evaluation sets x every axis. Each axis evaluates some
variants (prompt set, temperature before/after, OOD score method, ...) over some sets.
- naive: every variant encodes the images it needs (and its text head) afresh, as one run of a
  per-metric tool such as clip_benchmark would;
- cached: clipstudy's engine; each (model, set) is encoded once and each (model, prompts) head
  built once, and every axis reads the cached features.
Both paths compute the same metric values (asserted), so the saving costs nothing in results.

The models are small random-initialised open_clip CLIPs and the images are generated tensors
named after the lab sets (`clipstudy.lab.sets` renders the real ones; rendering is not what is
measured here). Random weights: the metric values are meaningless; the pass counts are the result.

    .venv/bin/python benchmarks/study_cost.py                 # ~1 min
    .venv/bin/python benchmarks/study_cost.py --models 4 --images 128
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import machine, table

import numpy as np
import torch

# lab evaluation sets (clipstudy.lab.sets.SET_NAMES, less lab-train and lab-multiview)
SETS = ("lab-val", "lab-v2", "lab-sketch", "lab-silhouette", "lab-cue-conflict", "lab-factors", "lab-3dcc",
        "lab-ood", "lab-retrieval")
SHIFTS = ("lab-val", "lab-v2", "lab-sketch", "lab-silhouette")
PROMPTS = ("single", "ensemble")
OOD_METHODS = ("msp", "maxlogit", "energy", "mcm")

# axis -> list of variants; a variant = (label, image sets it reads, prompt set or None)
AXES: dict[str, list[tuple[str, tuple[str, ...], str | None]]] = {
    "accuracy": [(f"{s}/{p}", (s,), p) for s in SHIFTS for p in PROMPTS],
    "effective robustness": [(f"{s}/ensemble", (s,), "ensemble") for s in SHIFTS],
    "calibration": [(f"{s}/{p}/{t}", (s,) if t == "before" else ("lab-val", s), p)
                    for s in SHIFTS for p in PROMPTS for t in ("before", "after-temperature")],
    "ood detection": [(f"{m}", ("lab-val", "lab-ood"), "ensemble") for m in OOD_METHODS],
    "shape bias": [(f"{s}/{p}", (s,), p) for s in ("lab-cue-conflict", "lab-sketch", "lab-silhouette")
                   for p in PROMPTS],
    "visual factors": [(f"lab-factors/{p}", ("lab-factors",), p) for p in PROMPTS],
    "3D corruptions": [("lab-3dcc/ensemble", ("lab-3dcc",), "ensemble")],
    "retrieval": [("lab-retrieval", ("lab-retrieval",), None)],
}

CLASSES = [f"shape{i}" for i in range(8)]
TEMPLATES = {"single": ["a photo of a {}."],
             "ensemble": ["a photo of a {}.", "a rendering of a {}.", "a sketch of a {}.", "a {} in the scene.",
                          "a small {}.", "a large {}.", "a close-up of a {}.", "a dark photo of a {}."]}
CAPTIONS = 5  # per retrieval image


class Generated(torch.utils.data.Dataset):
    """Deterministic random images in the engine protocol: (image, label, key)."""

    def __init__(self, name: str, n: int, size: int = 32):
        self.name, self.n, self.size = name, n, size
        self.seed = sum(map(ord, name))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 100_003 + i)
        return torch.rand(3, self.size, self.size, generator=g), i % len(CLASSES), f"{self.name}/{i}"


def tiny_clip(seed: int):
    import open_clip

    torch.manual_seed(seed)
    return open_clip.CLIP(embed_dim=64, vision_cfg=dict(layers=2, width=64 + 32 * seed, patch_size=8, image_size=32),
                          text_cfg=dict(context_length=16, vocab_size=49408, width=64, heads=2, layers=2)).eval()


class CountingTokenizer:
    def __init__(self):
        import open_clip

        self.tok, self.n = open_clip.get_tokenizer("ViT-B-32"), 0

    def __call__(self, texts):
        self.n += len(texts)
        return self.tok(texts, context_length=16)


def axis_value(axis: str, variant: str, feats: dict, head, model, tok, cache_kw, precision: str = "fp32") -> float:
    """One number per variant from clipstudy.metrics, so the two paths can be compared."""
    from clipstudy import encode, metrics

    scale = encode.logit_scale_of(model)
    first = next(iter(feats.values()))
    if axis == "retrieval":
        caps = [f"a photo of a {CLASSES[int(y)]}, view {j}." for y in first.labels for j in range(CAPTIONS)]
        txt = encode.encode_texts(model, tok, caps, precision=precision)
        r = metrics.retrieval_recall(first.features @ txt.T,
                                     [list(range(i * CAPTIONS, (i + 1) * CAPTIONS)) for i in range(len(first))])
        return float(next(iter(r.values())) if isinstance(r, dict) else np.asarray(r).ravel()[0])
    logits = {s: encode.zero_shot_logits(e.features, head, scale) for s, e in feats.items()}
    labels = {s: e.labels for s, e in feats.items()}
    if axis == "ood detection":
        method = variant
        x_id = logits["lab-val"] if method != "mcm" else logits["lab-val"] / scale
        x_ood = logits["lab-ood"] if method != "mcm" else logits["lab-ood"] / scale
        return float(metrics.ood_metrics(metrics.ood_scores(x_id, method), metrics.ood_scores(x_ood, method))["auroc"])
    if axis == "calibration":
        s = list(feats)[-1]
        t = metrics.fit_temperature(logits["lab-val"], labels["lab-val"]) if "after" in variant else 1.0
        return float(metrics.ece(torch.softmax(logits[s] / t, -1).numpy(), labels[s].numpy()))
    if axis == "shape bias":
        s = list(feats)[0]
        pred = logits[s].argmax(1).numpy()
        shape = labels[s].numpy()
        texture = (shape + 1) % len(CLASSES)
        return float(metrics.shape_bias(pred, shape, texture)) if ((pred == shape) | (pred == texture)).any() \
            else float("nan")
    s = list(feats)[0]
    return float(metrics.accuracy(logits[s], labels[s]))


def run_study(models, sets, naive: bool, work: Path) -> dict:
    from clipstudy import encode
    from clipstudy.cache import FeatureCache

    shared = FeatureCache(work / "cached")
    precision = encode.resolve_precision("auto", "cpu")  # this benchmark's entry: resolved once, passed down
    out = dict(image_passes=0, text_passes=0, values={})
    t0 = time.perf_counter()
    for mi, model in enumerate(models):
        mid = f"tiny-{mi}"
        tok = CountingTokenizer()
        k = 0
        for axis, variants in AXES.items():
            for label, need, prompts in variants:
                k += 1
                cache = FeatureCache(work / f"naive-{mi}-{k}") if naive else shared
                feats = {}
                for s in need:
                    e = encode.encode_images(model, sets[s], model_id=mid, dataset_id=s, batch_size=64,
                                             weights=f"w{mi}", cache=cache, precision=precision, progress=False)
                    out["image_passes"] += e.forward_passes
                    feats[s] = e
                head = None
                if prompts is not None:
                    head = encode.zero_shot_head(model, tok, CLASSES, TEMPLATES[prompts], model_id=mid,
                                                 weights=f"w{mi}", cache=cache, precision=precision)
                out["values"][(mid, axis, label)] = axis_value(axis, label, feats, head, model, tok, {}, precision)
        out["text_passes"] += tok.n
    out["seconds"] = time.perf_counter() - t0
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=3)
    p.add_argument("--images", type=int, default=96, help="images per set")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "clipstudy-bench"))
    a = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="study-", dir=Path(a.workdir).mkdir(parents=True, exist_ok=True) or a.workdir))
    torch.set_num_threads(min(2, torch.get_num_threads()))
    models = [tiny_clip(i) for i in range(a.models)]
    sets = {s: Generated(s, a.images) for s in SETS}
    n_var = sum(len(v) for v in AXES.values())
    print(f"# whole-study cost: {a.models} random tiny open_clip CLIPs x {len(SETS)} lab-named sets of "
          f"{a.images} generated images x {len(AXES)} axes ({n_var} evaluation variants per model)")
    print("# " + machine())
    naive = run_study(models, sets, True, work)
    cached = run_study(models, sets, False, work)
    assert naive["values"].keys() == cached["values"].keys()
    for key, v in naive["values"].items():
        w = cached["values"][key]
        assert (np.isnan(v) and np.isnan(w)) or v == w, (key, v, w)
    min_images = a.models * len(SETS) * a.images
    assert cached["image_passes"] == min_images, (cached["image_passes"], min_images)
    rows = []
    per_axis = []
    for axis, variants in AXES.items():
        reads = sum(len(need) for _, need, _ in variants)
        per_axis.append(dict(axis=axis, variants=len(variants), naive_set_encodes_per_model=reads))
    for name, r in (("naive (per-axis recompute)", naive), ("cached (clipstudy engine)", cached)):
        rows.append(dict(path=name, image_forward_passes=r["image_passes"], text_forward_passes=r["text_passes"],
                         seconds=r["seconds"]))
    rows.append(dict(path="ratio naive / cached", image_forward_passes=naive["image_passes"] / cached["image_passes"],
                     text_forward_passes=naive["text_passes"] / cached["text_passes"],
                     seconds=naive["seconds"] / cached["seconds"]))
    print()
    print(table(per_axis))
    print()
    print(table(rows, floatfmt="{:.1f}"))
    print(f"\nall {len(naive['values'])} metric values identical between the two paths; cached image passes = "
          f"models x sets x images = {min_images} (the minimum)")
    return rows


if __name__ == "__main__":
    main()
