"""The precision policy (encode.resolve_precision) with injected hardware, its plumbing into the cache key,
result rows, the runner's plan, `clipstudy build --precision` and lab training. Precision is resolved at the
entries and passed down explicitly: no environment variable carries it, and the engine's functions refuse `auto`."""
from __future__ import annotations

import json

import os
from pathlib import Path

import pytest
import torch

from clipstudy import encode
from clipstudy.cache import FeatureCache
from clipstudy.errors import ClipstudyError, UnknownNameError
from clipstudy.profiles import SMOKE_LAB

ICE_LAKE = {"avx2", "avx512f", "avx512bw", "avx512_vnni", "torch:AVX512"}  # AVX512 without native bf16
SAPPHIRE = ICE_LAKE | {"amx_tile", "amx_bf16", "avx512_bf16"}
GENOA = ICE_LAKE | {"avx512_bf16"}


@pytest.mark.parametrize("flags,want", [
    (SAPPHIRE, "bf16"), (GENOA, "bf16"), ({"amx_bf16"}, "bf16"), ({"torch:AMX"}, "bf16"),
    (ICE_LAKE, "fp32"), ({"avx2", "fma", "torch:AVX2"}, "fp32"), (set(), "fp32"), ({"asimd", "bf16"}, "fp32"),
])
def test_auto_on_cpu_is_bf16_only_with_native_bf16(flags, want):
    assert encode.resolve_precision("auto", "cpu", cpu=flags) == want


@pytest.mark.parametrize("cuda_bf16,want", [(True, "bf16"), (False, "fp16")])
def test_auto_on_cuda_is_bf16_else_fp16_whatever_the_cpu(cuda_bf16, want):
    for flags in (SAPPHIRE, ICE_LAKE):
        assert encode.resolve_precision("auto", "cuda:0", cpu=flags, cuda_bf16=cuda_bf16) == want


def test_explicit_precisions_pass_through_and_unknown_names_fail():
    for p in ("fp32", "bf16", "fp16"):
        assert encode.resolve_precision(p, "cpu", cpu=SAPPHIRE) == p
        assert encode.resolve_precision(p, "cpu", cpu=ICE_LAKE) == p
    with pytest.raises(UnknownNameError):
        encode.resolve_precision("half", "cpu")


def test_no_environment_variable_changes_what_auto_means(monkeypatch):
    """The old pin (CLIPSTUDY_PRECISION) is gone: set, it changes nothing; the resolver reads the hardware only."""
    assert not hasattr(encode, "PRECISION_ENV")
    monkeypatch.setenv("CLIPSTUDY_PRECISION", "fp32")
    assert encode.resolve_precision("auto", "cpu", cpu=SAPPHIRE) == "bf16"
    monkeypatch.setenv("CLIPSTUDY_PRECISION", "bf16")
    assert encode.resolve_precision("auto", "cpu", cpu=ICE_LAKE) == "fp32"
    monkeypatch.setenv("CLIPSTUDY_PRECISION", "bfloat")
    assert encode.resolve_precision("fp16", "cpu", cpu=ICE_LAKE) == "fp16"


def test_the_engine_takes_a_resolved_precision_and_refuses_auto():
    """autocast, encode_images, encode_texts and zero_shot_head take what an entry resolved: `auto` there is a
    clear error naming the resolver, never resolved again below the entry."""
    model, ds = _tiny(), _Images()
    tok = lambda texts: torch.randint(1, 99, (len(texts), 16))  # noqa: E731
    calls = [lambda: encode.autocast("cpu", "auto"),
             lambda: encode.encode_images(model, ds, model_id="tiny", dataset_id="imgs", weights="w",
                                          precision="auto", progress=False),
             lambda: encode.encode_texts(model, tok, ["a", "b"], precision="auto"),
             lambda: encode.zero_shot_head(model, tok, ["a"], ["{}"], precision="auto")]
    for call in calls:
        with pytest.raises(ClipstudyError, match="resolve_precision"):
            call()
    with pytest.raises(UnknownNameError):
        encode.autocast("cpu", "half")
    with pytest.raises(TypeError):  # no default: every caller passes the value its entry resolved
        encode.encode_texts(model, tok, ["a"])


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads Linux /proc/cpuinfo")
def test_detection_reads_this_cpus_flags():
    text = Path("/proc/cpuinfo").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(("flags", "Features")))
    native = bool({"amx_bf16", "avx512_bf16"} & set(line.split(":", 1)[1].split()))
    if not native:  # torch's own dispatch level may still report AMX
        native = any("AMX" in f or "BF16" in f for f in encode.cpu_flags() if f.startswith("torch:"))
    assert encode.cpu_has_bf16() is native
    assert encode.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")


