"""Lab training: a miniature recipe really learns; the model cache never loads a damaged file;
bad recipe, factor and profile names get clear errors."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from clipstudy import zeroshot
from clipstudy.download import sha256_file
from clipstudy.errors import UnknownNameError
from clipstudy.lab import train as T
from clipstudy.lab import zoo as lab_zoo
from clipstudy.lab.world import SHAPES
from clipstudy.profiles import LAB, SMOKE_LAB, LabProfile

# An easy 6-class world (plain-ish backgrounds, no occluder, texture follows shape), 32 px.
KEEP = ("sphere", "cube", "torus", "table", "cone", "dumbbell")
MINI = lab_zoo.Recipe("test-mini", arch="vit", world=(
    ("backgrounds", ("plain", "gradient")), ("held_out", tuple(s for s in SHAPES if s not in KEEP)),
    ("occluder_p", 0.0), ("shape_texture_corr", 1.0)))
MINI_PROFILE = LabProfile("test-mini", chunk=384, chunks=(("small", 1), ("medium", 1), ("large", 1)),
                          steps=(("small", 5), ("medium", 150), ("large", 5)), batch_size=64, lr=3e-3,
                          ft_steps=30, ft_lr=1e-3, image_size=32)
# Two optimiser steps on 32 images: enough to exercise caching, not learning.
TINY_PROFILE = dataclasses.replace(MINI_PROFILE, name="test-tiny", chunk=32,
                                   steps=(("small", 2), ("medium", 2), ("large", 2)), ft_steps=2)


@pytest.fixture(scope="module")
def mini():
    lab_zoo.register_recipe(MINI)
    lab_zoo.register_recipe(dataclasses.replace(MINI, name="test-mini-ft", factor="finetuning", finetuned=True))
    yield
    lab_zoo.RECIPES.pop("test-mini", None)
    lab_zoo.RECIPES.pop("test-mini-ft", None)


def test_miniature_recipe_learns_above_chance(mini):
    from clipstudy.lab import sets

    loaded = lab_zoo.load("test-mini", profile=MINI_PROFILE, progress=False)
    rec = loaded.extra["record"]
    for k in ("seed", "steps", "samples_seen", "wall_s", "final_loss", "sha256"):
        assert k in rec
    assert rec["steps"] == 150 and rec["samples_seen"] == 150 * 64
    val = sets.build("lab-val", MINI.config(), n=240)  # fresh scenes (seed 2), not training chunks
    chance = 1 / len(val.classnames)
    res = zeroshot.run(loaded, val.dataset(loaded.preprocess), dataset_id="lab-val-mini", prompts="lab-single",
                       classnames=val.classnames, progress=False)
    assert res.accuracy() > 2 * chance, f"zero-shot top1 {res.accuracy():.3f} vs chance {chance:.3f}"

    # fine-tuning starts from this CLIP's zero-shot head and keeps (or improves) accuracy
    ft = lab_zoo.load("test-mini-ft", profile=MINI_PROFILE, progress=False)
    assert ft.is_classifier and ft.tokenizer is None
    res_ft = zeroshot.run(ft, val.dataset(ft.preprocess), dataset_id="lab-val-mini", classnames=val.classnames,
                          progress=False)
    assert res_ft.logits.shape == (240, len(KEEP))
    assert res_ft.accuracy() > 2 * chance


def test_cache_reloads_and_retrains_damaged_files(mini):
    first = lab_zoo.load("test-mini", profile=TINY_PROFILE, progress=False)
    pt, js = lab_zoo.paths("test-mini", TINY_PROFILE)
    assert pt.exists() and js.exists()
    again = lab_zoo.load("test-mini", profile=TINY_PROFILE, progress=False)
    assert again.weights_id == first.weights_id  # loaded, not retrained
    assert first.weights_id.startswith("lab:test-mini@") and first.transform_id == repr(first.preprocess)
    assert not hasattr(first.model, "weights_id")  # declared on Loaded, never patched onto the module
    assert json.loads(js.read_text())["trained_at"] == first.extra["record"]["trained_at"]

    # a truncated weights file no longer matches its record: retrained, never loaded
    pt.write_bytes(pt.read_bytes()[:100])
    assert lab_zoo.record("test-mini", TINY_PROFILE) is None
    with pytest.warns(UserWarning, match="does not match"):
        pt.write_bytes(b"garbage")
        js.write_text(json.dumps(dict(first.extra["record"])))
        fixed = lab_zoo.load("test-mini", profile=TINY_PROFILE, progress=False)
    assert torch.load(pt, weights_only=False)["key"] == lab_zoo.model_key(MINI, TINY_PROFILE)
    assert fixed.extra["record"]["sha256"] == sha256_file(pt)

    # weights without a record (an interrupted write) are discarded
    js.unlink()
    assert not lab_zoo.is_trained("test-mini", TINY_PROFILE)
    assert not pt.exists()

    # a readable file whose record was forged to match, but with foreign content, is rejected too
    lab_zoo.load("test-mini", profile=TINY_PROFILE, progress=False)
    from clipstudy.store import atomic_save

    atomic_save(dict(state_dict={}, key="someone-else"), pt)
    rec = json.loads(js.read_text())
    rec["sha256"] = sha256_file(pt)
    js.write_text(json.dumps(rec))
    with pytest.warns(UserWarning, match="unusable"):
        lab_zoo.load("test-mini", profile=TINY_PROFILE, progress=False)
    assert torch.load(pt, weights_only=False)["key"] == lab_zoo.model_key(MINI, TINY_PROFILE)


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="arch-vit"):
        lab_zoo.recipe("arch-vt")
    with pytest.raises(UnknownNameError, match="lab recipe"):
        lab_zoo.load("no-such-recipe")
    with pytest.raises(UnknownNameError, match="architecture"):
        lab_zoo.frame("archi")
    with pytest.raises(UnknownNameError, match="resnet"):
        lab_zoo.variant("x", "architecture", arch="resnt")
    with pytest.raises(UnknownNameError, match="siglip"):
        lab_zoo.variant("x", "loss", loss="sigmoid")
    with pytest.raises(UnknownNameError, match="large"):
        lab_zoo.variant("x", "size", size="huge")
    with pytest.raises(UnknownNameError, match="shape_texture_corr"):
        lab_zoo.variant("x", "data", world=dict(shape_texture_cor=0.3))
    with pytest.raises(UnknownNameError, match="clutter"):
        lab_zoo.variant("x", "data", world=dict(backgrounds=("plain", "cluter")))
    with pytest.raises(ValueError, match="shape_texture_corr"):
        lab_zoo.variant("x", "data", world=dict(shape_texture_corr=1.5))
    with pytest.raises(UnknownNameError, match="smoke"):
        lab_zoo.load("base@smoek")


def test_zoo_registry_and_specs():
    df = lab_zoo.frame()
    zoo_names = {"base", "arch-vit", "arch-convnext", "data-corr-high", "data-corr-low", "data-diverse",
                 "data-narrow", "size-small", "size-large", "finetuned", "loss-siglip"}
    assert zoo_names <= set(df.recipe)
    base = df.set_index("recipe").loc["base"]
    # every recipe of the zoo differs from base in one factor (other tests may register miniature recipes)
    cols = ["arch", "loss", "shape_texture_corr", "backgrounds", "styles", "size", "finetuned"]
    for _, row in df[df.recipe.isin(zoo_names - {"base"})].iterrows():
        assert (row[cols] != base[cols]).sum() >= 1, row.recipe
        assert row.factor != "base"
    specs = {s.arch: s for s in lab_zoo.specs(SMOKE_LAB)}
    assert specs["arch-vit"].family == "vit" and specs["base"].family == "resnet" and specs["loss-siglip"].loss == "siglip"
    assert specs["finetuned"].finetuned and specs["base"].source == "lab"
    assert specs["size-large"].samples_seen > specs["base"].samples_seen > specs["size-small"].samples_seen
    assert "corr=0.9" in specs["data-corr-high"].data
    from clipstudy import prompts

    assert len(prompts.templates("lab-single")) == 1 and len(prompts.templates("lab-ensemble")) > 1


@pytest.mark.parametrize("arch", T.ARCHS)
def test_architectures_have_matched_budgets_and_train(arch):
    counts = {a: T.param_counts(a)["vision"] for a in T.ARCHS}
    assert max(counts.values()) / min(counts.values()) < 1.25, counts
    for loss in T.LOSSES:
        torch.manual_seed(0)
        m = T.build_clip(arch, loss, image_size=32)
        x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        from clipstudy.lab import captions

        tok = captions.tokenizer(["a red cube."] * 8).view(8, 1, -1)
        h = T.train_clip(m, x, tok, steps=2, batch_size=8, progress=False, preprocess=T.Preprocess(size=32))
        assert h.samples_seen == 16 and len(h.losses) == 2 and all(map(lambda v: v == v, h.losses))
        assert (getattr(m, "logit_bias", None) is not None) == (loss == "siglip")


def test_preprocess_accepts_uint8_float_and_pil():
    from PIL import Image

    pp = T.Preprocess(size=32)
    u8 = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    a = pp(u8)
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32
    b = pp(Image.fromarray(u8.permute(1, 2, 0).numpy()))
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(pp(u8[None].float() / 255)[0], a, atol=1e-5)


def test_zoo_schedule_starts_the_longest_chains_first_and_waits_for_parents(tmp_path, monkeypatch):
    """The lab zoo's one schedule (lab.zoo._jobs, _run_jobs) on the real lab profile's missing zoo: the ViTs (three
    times base's steps) and base (three fine-tunes and a mini-LLaVA wait on it) start first, no fine-tune or LMM
    starts before its parent has finished, and a failing job raises after the running ones finish."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path))  # nothing trained: every model is missing
    p = LAB
    todo = [r for n in lab_zoo.names() if not n.startswith("test-") for r in lab_zoo.seeded(n, p)]  # the defaults
    from clipstudy.lab import llava

    jobs = lab_zoo._jobs(todo, p, llava.zoo_jobs([("base", 0), ("arch-vit", 0)], LAB))
    by = {j.name: j for j in jobs}
    assert len(jobs) == len(todo) + 2
    first = sorted(jobs, key=lambda j: -j.rank)[:4]
    assert {j.arg[0].name for j in first} == {"arch-vit"} | {"base"}, [j.name for j in first]
    ft = [j for j in jobs if j.fn is lab_zoo._train_one and j.arg[0].finetuned]
    assert len(ft) == 9 and all(len(j.after) == 1 and j.after[0] in by for j in ft)

    order, lock = [], __import__("threading").Lock()

    def fake(arg):
        with lock:
            order.append(("start", arg))
        with lock:
            order.append(("end", arg))

    fakes = [dataclasses.replace(j, fn=fake, arg=(j.name,)) for j in jobs]
    with ThreadPoolExecutor(2) as pool:
        lab_zoo._run_jobs(pool, fakes, 2, "test", progress=False)
    started = [a[0] for what, a in order if what == "start"]
    ended = {a[0]: i for i, (what, a) in enumerate(order) if what == "end"}
    assert sorted(started) == sorted(by)
    for j in fakes:
        for parent in j.after:  # a job starts only after what it waits on has ended
            assert ended[parent] < order.index(("start", (j.name,)))

    def boom(arg):
        if arg[0] == fakes[0].name:
            raise FloatingPointError("loss became nan")

    with ThreadPoolExecutor(2) as pool, pytest.raises(FloatingPointError, match="nan"):
        lab_zoo._run_jobs(pool, [dataclasses.replace(j, fn=boom) for j in fakes], 2, "test", progress=False)
