"""Issue 17.3: which forward-pass options pay on this machine, measured side by side (rounds interleaved).

A random ViT-B-32 image tower on pre-decoded 224 px batches (the engine's forward, without the loader).
Variants against the engine's current setting (fp32, batch 64, all threads, inference_mode; open_clip's
attention already takes PyTorch's fused MHA fast path, i.e. scaled-dot-product attention, at inference):
batch 16/32/128, channels_last, 1 thread, MHA fast path (SDPA) off, bf16 autocast, torch.compile.
Each round runs every variant once in turn, so shared load hits all of them; the table gives img/s per
round and the ratio to the current setting within the round. torch.compile's one-off compile time is
reported separately (it is paid on every cold process, before the first image).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402

import torch  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--images", type=int, default=128, help="images per variant per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="all", help="comma-separated subset of the variant names, or all")
    a = ap.parse_args(argv)

    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(a.arch, pretrained=None).eval()
    x = torch.randn(a.images, 3, 224, 224)
    threads = torch.get_num_threads()

    def fwd(m, bs=64, cl=False, bf16=False):
        def run():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                for s in range(0, len(x), bs):
                    b = x[s:s + bs]
                    if cl:
                        b = b.contiguous(memory_format=torch.channels_last)
                    m.encode_image(b)
        return run

    def with_threads(n, fn):
        def run():
            old = torch.get_num_threads()
            torch.set_num_threads(n)
            try:
                fn()
            finally:
                torch.set_num_threads(old)
        return run

    def no_fastpath(fn):
        def run():
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                fn()
            finally:
                torch.backends.mha.set_fastpath_enabled(True)
        return run

    variants = {
        "current (fp32, batch 64)": fwd(model),
        "batch 16": fwd(model, 16),
        "batch 32": fwd(model, 32),
        "batch 128": fwd(model, 128),
        "channels_last": None,
        "1 thread": with_threads(1, fwd(model)),
        "MHA fast path (SDPA) off": no_fastpath(fwd(model)),
        "bf16 autocast": fwd(model, bf16=True),
        "torch.compile": None,
    }
    if a.variants != "all":
        keep = {"current (fp32, batch 64)"} | set(a.variants.split(","))
        variants = {k: v for k, v in variants.items() if k in keep}
    extra = []
    if "channels_last" in variants:
        import copy

        m_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
        variants["channels_last"] = fwd(m_cl, cl=True)
    if "torch.compile" in variants:
        t = time.perf_counter()
        try:
            compiled = torch.compile(model)
            fwd(compiled, 64)()  # compile (and the first pass)
            extra.append(f"torch.compile: first call (compile + {a.images} images) {time.perf_counter() - t:.1f} s")
            variants["torch.compile"] = fwd(compiled)
        except Exception as e:  # no compiler toolchain: say so
            extra.append(f"torch.compile failed: {type(e).__name__}: {str(e)[:200]}")
            variants.pop("torch.compile")

    print(f"# engine_options.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}")
    fwd(model)()  # warm-up
    rows = []
    for r in range(a.rounds):
        base = None
        load = os.getloadavg()[0]
        for name, fn in variants.items():
            t = time.perf_counter()
            fn()
            s = time.perf_counter() - t
            base = base or s
            rows.append(dict(round=r + 1, load=load, variant=name, img_per_s=a.images / s, vs_current=base / s))
            print(f"  round {r + 1} {name}: {a.images / s:.1f} img/s", file=sys.stderr, flush=True)
    print(table(rows, floatfmt="{:.2f}"))
    for e in extra:
        print(e)
    print(f"threads: {threads}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
