"""Chapter 09's live LLaVA through the study runner: `llava:` models are LMM units (their CLIP's zero-shot through
the engine, the two-choice questions it chooses and the LLaVA's answers, stored in the unit), the `lmm` axis turns
them into rows, and the chapter's live section reads those rows.

A tiny random LLaVA (tests/test_lmm.py's builder) and a tiny random CLIP on a fixture ImageNet-D: pipeline checks,
never findings (the random LLaVA names no ImageNet-D class, so its answers are NEITHER).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import fixtures_layouts as F
import runner_fixtures as R
from clipstudy import cli, results, run
from test_lmm import tiny_llava

SUMMARY = ("units_total", "units_computed", "units_reused", "units_failed", "images_encoded")


@pytest.fixture(scope="module")
def lmm_grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("run-lmm")
    F.make_imagenet_d(root / "data" / "imagenet-d")
    clip = R.tiny_local_dir(root / "clip", 0)
    return SimpleNamespace(data=root / "data", clip=clip, llava=tiny_llava(root / "llava"),
                           model=f"llava:{root / 'llava'}@{clip}")


@pytest.fixture
def env(lmm_grid, monkeypatch, tmp_path):
    monkeypatch.setenv("CLIPSTUDY_DATA", str(lmm_grid.data))
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return lmm_grid


def _run(tmp_path, name, *args):
    rc = cli.main(["run", "--quiet", "--axes", "lmm", "--prompts", "single", "--study", str(tmp_path / "study"),
                   "--summary-json", str(tmp_path / f"{name}.json"), *args])
    return rc, {k: v for k, v in json.loads((tmp_path / f"{name}.json").read_text()).items() if k in SUMMARY}


def test_a_llava_name_resolves_without_loading_and_is_no_encoder(env):
    from clipstudy import zoo
    from clipstudy.errors import ClipstudyError, UnknownNameError
    from clipstudy.models.sources import llava

    assert llava.split("llava:llava-1.5-7b") == ("llava-1.5-7b", "ViT-L-14-336/openai")
    assert llava.split("llava:llava-hf/llava-1.5-13b-hf")[1] == "ViT-L-14-336/openai"
    assert llava.split(f"llava:local-dir:{env.llava}@{env.clip}") == (str(env.llava), env.clip)
    spec = zoo.get(env.model)
    assert spec.source == "llava" and zoo.model_id(spec).startswith(env.model + "#")  # its files are hashed
    with pytest.raises(ClipstudyError, match="which CLIP"):
        zoo.get(f"llava:{env.llava}")
    with pytest.raises(UnknownNameError):
        zoo.get("llava:llava-9")
    with pytest.raises(ClipstudyError, match="--axes lmm"):
        zoo.load(env.model)


def test_llava_units_store_answers_rows_are_written_and_a_warm_rerun_computes_nothing(env, tmp_path):
    from clipstudy import datasets
    from clipstudy.axes import lmm as axis

    n = len(datasets.load("imagenet-d"))
    rc, cold = _run(tmp_path, "cold", "--models", env.model, "--datasets", "imagenet-d")
    assert rc == 0
    # one unit: the CLIP encodes each image once, the LLaVA answers each image's question once
    assert cold == dict(units_total=1, units_computed=1, units_reused=0, units_failed=0, images_encoded=2 * n)
    t = run.read(tmp_path / "study")
    assert set(t["axis"]) == {"lmm"} and set(t["model"]) == {env.model} and set(t["dataset"]) == {"imagenet-d"}
    assert set(t["metric"]) <= set(axis.METRICS) and {"clip_acc", "lmm_answered", "lmm_neither"} <= set(t["metric"])
    assert "all" in set(t["part"]) and set(t["part"]) <= {"right", "wrong", "all"}
    a = t[t["part"] == "all"].set_index("metric")
    assert a.loc["clip_acc", "n"] == n and 0 <= a.loc["clip_acc", "value"] <= 1
    assert np.isclose(a.loc["lmm_answered", "value"] + a.loc["lmm_both", "value"] + a.loc["lmm_neither", "value"], 1)
    # the unit holds the per-question frame (the LLaVA's answers) and its answer shards
    entry = next(p for p in (Path(tmp_path) / "cache" / "units").iterdir() if (p / "unit.json").exists())
    q = pd.read_parquet(entry / "questions-single.parquet")
    assert len(q) == n and {"key", "label", "other_label", "question", "answer", "match"} <= set(q.columns)
    assert json.loads((entry / "unit.json").read_text())["task"] == "lmm"
    rc, warm = _run(tmp_path, "warm", "--models", env.model, "--datasets", "imagenet-d")
    assert rc == 0 and warm == dict(units_total=1, units_computed=0, units_reused=1, units_failed=0, images_encoded=0)
    pd.testing.assert_frame_equal(run.read(tmp_path / "study"), t)
    # killed before its record: the next run resumes from the cached features and the finished answer shards
    (entry / "unit.json").unlink()
    (entry / "questions-single.parquet").unlink()
    rc, resumed = _run(tmp_path, "resumed", "--models", env.model, "--datasets", "imagenet-d")
    assert rc == 0 and resumed["units_computed"] == 1 and resumed["images_encoded"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(entry / "questions-single.parquet"), q)


def test_a_missing_checkpoint_or_a_set_without_labels_fails_its_unit_with_a_message(env, tmp_path, capsys):
    F.make_ood(env.data / "textures", "textures")
    missing = f"llava:{tmp_path / 'nowhere'}@{env.clip}"
    rc, s = _run(tmp_path, "s", "--models", f"{missing},{env.model}", "--datasets", "imagenet-d,textures")
    assert rc == 1 and s["units_total"] == 4 and s["units_computed"] == 1 and s["units_failed"] == 3
    units = pd.read_csv(tmp_path / "study" / "units.csv").set_index(["model", "dataset"])
    why = units.loc[(missing, "imagenet-d"), "error"]
    assert "config.json" in why and "huggingface-cli download" in why and str(tmp_path / "nowhere") in why
    assert "labelled classification set" in units.loc[(env.model, "textures"), "error"]
    assert "huggingface-cli download" in capsys.readouterr().err


def test_the_lmm_evaluator_scores_the_stored_answers_against_the_clip(tmp_path):
    """Hand-built outputs: the LMM's verdicts and the CLIP's logits give the rows' values exactly."""
    import torch

    from clipstudy import lmm
    from clipstudy.axes import Outputs
    from clipstudy.axes import lmm as axis
    from clipstudy.encode import Encoded
    from clipstudy.zeroshot import ZeroShot

    classes = ["cat", "dog", "bus"]
    labels = [0, 1, 2, 0]
    logits = torch.tensor([[3.0, 1, 0], [2, 1, 0], [0, 1, 3], [0, 2, 1]])  # right, wrong, right, wrong
    enc = Encoded(logits, torch.tensor(labels), list("abcd"))
    zs = ZeroShot("llava:x", "d", "single", enc, None, 1.0, classes)  # head None: the features are its logits
    q = lmm.with_answers(lmm.build_pairs(labels, logits, classes, keys=list("abcd")),
                         ["cat", "dog", "dog and bus", "no idea"])  # TRUE, TRUE, BOTH, NEITHER
    rows = axis.AXIS.rows(Outputs("llava:x", "d", "lmm", "single", zs, q), lambda o: None)
    got = {(r["part"], r["metric"]): (r["value"], r["n"]) for r in rows}
    assert got[("all", "lmm_acc")] == (1.0, 2) and got[("all", "clip_acc")] == (0.5, 4)
    assert got[("all", "gain")] == (0.5, 4) and got[("all", "lmm_neither")] == (0.25, 4)
    assert got[("wrong", "lmm_acc")] == (1.0, 1) and got[("wrong", "clip_acc")] == (0.0, 2)
    assert got[("right", "lmm_both")] == (0.5, 2)
    # paired over the two TRUE/FALSE answers: "a" both right, "b" the LMM right only
    assert got[("all", "paired_gain")] == (0.5, 2) and got[("all", "lmm_only")] == (0.5, 2)
    assert got[("all", "clip_only")] == (0.0, 2) and got[("wrong", "paired_gain")] == (1.0, 1)
    assert got[("right", "paired_gain")] == (0.0, 1)
    assert axis.AXIS.rows(Outputs("m", "d", "classification", "single", zs, q), lambda o: None) == []


