"""The lab half of the book goes through the study runner: the grid is what the axis modules declare, at the
profile's sizes, and the chapters' lab path then reads the runner's features without encoding anything."""
from __future__ import annotations

from clipstudy import axes
from clipstudy.book import chapters, grids
from clipstudy.lab import zoo as lab_zoo
from clipstudy.profiles import PROFILES, SMOKE_LAB


def test_lab_grid_is_every_recipe_and_seed_by_the_declared_sets():
    prof = PROFILES["smoke"]
    models, datasets = grids.lab_grid(prof, chapters.select(None))
    assert len(models) == len(lab_zoo.names()) * prof.lab.seeds == len(lab_zoo.names()) * len(lab_zoo.seeds(prof.lab)) \
        == len(set(models))
    assert "lab:base@smoke" in models and "lab:base#1@smoke" in models
    declared = {s for a in axes.REGISTRY.values() for s in a.lab}
    assert {"lab-val", "lab-factors", "lab-3dcc", "lab-ood", "lab-retrieval", "lab-cue-conflict"} <= declared
    assert sorted(datasets) == sorted(f"{s}:{prof.lab_n(s)}" for s in declared)
    assert f"lab-factors:{prof.n_factor_scenes}" in datasets and f"lab-3dcc:{prof.n_3dcc_scenes}" in datasets
    only = grids.lab_grid(prof, chapters.select("08"))[1]
    assert only == [f"lab-3dcc:{prof.n_3dcc_scenes}"]


def test_chapter_path_reads_the_runners_features(tmp_path, monkeypatch):
    import clipstudy.encode as enc
    from clipstudy import run
    from clipstudy.lab import evaluate as lab_eval

    out = run.run(["lab:base@smoke"], ["lab-val:20", "lab-factors:8"], prompts="lab-single,lab-ensemble",
                  lab_profile="smoke", study=tmp_path / "s", progress=False)
    assert out.summary.images_encoded == 20 + 8 * 11
    passes = []
    real = enc.encode_images
    monkeypatch.setattr(enc, "encode_images", lambda *a, **k: passes.append(real(*a, **k).forward_passes) or real(*a, **k))
    precision = enc.resolve_precision("auto", "cpu")  # what a chapter gets (Chapter.precision) and passes down
    for s, n in (("lab-val", 20), ("lab-factors", 8)):
        for prompts in ("single", "ensemble"):
            lab_eval.zero_shot("base", s, n=n, profile=SMOKE_LAB, prompts=prompts, precision=precision)
    assert passes and sum(passes) == 0  # every image came from the runner's store entries


def test_each_seed_is_its_own_model_in_the_runner(tmp_path):
    """`lab:base#1` is encoded with seed 1's weights: it cannot reuse seed 0's features."""
    from clipstudy import run

    out = run.run(["lab:base@smoke", "lab:base#1@smoke"], ["lab-val:13"], prompts="lab-single",  # 13: no other
                  lab_profile="smoke", study=tmp_path / "s", progress=False)  # test encodes this set
    assert out.summary.units_computed == 2 and out.summary.images_encoded == 2 * 13


def test_a_unit_never_files_another_models_weights(tmp_path, monkeypatch):
    """Had the model layer loaded seed 0 for `lab:base#1` (the old bug), the unit fails and writes nothing."""
    from clipstudy import run
    from clipstudy.models import registry
    from clipstudy.run import unit as unit_mod

    monkeypatch.setitem(registry.LOADERS, "lab",
                        lambda spec, device: lab_zoo.load(spec.arch, device=device, profile="smoke"))
    monkeypatch.setattr(unit_mod, "_LOADED", {})  # no model kept from an earlier test
    out = run.run(["lab:base#1@smoke"], ["lab-val:20"], prompts="lab-single", lab_profile="smoke",
                  study=tmp_path / "s", progress=False)
    assert out.summary.units_failed == 1 and out.summary.images_encoded == 0
    assert "not the planned model" in out.failed[0].error, out.failed[0].error
