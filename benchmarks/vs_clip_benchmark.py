"""clipstudy vs clip_benchmark, side by side: the same zero-shot classification, timed A B A B.

Two models, each loaded by both tools from the same files on disk:
- `vit`: a random-initialised ViT-B-32 saved as an open_clip checkpoint (clip_benchmark
  `--model ViT-B-32 --pretrained PATH`, clipstudy `ViT-B-32@PATH`), on generated JPEGs, with
  ImageNet class names and the 80 OpenAI templates. Random weights: its accuracy is chance.
- `lab`: the trained lab CLIP `base`, exported with `clipstudy lab export` as an open_clip
  `local-dir:` folder (config, weights, the lab tokenizer), which clip_benchmark loads with
  `--model local-dir:DIR`; on the lab-val renders saved as PNGs, with the lab class names and the
  lab's 8 zero-shot templates (its 96-word tokenizer knows few words of the OpenAI 80).
Both read the same ImageFolder in the ImageNet-Sketch layout (clip_benchmark's `imagenet_sketch`
loader, clipstudy's `imagenet-sketch` family) with the same class names and templates.

Two settings (`--settings`), each cold and warm, A B A B in one process:
- `defaults`: each tool as its users run it. clip_benchmark's default `--amp` is `torch.autocast(device)`,
  which on CPU is bf16 autocast; clipstudy's `auto` is bf16 only where the CPU reports native bf16
  (AMX-BF16 / AVX512-BF16) and fp32 elsewhere. The computations may differ, so the check is prediction
  agreement >= 99% (`--min-agreement`), not equality.
- `fp32`: both in fp32 (clip_benchmark `--no_amp`, clipstudy `--precision fp32`): predictions must agree
  image by image and accuracies exactly.
The script stops with an AssertionError when a check fails. A pipeline and speed comparison, not a finding.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/vs_clip_benchmark.py                # ~5 min on 2 quiet cores
    .venv/bin/python benchmarks/vs_clip_benchmark.py --models vit --rounds 1 --per-class 16   # quick look

"cold" = fresh clipstudy cache; "warm" = clipstudy's second run on the same cache.
clip_benchmark keeps no zero-shot cache, so each of its rounds recomputes everything.
The load average is printed with every pair: only ratios within a pair are comparable.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import lab_sketch_folder, machine, make_sketch_folder, random_checkpoint, sketch_wnids, table

import torch


def imagenet_names(wnids: list[str]) -> list[str]:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    from clipstudy.datasets import imagenet

    return [IMAGENET_CLASSNAMES[imagenet.wnid_to_index()[w]] for w in wnids]


def class_setup(names: list[str], prompts_name: str, workdir: Path) -> tuple[Path, Path]:
    """clipstudy's prompt set `prompts_name`, written as clip_benchmark's custom json files, checked equal."""
    from clipstudy import prompts

    ours = prompts.templates(prompts_name)
    # clip_benchmark formats "{c}" templates; clipstudy fills its templates (lambdas or "{}" strings)
    cb_templates = [t("{c}") if callable(t) else t.replace("{}", "{c}") for t in ours]
    for c in names:
        filled = [t(c) if callable(t) else t.format(c) for t in ours]
        assert [t.format(c=c) for t in cb_templates] == filled, f"prompts differ for {c!r}"
    workdir.mkdir(parents=True, exist_ok=True)
    cls_file, tpl_file = workdir / "classnames.json", workdir / "templates.json"
    cls_file.write_text(json.dumps({"imagenet_sketch": names}))
    tpl_file.write_text(json.dumps({"imagenet_sketch": cb_templates}))
    return cls_file, tpl_file


def run_clip_benchmark(model: str, pretrained: str, data: Path, cls_file: Path, tpl_file: Path, out: Path,
                       batch_size: int, num_workers: int, amp: bool = False) -> dict:
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
            "--model", model, "--pretrained", pretrained, "--task", "zeroshot_classification",
            "--custom_classname_file", str(cls_file), "--custom_template_file", str(tpl_file),
            "--batch_size", str(batch_size), "--num_workers", str(num_workers), "--quiet",
            "--output", str(out)] + ([] if amp else ["--no_amp"])  # amp is its default (there is no --amp flag)
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


def run_clipstudy(model: str, prompts_name: str, data: Path, names: list[str], wnids: list[str], cache: Path,
                  batch_size: int, num_workers: int, precision: str = "auto") -> dict:
    """clipstudy's public path: zoo.load(ARCH@PATH or local-dir:DIR) -> datasets 'imagenet-sketch' -> zeroshot.run."""
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
        loaded = zoo.load(model, "cpu")
        ds = datasets.load("imagenet-sketch", root=data, transform=loaded.preprocess)
        zs = zeroshot.run(loaded, ds, dataset_id=f"bench-{data.name}-{len(ds)}", prompts=prompts_name,
                          classnames=names, device="cpu", batch_size=batch_size, num_workers=num_workers,
                          precision=precision, progress=False)
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
                passes=zs.encoded.forward_passes, skipped=list(zs.encoded.skipped), precision=zs.precision)