def test_autocast_runs_matmuls_in_the_resolved_dtype():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with encode.autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with encode.autocast("cpu", "fp32"):
        assert (a @ b).dtype == torch.float32


def _tiny():
    import open_clip

    torch.manual_seed(0)
    return open_clip.CLIP(embed_dim=16, vision_cfg=dict(layers=1, width=32, head_width=16, patch_size=8, image_size=16),
                          text_cfg=dict(context_length=16, vocab_size=100, width=32, heads=2, layers=1)).eval()


class _Images(torch.utils.data.Dataset):
    def __init__(self, n=6):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, 16, 16, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], i % 2, f"img{i}"


def test_precision_is_in_the_feature_key_and_the_entry(tmp_path):
    cache, model, ds = FeatureCache(tmp_path), _tiny(), _Images()
    kw = dict(model_id="tiny", dataset_id="imgs", weights="w", cache=cache, progress=False)
    f32 = encode.encode_images(model, ds, precision="fp32", **kw)
    b16 = encode.encode_images(model, ds, precision="bf16", **kw)
    assert not b16.from_cache and b16.key != f32.key and b16.forward_passes == len(ds)
    assert encode.encode_images(model, ds, precision="fp32", **kw).from_cache
    assert cache.meta(b16.key)["precision"] == "bf16" and cache.meta(f32.key)["precision"] == "fp32"
    cos = (f32.features * b16.features).sum(-1)
    assert (cos > 0.99).all() and not torch.equal(f32.features, b16.features)  # a different computation
    # `auto`, resolved at the entry, is keyed by what it resolved to, never by the word "auto"
    auto = encode.encode_images(model, ds, precision=encode.resolve_precision("auto", "cpu"), **kw)
    assert auto.from_cache and auto.key == (b16.key if encode.resolve_precision("auto", "cpu") == "bf16" else f32.key)


def test_zero_shot_rows_record_the_resolved_precision(tmp_path, monkeypatch):
    from clipstudy import zeroshot, zoo

    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path))
    model = _tiny()
    loaded = zoo.Loaded(model, lambda x: x, lambda texts: torch.randint(1, 99, (len(texts), 16)),
                        zoo.ModelSpec(name="tiny", source="test", arch="tiny"))
    ds = _Images()
    ds.classnames = ["a", "b"]
    for asked, got in (("bf16", "bf16"), ("fp32", "fp32"), ("auto", encode.resolve_precision("auto", "cpu"))):
        res = zeroshot.run(loaded, ds, dataset_id="imgs", prompts="single", device="cpu", precision=asked,
                           progress=False)
        assert set(res.tidy()["precision"]) == {got}


def test_the_runner_plans_cpu_units_under_this_machines_policy(monkeypatch):
    from clipstudy.run import plan as _plan_fn  # noqa: F401 (the package exports plan())
    import importlib

    plan = importlib.import_module("clipstudy.run.plan")

    monkeypatch.setattr(encode, "cpu_has_bf16", lambda flags=None: True)
    assert plan.precision_key("auto", "cpu") == "bf16"
    monkeypatch.setattr(encode, "cpu_has_bf16", lambda flags=None: False)
    assert plan.precision_key("auto", "cpu") == "fp32"
    assert plan.precision_key("bf16", "cpu") == "bf16" and plan.precision_key("auto", "cuda") == "auto"


class _Stop(Exception):
    pass


