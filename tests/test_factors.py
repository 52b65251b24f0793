"""One factor vocabulary: the registry, the records tags, the lab, the effects tables and the CLI agree."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from clipstudy import factors, zoo
from clipstudy.errors import UnknownNameError
from clipstudy.models import registry
from clipstudy.records import tags


def test_every_spelling_resolves_to_one_key():
    for key in factors.KEYS:
        assert factors.canonical(key) == key
        assert factors.canonical(factors.DISPLAY[key]) == key  # the effects tables' names
        assert factors.canonical(factors.COLUMN[key]) == key  # the frame columns
    assert factors.column("architecture") == factors.column("family") == "family"
    assert factors.column("resolution") == "resolution"
    with pytest.raises(UnknownNameError, match="architecture"):
        factors.canonical("architecure")


def test_effects_lab_and_registry_use_the_vocabulary():
    from clipstudy import effects
    from clipstudy.lab import zoo as lab_zoo

    assert effects.FACTORS == tuple(factors.DISPLAY[k] for k in factors.KEYS)
    assert set(effects.LAB_FACTORS) == set(lab_zoo.FACTORS) == set(factors.TRAINING)
    assert {r.factor for r in map(lab_zoo.recipe, lab_zoo.names())} - {"base"} <= set(factors.TRAINING)
    assert set(zoo.FACTORS) == {factors.COLUMN[k] for k in factors.TRAINING} | {"resolution"}


def test_registry_frame_sorts_by_any_spelling_of_a_factor():
    a, b = zoo.frame("architecture"), zoo.frame("family")
    assert list(a.columns[:2]) == ["name", "family"] and a.equals(b)
    assert list(a["family"]) == sorted(a["family"])


def test_cli_models_takes_the_factor_the_readme_shows():
    out = subprocess.run([sys.executable, "-m", "clipstudy.cli", "models", "--factor", "architecture"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    header = out.stdout.splitlines()[0].split()
    assert header[:2] == ["name", "family"]


def test_registry_rows_join_records_rows():
    """The registry's factor values for each curated model equal the records' tags of the same model, so the
    two tables join on family, data, loss and finetuned (and samples seen wherever the tag names it)."""
    cols = [factors.COLUMN[k] for k in ("architecture", "data", "loss", "finetuning")]
    reg = registry.REGISTRY.values()
    for s in reg:
        t = tags.open_clip_tags(s.arch, s.pretrained) if s.source == "open_clip" else tags.timm_tags(s.arch)
        assert {c: t[c] for c in cols} == {c: getattr(s, c) for c in cols}, s.name
        if s.source == "open_clip" and not math.isnan(t["samples_seen"]):
            assert math.isclose(t["samples_seen"], s.samples_seen, rel_tol=0.3), s.name  # tags round: s1b is 1.28B
        if t["data"] in factors.DATA_SIZES or s.data in factors.DATA_SIZES:
            assert s.data in factors.DATA_SIZES and t["dataset_size"] == factors.DATA_SIZES[s.data], s.name
    # and as frames: every curated open_clip model finds its records row on the factor columns
    import pandas as pd

    left = pd.DataFrame([s.row() for s in reg if s.source == "open_clip"])
    right = pd.DataFrame([dict(tags.open_clip_tags(s.arch, s.pretrained), name=s.name) for s in reg
                          if s.source == "open_clip"])
    joined = left.merge(right, on=["name"] + cols, how="inner")
    assert len(joined) == len(left)


def test_eva_and_dfn_have_one_spelling():
    assert zoo.get("EVA02-B-16/merged2b_s8b_b131k").family == tags.family_from_name("EVA02-B-16") == "vit"
    assert zoo.get("ViT-H-14/dfn5b").data == tags.parse_pretrained("dfn5b")["data"] == "dfn-5b"
    assert not {k for k in factors.DATA_SIZES if k.startswith("dfn") and "-" not in k}