def agreement(a: dict, b: dict, n: int) -> float:
    """The share of images on which both tools predict the same class (same images required)."""
    assert not b["skipped"], b["skipped"]
    assert set(a["pred"]) == set(b["pred"]) and len(a["pred"]) == n, "the tools saw different images"
    return sum(a["pred"][k] == b["pred"][k] for k in a["pred"]) / n


def check_same(a: dict, b: dict, n: int) -> float:
    """Same images, same predictions, same accuracy; returns the largest cosine difference."""
    assert agreement(a, b, n) == 1.0, \
        f"predictions differ, e.g. {[k for k in a['pred'] if a['pred'][k] != b['pred'][k]][:5]}"
    assert a["acc1"] == b["acc1"], (a["acc1"], b["acc1"])
    return max_cos_diff(a, b)


def max_cos_diff(a: dict, b: dict) -> float:
    return max(abs(x - y) for k in a["cos"] for x, y in zip(a["cos"][k], b["cos"][k]))


SETTINGS = {  # name -> (clip_benchmark amp, clipstudy precision, exact check)
    "defaults": (True, "auto", False),
    "fp32": (False, "fp32", True),
}


def cases(a: argparse.Namespace, work: Path) -> list[dict]:
    """The models compared: what each tool is given to load it, and its data, class names and prompts."""
    out = []
    if "vit" in a.models:
        ckpt = random_checkpoint(a.arch, work / f"{a.arch}-random-seed0.pt")
        data = make_sketch_folder(work / f"imagenet_sketch-{a.classes}x{a.per_class}", a.classes, a.per_class)
        wnids = sketch_wnids(a.classes)
        out.append(dict(model=f"{a.arch} random", cb_model=a.arch, cb_pretrained=str(ckpt), cs_model=f"{a.arch}@{ckpt}",
                        data=data, names=imagenet_names(wnids), wnids=wnids, prompts="openai80",
                        about=f"{a.classes * a.per_class} JPEGs ~400-500x300-400 px, {a.classes} classes x 80 templates"))
    if "lab" in a.models:
        from clipstudy.lab import export

        folder = export.export(a.lab_recipe, work / f"lab-{a.lab_recipe}", profile="lab", force=True)
        data, names, wnids = lab_sketch_folder(work / "lab_sketch-lab-val", "lab-val", "lab")
        n = sum(1 for _ in data.glob("*/*.png"))
        out.append(dict(model=f"lab:{a.lab_recipe} (trained)", cb_model=f"local-dir:{folder}", cb_pretrained="",
                        cs_model=f"local-dir:{folder}", data=data, names=names, wnids=wnids,
                        prompts="lab-ensemble", about=f"{n} lab-val PNGs 64 px, {len(names)} classes x 8 templates"))
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["vit", "lab"], choices=["vit", "lab"])
    p.add_argument("--arch", default="ViT-B-32")
    p.add_argument("--lab-recipe", default="base", help="lab CLIP recipe (trained on first use, lab profile)")
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--per-class", type=int, default=48)
    p.add_argument("--rounds", type=int, default=2, help="A B pairs per condition (cold, warm)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cb-workers", type=int, default=4, help="clip_benchmark's --num_workers (its default: 4)")
    p.add_argument("--workers", default="auto", type=lambda s: s if s == "auto" else int(s),
                   help="clipstudy's num_workers (its default: auto)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "clipstudy-bench"))
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--min-agreement", type=float, default=0.99, help="defaults setting: least prediction agreement")
    a = p.parse_args(argv)

    from clipstudy.encode import resolve_precision

    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, " + machine())
    print(f"# clipstudy auto on this CPU = {resolve_precision('auto', 'cpu')}; clip_benchmark --amp = bf16 autocast")
    rows, checks = [], {}
    for case in cases(a, work):
        n = sum(1 for f in case["data"].glob("*/*") if f.is_file())
        cls_file, tpl_file = class_setup(case["names"], case["prompts"], work / f"classes-{case['data'].name}")
        print(f"# {case['model']}: {case['about']}, batch {a.batch_size}", flush=True)
        for setting in a.settings:
            amp, precision, exact = SETTINGS[setting]
            check = checks.setdefault((case["model"], setting), dict(max_diff=0.0, min_agreement=1.0, exact=exact))
            for cond in ("cold", "warm"):
                for r in range(a.rounds):
                    load = os.getloadavg()[0]
                    # A: clip_benchmark (no cache of its own: cold and warm are the same work)
                    A = run_clip_benchmark(case["cb_model"], case["cb_pretrained"], case["data"], cls_file, tpl_file,
                                           work / "cb-out.json", a.batch_size, a.cb_workers, amp=amp)
                    # B: clipstudy; cold gets a fresh cache, warm reuses the cold round's cache
                    cache = work / f"cache-{case['data'].name}-{setting}-round{r}"
                    if cond == "cold":
                        import shutil

                        shutil.rmtree(cache, ignore_errors=True)
                    B = run_clipstudy(case["cs_model"], case["prompts"], case["data"], case["names"], case["wnids"],
                                      cache, a.batch_size, a.workers, precision=precision)
                    assert B["from_cache"] == (cond == "warm"), "warm run missed the cache (or cold run hit it)"
                    agree = agreement(A, B, n)
                    check["min_agreement"] = min(check["min_agreement"], agree)
                    check["max_diff"] = max(check["max_diff"], check_same(A, B, n) if exact else max_cos_diff(A, B))
                    assert exact or agree >= a.min_agreement, \
                        f"{case['model']} {setting}: prediction agreement {agree:.4f} < {a.min_agreement}"
                    for tool, R in (("clip_benchmark", A), ("clipstudy", B)):
                        t = R["times"]
                        rows.append(dict(model=case["model"], setting=setting, cond=cond, round=r + 1, tool=tool,
                                         precision=("bf16 (amp)" if amp else "fp32") if tool == "clip_benchmark"
                                         else B["precision"], acc1=R["acc1"], total_s=t["total"],
                                         text_s=t.get("text", float("nan")), images_s=t.get("images", float("nan")),
                                         img_per_s_images=n / t["images"], img_per_s_total=n / t["total"],
                                         load=load, agreement=agree))
                    print(f"  {setting} {cond} round {r + 1} (load {load:.1f}): clip_benchmark {A['times']['total']:.1f}s, "
                          f"clipstudy {B['times']['total']:.1f}s  (acc1 {A['acc1']:.4f} / {B['acc1']:.4f}, "
                          f"agreement {agree:.4f})", flush=True)

    print()
    print(table(rows, floatfmt="{:.3f}"))
    summary = []
    for model, setting in dict.fromkeys((x["model"], x["setting"]) for x in rows):
        for cond in ("cold", "warm"):
            for r in range(a.rounds):
                A, B = (next(x for x in rows if x["model"] == model and x["setting"] == setting and x["cond"] == cond
                             and x["round"] == r + 1 and x["tool"] == tool) for tool in ("clip_benchmark", "clipstudy"))
                summary.append(dict(model=model, setting=setting, cond=cond, round=r + 1, load=A["load"],
                                    cb_total_s=A["total_s"], cs_total_s=B["total_s"],
                                    speedup_total=A["total_s"] / B["total_s"],
                                    speedup_images=A["images_s"] / B["images_s"],
                                    speedup_text=A["text_s"] / B["text_s"], agreement=A["agreement"]))
    print()
    print(table(summary, floatfmt="{:.2f}"))
    for (model, setting), c in checks.items():
        if c["exact"]:
            print(f"\n{model}, {setting}: all {2 * a.rounds} pairs gave identical predictions on every image and "
                  f"identical acc1; max |cosine difference| {c['max_diff']:.2e}")
        else:
            print(f"\n{model}, {setting}: lowest prediction agreement over {2 * a.rounds} pairs {c['min_agreement']:.4f} "
                  f"(>= {a.min_agreement}); max |cosine difference| {c['max_diff']:.2e}")
    return rows


if __name__ == "__main__":
    main()