def test_build_precision_pins_the_chapters_and_restores(monkeypatch, tmp_path):
    """`build --precision bf16` reaches the chapters as their papermill parameter only: nothing is set in
    os.environ (during the build or after), and an auto build gives them the resolved value."""
    from clipstudy import book, cli

    seen = []
    before = dict(os.environ)

    def params(*a, **k):
        seen.append((book.chapters.parameters.__wrapped__(*a, **k)["params"]["precision"],
                     {n: v for n, v in os.environ.items() if n.startswith("CLIPSTUDY_") and before.get(n) != v}))
        raise _Stop

    params.__wrapped__ = book.chapters.parameters
    monkeypatch.setattr(book.chapters, "parameters", params)
    with pytest.raises(_Stop):
        book.build("smoke", out=tmp_path, fetch=False, device="cpu", precision="bf16")
    assert seen == [("bf16", {})] and "CLIPSTUDY_PRECISION" not in os.environ
    with pytest.raises(_Stop):
        book.build("smoke", out=tmp_path, fetch=False, device="cpu")
    assert seen[1] == (encode.resolve_precision("auto", "cpu"), {})
    assert dict(os.environ) == before
    with pytest.raises(UnknownNameError):
        book.build("smoke", out=tmp_path, fetch=False, precision="half")
    for cmd in (["build"], ["eval", "m", "d"], ["run", "--models", "m", "--datasets", "d"]):
        a = cli.parser().parse_args(cmd + ["--precision", "bf16"])
        assert a.precision == "bf16"
        with pytest.raises(SystemExit):
            cli.parser().parse_args(cmd + ["--precision", "int8"])


def test_lab_training_follows_the_policy_and_keys_its_models(monkeypatch):
    """The lab's own training policy (fp32 while TRAIN_AUTOCAST is off), asked otherwise explicitly (the
    profile's train_precision: lab.zoo.train/load(precision=...)), never through the environment."""
    from clipstudy.lab import train as T
    from clipstudy.lab import zoo as lab_zoo

    r, p = lab_zoo.recipe("base"), SMOKE_LAB
    monkeypatch.setattr(T, "TRAIN_AUTOCAST", True)
    monkeypatch.setattr(encode, "cpu_has_bf16", lambda flags=None: False)
    assert T.train_precision() == "fp32"
    k32 = lab_zoo.model_key(r, p)
    monkeypatch.setattr(encode, "cpu_has_bf16", lambda flags=None: True)
    assert T.train_precision() == "bf16" and T.train_precision("fp32") == "fp32" and T.train_precision("fp16") == "fp32"
    kb16 = lab_zoo.model_key(r, p)
    assert kb16 != k32
    monkeypatch.setattr(T, "TRAIN_AUTOCAST", False)
    assert T.train_precision() == "fp32" and lab_zoo.model_key(r, p) == k32
    monkeypatch.setenv("CLIPSTUDY_PRECISION", "bf16")  # the removed pin: no effect on training
    assert T.train_precision() == "fp32" and lab_zoo.model_key(r, p) == k32
    pb = lab_zoo.with_precision(p, "bf16")  # asked explicitly: a zoo of its own
    assert pb.train_precision == "bf16" and lab_zoo.model_key(r, pb) == kb16 and lab_zoo.with_precision(p, None) is p
    assert lab_zoo.model_key(r, lab_zoo.with_precision(p, "fp16")) == k32  # fp16 trains in fp32
    with pytest.raises(UnknownNameError):
        lab_zoo.with_precision(p, "half")


def test_lab_train_takes_its_precision_explicitly(monkeypatch):
    """`clipstudy lab train --precision bf16` asks lab.zoo.train for it; the default is the lab's policy."""
    from clipstudy import cli
    from clipstudy.lab import zoo as lab_zoo

    asked = []
    monkeypatch.setattr(lab_zoo, "train", lambda recipes, profile=None, precision=None, **k: asked.append(precision))
    for extra, want in (([], "auto"), (["--precision", "bf16"], "bf16")):
        a = cli.parser().parse_args(["lab", "train", "base", "--profile", "smoke"] + extra)
        a.fn(a)
        assert asked[-1] == want
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["lab", "train", "--precision", "int8"])


def test_bf16_training_step_runs_the_forward_in_bf16_and_keeps_fp32_weights():
    from clipstudy.lab import train as T
    from clipstudy.lab.captions import CONTEXT_LENGTH

    model = T.build_clip("vit", image_size=16)
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8)
    tokens = torch.randint(1, 50, (16, 1, CONTEXT_LENGTH))
    dtypes = []
    h = model.visual.transformer.resblocks[0].mlp.c_fc.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    hist = T.train_clip(model, images, tokens, steps=2, batch_size=8, progress=False,
                        preprocess=T.Preprocess(size=16), precision="bf16")
    h.remove()
    assert set(dtypes) == {torch.bfloat16} and all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(hist.losses)))


