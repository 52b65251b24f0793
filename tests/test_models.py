"""The model layer: a leaf spec module, a registry whose name forms come from a table each source fills,
curated data that `register` never drops, one collection parser, and prompts that do not depend on import order."""
from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from clipstudy import zoo
from clipstudy.models import collection, weights
from clipstudy.errors import UnknownNameError
from clipstudy.models import registry
from clipstudy.models.spec import Loaded, ModelSpec
from clipstudy.profiles import lab_profile

PKG = Path(__file__).resolve().parents[1] / "clipstudy"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_spec_is_a_leaf():
    tree = ast.parse((PKG / "models" / "spec.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("clipstudy") or m.startswith(".")], imported
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level], "a relative import"


def test_loaded_declares_its_identities():
    fields = {f.name for f in dataclasses.fields(Loaded)}
    assert {"weights_id", "transform_id"} <= fields
    spec = ModelSpec("x", "open_clip", "RN50")
    assert Loaded(object(), repr, None, spec).transform_id == repr(repr)[:2000]  # filled from the preprocess
    assert Loaded(object(), repr, None, spec, transform_id="t").transform_id == "t"


def test_register_before_the_first_get_keeps_the_curated_registry():
    """In a fresh process: register one model first, then every curated name is still there."""
    out = _run("from clipstudy import zoo\n"
               "from clipstudy.models.spec import ModelSpec\n"
               "zoo.register(ModelSpec('mine/x', 'open_clip', 'RN50', family='resnet'))\n"
               "names = zoo.names()\n"
               "assert 'mine/x' in names and 'RN50/openai' in names, names[:5]\n"
               "assert zoo.get('ViT-B-32/openai').data == 'openai-wit'\n"
               "print(len(names))")
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 60


def test_lab_prompts_exist_whatever_was_imported_first():
    out = _run("from clipstudy import prompts\n"
               "assert len(prompts.templates('lab-single')) == 1 and len(prompts.templates('lab-ensemble')) > 1\n"
               "import sys; assert 'clipstudy.lab.zoo' not in sys.modules")
    assert out.returncode == 0, out.stderr


def test_every_name_form_resolves_through_the_source_table():
    forms = {r.form for r in registry.RESOLVERS}
    assert {"ARCH/TAG", "ARCH@PATH", "local-dir:FOLDER", "timm:NAME", "lab:RECIPE[@PROFILE]",
            "llava:CHECKPOINT[@CLIP]", "hf-hub:ORG/REPO[@REVISION]"} <= forms
    # llava: LMMs, named here, run by lmm units; hf-hub: hub repos in open_clip's or transformers' format
    assert set(registry.LOADERS) == {"open_clip", "timm", "lab", "llava", "hf-hub"}
    assert zoo.get("llava:llava-1.5-7b").source == "llava"
    assert zoo.get("lab:base@smoke").source == "lab"
    assert zoo.get("RN50/random").data == "random-init"
    assert zoo.get("timm:resnet50.tv_in1k").source == "timm"
    with pytest.raises(UnknownNameError, match="model"):
        zoo.get("no-such-model")


def test_a_lab_name_loads_its_own_seed_and_profile(monkeypatch):
    """`lab:base#1@smoke` loads seed 1 under the smoke profile, not the registered seed under the default
    profile (the seed's interval would otherwise be computed from one model three times)."""
    from clipstudy.lab import zoo as lab_zoo

    asked = []
    monkeypatch.setenv("CLIPSTUDY_LAB_PROFILE", "smoke")  # the removed variable: no longer read by anything
    monkeypatch.setattr(lab_zoo, "load", lambda name, device="cpu", **kw: asked.append(name) or name)
    for name in ("lab:base#1@smoke", "lab:base#2", "lab:size-large@smoke", "lab:base"):
        zoo.load(name)
    parsed = [(lab_zoo.recipe(lab_zoo._split(a, None)[0]).seed, lab_zoo._split(a, None)[1]) for a in asked]
    assert parsed == [(1, "smoke"), (2, None), (0, "smoke"), (0, None)], asked
    assert lab_profile(None).name == "lab" and zoo.get("lab:base").name == "lab:base"
    assert zoo.get("lab:base@smoke").name == "lab:base@smoke"


def test_a_new_source_is_one_registration(monkeypatch):
    """A source registers a prefix, a loader and a lister; get/load/names then know its models."""
    monkeypatch.setattr(registry, "RESOLVERS", list(registry.RESOLVERS))
    monkeypatch.setattr(registry, "LOADERS", dict(registry.LOADERS))
    monkeypatch.setattr(registry, "LISTERS", dict(registry.LISTERS))
    toy = ModelSpec("toy:a", "toy", "a", family="other")
    registry.register_resolver("toy:NAME", lambda n: dataclasses.replace(toy, name=n), prefix="toy:")
    registry.register_source("toy", lambda s, d: Loaded("model", repr, None, s, d, weights_id="w"),
                             lister=lambda: [toy])
    assert zoo.get("toy:b").source == "toy" and "toy:a" in zoo.names()
    assert zoo.load("toy:a").weights_id == "w"
    assert collection.expand_models("@source=toy") == ["toy:a"]


def test_one_collection_parser():
    siglip = collection.expand_models("@loss=siglip")
    assert siglip == registry.expand(["@loss=siglip"])
    assert weights.expand(["@loss=siglip"]) == [n for n in siglip if zoo.get(n).source in ("open_clip", "timm")]
    assert collection.expand_models("@architecture=convnext") == collection.expand_models("@family=convnext")
    assert weights.expand(["@live"]) == collection.expand_models("@live")
    assert collection.expand_models("@lab") == [f"lab:{r}" for r in __import__("clipstudy.lab.zoo").lab.zoo.names()]
    with pytest.raises(UnknownNameError, match="@FIELD=VALUE"):
        collection.expand_models("@nothing")


def test_zoo_facade_keeps_the_public_names():
    for name in ("get", "load", "model_id", "names", "frame", "specs", "register", "REGISTRY", "FACTORS",
                 "NAME_FORMS", "ModelSpec", "Loaded", "open_clip_kwargs", "build_open_clip", "pretrained_tag",
                 "local_checkpoint", "checkpoint_problem", "family_of", "ClassifierAdapter"):
        assert getattr(zoo, name) is not None, name
    assert zoo.ClassifierAdapter.is_classifier