def test_chapter_09_live_reads_the_lmm_rows(tmp_path, monkeypatch):
    from clipstudy import chapter
    from clipstudy.axes import lmm as axis
    from clipstudy.config import PROFILES

    rows = [dict(model=f"llava:{c}", dataset="imagenet-d", axis="lmm", part=p, metric=m, value=v, n=10,
                 prompts="openai80", precision="fp16")
            for c, base in (("llava-1.5-7b", 0.6), ("llava-1.5-13b", 0.7))
            for p, d in (("right", 0.2), ("wrong", 0.0), ("all", 0.1))
            for m, v in (("lmm_acc", base + d), ("clip_acc", 1.0 if p == "right" else 0.0 if p == "wrong" else 0.5),
                         ("gain", base), ("lmm_answered", 0.9), ("paired_gain", 0.1), ("lmm_only", 0.3),
                         ("clip_only", 0.2))]
    rows.append(dict(rows[0], axis="shifts", metric="top1"))  # another axis' rows are not read
    results.write_study(tmp_path / "live", pd.DataFrame(rows))
    shown, found = [], []
    monkeypatch.setattr(chapter, "notice", lambda title, body: shown.append(title))
    monkeypatch.setattr(chapter, "finding", lambda text, **k: found.append(text.format(**k)))
    monkeypatch.setattr(axis, "show", lambda: None)
    ch = chapter.Chapter(axis.AXIS.chapter, tmp_path, "live", axis=axis.AXIS, params=PROFILES["live"])
    lg = axis.live(ch)
    assert not shown and sorted(set(lg["checkpoint"])) == ["llava-1.5-13b", "llava-1.5-7b"]
    w = lg[lg["clip_full"] == "wrong"].set_index("checkpoint")
    assert w.loc["llava-1.5-7b", "acc_lmm"] == 0.6 and w.loc["llava-1.5-13b", "acc_clip"] == 0.0
    assert (tmp_path / "live_gains.csv").exists() or any(tmp_path.rglob("live_gains.csv"))
    assert found and "2 LLaVA checkpoints" in found[0] and "0.650" in found[0]
    # the claims page's live C4 row reads the paired shares and their n from this table
    assert (lg["n_scored"] == 10).all()
    c4 = axis.live_lmm_gain(axis.LIVE_GAINS.read(tmp_path))
    assert c4["checkpoints"] == 2 and c4["effect"] == pytest.approx(0.1) and c4["ci_low"] < 0.1 < c4["ci_high"]
    # no live rows: one notice, nothing estimated
    shown.clear()
    empty = tmp_path / "empty"
    results.write_study(empty / "live", pd.DataFrame([rows[-1]]))
    assert axis.live(chapter.Chapter(axis.AXIS.chapter, empty, "live", axis=axis.AXIS, params=PROFILES["live"])) is None
    assert shown == ["Live models or data missing"]
