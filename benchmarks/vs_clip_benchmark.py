"""clipstudy vs clip_benchmark, side by side: the same zero-shot classification, timed A B A B.

Both tools load the same random-initialised open_clip checkpoint from disk, read the same
ImageFolder in the ImageNet-Sketch layout (clip_benchmark's `imagenet_sketch` loader,
clipstudy's `imagenet-sketch` family), and use the same class names and the same 80 OpenAI
templates. Their predictions must agree image by image and their accuracies exactly; the
script stops with an AssertionError otherwise. Random weights: accuracy is near chance and
means nothing; this is a pipeline and speed comparison, not a finding.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/vs_clip_benchmark.py                # ~5-15 min on 2 busy cores
    .venv/bin/python benchmarks/vs_clip_benchmark.py --rounds 1 --per-class 16   # quick look

"cold" = fresh clipstudy cache; "warm" = clipstudy's second run on the same cache.
clip_benchmark keeps no zero-shot cache, so each of its rounds recomputes everything.
It runs with `--no_amp`: its default bf16 autocast on CPU changes the numbers (and the
equality check would then compare different computations).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import machine, make_sketch_folder, random_checkpoint, sketch_wnids, table

import torch


def class_setup(wnids: list[str], workdir: Path) -> tuple[list[str], Path, Path]:
    """The class names and templates both tools use, written as clip_benchmark's custom json files."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

    from clipstudy import prompts
    from clipstudy.datasets import imagenet

    names = [IMAGENET_CLASSNAMES[imagenet.wnid_to_index()[w]] for w in wnids]
    # clip_benchmark formats "{c}" templates; clipstudy calls open_clip's template lambdas.
    cb_templates = [t("{c}") for t in OPENAI_IMAGENET_TEMPLATES]
    ours = prompts.templates("openai80")
    assert len(cb_templates) == len(ours) == 80
    for c in names:
        assert [t.format(c=c) for t in cb_templates] == [t(c) for t in ours], f"prompts differ for {c!r}"
    cls_file, tpl_file = workdir / "classnames.json", workdir / "templates.json"
    cls_file.write_text(json.dumps({"imagenet_sketch": names}))
    tpl_file.write_text(json.dumps({"imagenet_sketch": cb_templates}))
    return names, cls_file, tpl_file


def run_clip_benchmark(arch: str, ckpt: Path, data: Path, cls_file: Path, tpl_file: Path, out: Path,
                       batch_size: int, num_workers: int) -> dict:
    """clip_benchmark's own CLI entry (`clip_benchmark eval ...`), in this process, with its stages timed."""
    from clip_benchmark import cli
    from clip_benchmark.metrics import zeroshot_classification as zc

    times: dict[str, float] = {}
    captured: dict = {}
    orig_clf, orig_run = zc.zero_shot_classifier, zc.run_classification

    def clf(*a, **k):
        t = time.perf_counter()
        r = orig_clf(*a, **k)
        times["text"] = time.perf_counter() - t
        return r

    def run_cls(model, classifier, dataloader, *a, **k):
        t = time.perf_counter()
        logits, target = orig_run(model, classifier, dataloader, *a, **k)
        times["images"] = time.perf_counter() - t
        captured.update(logits=logits, target=target, paths=[p for p, _ in dataloader.dataset.samples])
        return logits, target

    argv = ["clip_benchmark", "eval", "--dataset", "imagenet_sketch", "--dataset_root", str(data),
            "--model", arch, "--pretrained", str(ckpt), "--task", "zeroshot_classification",
            "--custom_classname_file", str(cls_file), "--custom_template_file", str(tpl_file),
            "--batch_size", str(batch_size), "--num_workers", str(num_workers), "--no_amp", "--quiet",
            "--output", str(out)]
    old_argv = sys.argv
    zc.zero_shot_classifier, zc.run_classification = clf, run_cls
    sys.argv = argv
    t = time.perf_counter()
    try:
        _, base = cli.get_parser_args()
        cli.main_eval(base)
    finally:
        sys.argv = old_argv
        zc.zero_shot_classifier, zc.run_classification = orig_clf, orig_run
    times["total"] = time.perf_counter() - t
    metrics = json.loads(out.read_text())["metrics"]
    root = Path(data)
    keys = [Path(p).relative_to(root).as_posix() for p in captured["paths"]]
    pred = captured["logits"].argmax(1)
    return dict(times=times, acc1=metrics["acc1"], pred=dict(zip(keys, pred.tolist())),
                cos=dict(zip(keys, (captured["logits"] / 100.0).tolist())), target=captured["target"])