def test_parallel_lab_training_gives_the_weights_of_sequential_training(tmp_path, monkeypatch):
    from clipstudy.lab import zoo as lab_zoo

    from clipstudy.lab import llava

    shas = {}
    for workers in (1, 2):  # a mini-LLaVA on base#0 trains in the same schedule, once its CLIP exists
        monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / f"w{workers}"))
        df = lab_zoo.train(["size-small", "finetuned#0"], profile="smoke", progress=False, workers=workers,
                           after=llava.zoo_jobs([("base", 0)], SMOKE_LAB))
        assert len(df) == 3  # size-small under both smoke seeds, and finetuned (its parent base trains too)
        assert llava.is_cached("base", SMOKE_LAB, 0)
        shas[workers] = sorted(df["sha256"]) + [json.loads((llava.cache_dir("base", SMOKE_LAB, 0) / "meta.json")
                                                           .read_text())["sha256"]]
    assert shas[1] == shas[2]


def test_build_resolves_once_and_passes_the_resolved_precision_to_the_chapters(monkeypatch, tmp_path):
    """The build's entry resolves precision once; the chapters' papermill parameters hold the resolved value
    (never "auto"), and an auto build sets no environment variable for precision or profile."""
    from clipstudy import book

    calls, seen = [], []
    real = encode.resolve_precision

    def counting(precision, device, **k):
        calls.append((precision, device))
        return real(precision, device, cpu=(), **k)  # a CPU without native bf16: auto is fp32

    def params(*a, **k):
        seen.append((book.chapters.parameters.__wrapped__(*a, **k), {v for n, v in os.environ.items()
                                                            if n in ("CLIPSTUDY_PRECISION", "CLIPSTUDY_LAB_PROFILE")}))
        raise _Stop

    params.__wrapped__ = book.chapters.parameters
    monkeypatch.setattr(encode, "resolve_precision", counting)
    monkeypatch.setattr(book.chapters, "parameters", params)
    monkeypatch.delenv("CLIPSTUDY_LAB_PROFILE", raising=False)
    with pytest.raises(_Stop):
        book.build("smoke", out=tmp_path, fetch=False, device="cpu")
    assert calls == [("auto", "cpu")]
    (p, env), = seen
    assert p["params"]["precision"] == "fp32" and not env
    with pytest.raises(_Stop):
        book.build("smoke", out=tmp_path, fetch=False, device="cpu", precision="bf16")
    assert seen[-1][0]["params"]["precision"] == "bf16"


def test_a_chapter_takes_precision_as_a_parameter(monkeypatch, tmp_path):
    from clipstudy import axes, chapter

    ax = axes.of_chapter("01_introduction")
    monkeypatch.setattr(chapter, "notice", lambda *a, **k: None)
    ch = chapter.start(ax, profile="smoke", device="cpu", precision="bf16", results_dir=tmp_path)
    assert ch.precision == "bf16"
    monkeypatch.setattr(encode, "cpu_has_bf16", lambda flags=None: False)
    assert chapter.start(ax, profile="smoke", device="cpu", results_dir=tmp_path).precision == "fp32"


def test_units_carry_the_resolved_precision_and_heads_lock_on_it(monkeypatch):
    """A CPU unit is planned with the resolved precision (in its key and its field); the worker resolves once
    and the shared head's lock names the resolved precision, never "auto"."""
    from clipstudy import store
    from clipstudy.run import unit as U

    monkeypatch.setattr(encode, "cpu_has_bf16", lambda flags=None: False)
    p = __import__("clipstudy.run.plan", fromlist=["plan"]).plan(["RN50/random"], ["lab-val:8"], axes="shifts",
                                                                   prompts="lab-single", device="cpu",
                                                                   lab_profile="smoke")
    (u,) = p.units
    assert u.precision == "fp32"
    locks = []
    monkeypatch.setattr(store, "head_lock_key", lambda m, c, pr, prec: locks.append(prec) or store.Key.of("x", m))
    monkeypatch.setattr(store, "locked", lambda path: __import__("contextlib").nullcontext())
    monkeypatch.setattr(encode, "zero_shot_head", lambda *a, **k: locks.append(k["precision"]))

    class L:
        spec, model, tokenizer, weights_id = __import__("clipstudy.zoo", fromlist=["get"]).get("RN50/random"), \
            None, None, "w"

    U._head_once(u, L, ["a", "b"], "lab-single", "cpu", "fp32")
    assert locks == ["fp32", "fp32"]
