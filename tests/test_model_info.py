"""`--model-info FILE.csv`: declared factors, validated up front, laid over every resolved spec; a declared
fine-tuned model and its parent form a fine-tuning pair where chapter 04 builds its live contrast (claim C3)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from clipstudy import comparison, zoo
from clipstudy.axes import shape_bias
from clipstudy.models import info

PARENT, FT, OTHER = "RN50/random", "ViT-B-32/random", "RN101/random"  # names that resolve without weights


@pytest.fixture
def declared(tmp_path, monkeypatch):
    """Write a model-info CSV and declare it for this process (as the CLI does); the variable is unset again after
    the test (set empty first, so monkeypatch's undo removes what `info.use` sets)."""
    monkeypatch.setenv(info.ENV, "")

    def write(text: str, use: bool = True) -> Path:
        p = tmp_path / "models.csv"
        p.write_text(text)
        if use:
            info.use(p)
        return p

    yield write


def test_declared_factors_overlay_the_config_and_unknown_stays_unknown(declared):
    before, before_parent = zoo.get(FT), zoo.get(PARENT)
    declared(f"model,family,data,samples_seen,finetuned,loss,parent\n"
             f"{FT},vit,my-xrays,1.2e6,true,clip,{PARENT}\n{PARENT},,laion2b,,,,\n")
    ft, parent = zoo.get(FT), zoo.get(PARENT)
    assert (ft.data, ft.samples_seen, ft.finetuned, ft.parent) == ("my-xrays", 1.2e6, True, PARENT)
    assert parent.data == "laion2b" and parent.family == before_parent.family and not parent.finetuned
    assert ft.name == before.name and zoo.model_id(ft) == zoo.model_id(before)  # factors never change the features
    table = zoo.factor_table([FT, PARENT, OTHER])
    assert list(table.columns) == ["model", "family", "data", "samples_seen", "finetuned", "loss", "parent", "revision"]
    assert table.set_index("model").loc[FT, "parent"] == PARENT and table.set_index("model").loc[OTHER, "parent"] == ""


def test_a_declared_pair_enters_the_fine_tuning_contrast(declared, monkeypatch):
    """Chapter 04's live C3 contrast pairs each fine-tuned CLIP with its parent (`zero_shot_parent`) and takes the
    shape-bias difference: a declared pair is one such pair, an undeclared model is none."""
    models = [FT, PARENT, OTHER]
    assert shape_bias.zero_shot_parent(FT, models) is None  # nothing declared: random weights have no parent
    declared(f"model,finetuned,parent\n{FT},true,{PARENT}\n")
    assert shape_bias.zero_shot_parent(FT, models) == PARENT
    assert shape_bias.zero_shot_parent(FT, [FT, OTHER]) is None  # its parent is not in the grid
    assert shape_bias.zero_shot_parent(PARENT, models) is None and shape_bias.zero_shot_parent(OTHER, models) is None

    class Effects:
        def extend(self, rows):
            return list(rows)

    class Chapter:
        effects = Effects()
        params = SimpleNamespace(live_prompts="single")

    # the pair's per-image comparison is comparison.table's (tested in test_comparison); here: which pair it gets
    seen = []
    monkeypatch.setattr(comparison, "_live_units", lambda ch, models, sets: models)

    def paired(a, b, units, prompts, n_boot):
        seen.append((a, b))
        return pd.DataFrame({"metric": ["shape_bias"], "difference": [-0.25], "se": [0.05], "n": [4]})

    monkeypatch.setattr(comparison, "table", paired)
    live_sb = pd.DataFrame({"model": models, "dataset": "cue-conflict", "shape_bias": [0.30, 0.55, 0.40]})
    rows = comparison.finetune_pairs(Chapter(), live_sb)
    assert seen == [(FT, PARENT)]
    assert len(rows) == 1 and rows[0]["factor"] == "fine-tuning" and rows[0]["source"] == "live"
    assert rows[0]["effect"] == pytest.approx(-0.25) and rows[0]["n"] == 4


@pytest.mark.parametrize("text, why", [
    ("name,family\nx,vit\n", "expected model and any of"),
    ("model,family,colour\nRN50/random,vit,red\n", r"unknown: colour"),
    ("model,family\nRN50/random,transformer\n", "line 2: family 'transformer' is not one of vit, resnet"),
    ("model,loss\nRN50/random,triplet\n", "loss 'triplet' is not one of clip, siglip, coca"),
    ("model,samples_seen\nRN50/random,lots\n", "samples_seen 'lots' is not a positive number"),
    ("model,finetuned\nRN50/random,maybe\n", "finetuned 'maybe' is not true or false"),
    ("model,finetuned\nRN50/random,true\n", "declared fine-tuned; name its parent"),
    ("model,parent\nRN50/random,RN50/random\n", "cannot be its own parent"),
    ("model,data\nRN50/random,a\nRN50/random,b\n", "line 3: RN50/random is declared twice"),
    ("model,data\n", "no rows"),
])
def test_a_bad_file_is_a_clear_error_naming_its_line(declared, text, why):
    path = declared(text, use=False)
    with pytest.raises(info.ModelInfoError, match=why):
        info.read(path)


def test_the_cli_validates_it_before_any_work(declared, tmp_path):
    bad = declared("model,family\nRN50/random,transformer\n", use=False)
    for cmd in (["eval", "RN50/random", "lab-val", "--out", str(tmp_path / "out")],
                ["run", "--models", "RN50/random", "--datasets", "lab-val", "--study", str(tmp_path / "s")],
                ["build", "--profile", "smoke", "--out", str(tmp_path / "b"), "--no-html"]):
        p = subprocess.run([sys.executable, "-m", "clipstudy.cli", *cmd, "--model-info", str(bad)],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 2, (cmd, p.stderr[-2000:])
        assert "family 'transformer' is not one of" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "s").exists() and not (tmp_path / "b").exists()