def run_clipstudy(arch: str, ckpt: Path, data: Path, names: list[str], wnids: list[str], cache: Path,
                  batch_size: int, num_workers: int) -> dict:
    """clipstudy's public path: zoo.load(ARCH@PATH) -> datasets 'imagenet-sketch' -> zeroshot.run."""
    from clipstudy import datasets, encode, zoo, zeroshot
    from clipstudy.datasets import imagenet

    os.environ["CLIPSTUDY_CACHE"] = str(cache)
    times: dict[str, float] = {}
    orig_enc, orig_head = encode.encode_images, encode.zero_shot_head

    def enc(*a, **k):
        t = time.perf_counter()
        r = orig_enc(*a, **k)
        times["images"] = time.perf_counter() - t
        return r

    def head(*a, **k):
        t = time.perf_counter()
        r = orig_head(*a, **k)
        times["text"] = time.perf_counter() - t
        return r

    encode.encode_images, encode.zero_shot_head = enc, head
    t = time.perf_counter()
    try:
        loaded = zoo.load(f"{arch}@{ckpt}", "cpu")
        ds = datasets.load("imagenet-sketch", root=data, transform=loaded.preprocess)
        zs = zeroshot.run(loaded, ds, dataset_id=f"bench-sketch-{len(ds)}", prompts="openai80",
                          classnames=names, device="cpu", batch_size=batch_size, num_workers=num_workers,
                          progress=False)
        # the loader labels by ImageNet index; the head has only the classes present
        local = {imagenet.wnid_to_index()[w]: i for i, w in enumerate(wnids)}
        labels = torch.tensor([local[int(y)] for y in zs.labels])
        cos = zs.cosine
        pred = cos.argmax(1)
        acc1 = int((pred == labels).sum()) / len(labels)  # as clip_benchmark: a count over n, in float64
    finally:
        encode.encode_images, encode.zero_shot_head = orig_enc, orig_head
    times["total"] = time.perf_counter() - t
    return dict(times=times, acc1=acc1, pred=dict(zip(zs.encoded.keys, pred.tolist())),
                cos=dict(zip(zs.encoded.keys, cos.tolist())), from_cache=zs.encoded.from_cache,
                passes=zs.encoded.forward_passes, skipped=list(zs.encoded.skipped))


def check_same(a: dict, b: dict, n: int) -> float:
    """Same images, same predictions, same accuracy; returns the largest cosine difference."""
    assert not b["skipped"], b["skipped"]
    assert set(a["pred"]) == set(b["pred"]) and len(a["pred"]) == n, "the tools saw different images"
    diff = [k for k in a["pred"] if a["pred"][k] != b["pred"][k]]
    assert not diff, f"{len(diff)} predictions differ, e.g. {diff[:5]}"
    assert a["acc1"] == b["acc1"], (a["acc1"], b["acc1"])
    return max(abs(x - y) for k in a["cos"] for x, y in zip(a["cos"][k], b["cos"][k]))


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="ViT-B-32")
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--per-class", type=int, default=48)
    p.add_argument("--rounds", type=int, default=2, help="A B pairs per condition (cold, warm)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cb-workers", type=int, default=4, help="clip_benchmark's --num_workers (its default: 4)")
    p.add_argument("--workers", type=int, default=0, help="clipstudy's num_workers (its default: 0)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "clipstudy-bench"))
    a = p.parse_args(argv)

    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = make_sketch_folder(work / f"imagenet_sketch-{a.classes}x{a.per_class}", a.classes, a.per_class)
    ckpt = random_checkpoint(a.arch, work / f"{a.arch}-random-seed0.pt")
    wnids = sketch_wnids(a.classes)
    names, cls_file, tpl_file = class_setup(wnids, work)
    n = a.classes * a.per_class
    print(f"# clipstudy vs clip_benchmark: {a.arch} (random init, {ckpt}), {n} JPEGs ~400-500x300-400 px, "
          f"{a.classes} classes x 80 templates, batch {a.batch_size}")
    print("# " + machine())

    rows, max_diff = [], 0.0
    for cond in ("cold", "warm"):
        for r in range(a.rounds):
            # A: clip_benchmark (no cache of its own: cold and warm are the same work)
            A = run_clip_benchmark(a.arch, ckpt, data, cls_file, tpl_file, work / "cb-out.json",
                                   a.batch_size, a.cb_workers)
            # B: clipstudy; cold gets a fresh cache, warm reuses the cold round's cache
            cache = work / f"cache-round{r}"
            if cond == "cold":
                import shutil

                shutil.rmtree(cache, ignore_errors=True)
            B = run_clipstudy(a.arch, ckpt, data, names, wnids, cache, a.batch_size, a.workers)
            assert B["from_cache"] == (cond == "warm"), "warm run missed the cache (or cold run hit it)"
            max_diff = max(max_diff, check_same(A, B, n))
            for tool, R in (("clip_benchmark", A), ("clipstudy", B)):
                t = R["times"]
                rows.append(dict(cond=cond, round=r + 1, tool=tool, acc1=R["acc1"], total_s=t["total"],
                                 text_s=t.get("text", float("nan")), images_s=t.get("images", float("nan")),
                                 img_per_s_images=n / t["images"], img_per_s_total=n / t["total"]))
            print(f"  {cond} round {r + 1}: clip_benchmark {A['times']['total']:.1f}s, "
                  f"clipstudy {B['times']['total']:.1f}s  (acc1 {A['acc1']:.4f} == {B['acc1']:.4f})", flush=True)

    print()
    print(table(rows, floatfmt="{:.3f}"))
    summary = []
    for cond in ("cold", "warm"):
        for r in range(a.rounds):
            A = next(x for x in rows if x["cond"] == cond and x["round"] == r + 1 and x["tool"] == "clip_benchmark")
            B = next(x for x in rows if x["cond"] == cond and x["round"] == r + 1 and x["tool"] == "clipstudy")
            summary.append(dict(cond=cond, round=r + 1, cb_total_s=A["total_s"], cs_total_s=B["total_s"],
                                speedup_total=A["total_s"] / B["total_s"],
                                speedup_images=A["images_s"] / B["images_s"],
                                speedup_text=A["text_s"] / B["text_s"]))
    print()
    print(table(summary, floatfmt="{:.2f}"))
    print(f"\nall {len(rows) // 2} pairs: identical predictions on {n} images and identical acc1; "
          f"max |cosine difference| {max_diff:.2e}")
    return rows


if __name__ == "__main__":
    main()
