"""`clipstudy export predictions`: a study's per-image predictions from the store, round-tripped through the
readers of each format (clipstudy's model-vs-human loader, the imagenet_x package's own loader)."""
from __future__ import annotations

from pathlib import Path

import fixtures_layouts as F
import numpy as np
import pandas as pd
import pytest
import runner_fixtures as R

from clipstudy import cli, export, records, run


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One tiny random CLIP run over miniature ImageNet val (real file names), cue-conflict and edge stimuli."""
    root = tmp_path_factory.mktemp("export")
    data = root / "data"
    F.make_imagenet(data / "imagenet", n_classes=3)
    F.make_cue_conflict(data / "cue-conflict")
    F.make_plain_stimuli(data / "edges")
    model = R.tiny_local_dir(root / "m0", 0)
    mp = pytest.MonkeyPatch()
    mp.setenv("CLIPSTUDY_DATA", str(data))
    mp.setenv("CLIPSTUDY_CACHE", str(tmp_path_factory.getbasetemp() / "clipstudy-cache"))  # the tests' (conftest)
    out = run.run([model], ["imagenet", "cue-conflict", "edges"], axes="shifts,shape", prompts="single",
                  study=root / "study", progress=False, device="cpu", precision="fp32")
    assert out.exit_code == 0, [r.error for r in out.failed]
    yield root / "study", model, out
    mp.undo()


def test_csv_is_one_tidy_row_per_image_and_agrees_with_the_results_table(study, tmp_path):
    folder, model, out = study
    assert cli.main(["export", "predictions", "--study", str(folder), "--format", "csv", "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "predictions.csv")
    assert set(df.dataset) == {"imagenet", "cue-conflict", "edges"} and set(df.model) == {model}
    assert not df.duplicated(["model", "dataset", "prompts", "key"]).any()
    assert df.predicted_probability.between(0, 1).all()
    res = run.read(folder, axis="shifts", dataset="imagenet", metric="top1")
    assert df[df.dataset == "imagenet"].correct.mean() == pytest.approx(res.value.iloc[0])
    acc16 = run.read(folder, axis="shape", dataset="cue-conflict", metric="accuracy16").value.iloc[0]
    cue = df[df.dataset == "cue-conflict"]
    assert (cue.predicted_name == cue.label_name).mean() == pytest.approx(acc16)
    from clipstudy.datasets import cue_conflict

    assert set(cue.predicted_name) <= set(cue_conflict.CATEGORIES) and set(cue["shape"]) == {"cat", "knife", "truck"}


def test_model_vs_human_raw_data_round_trips_through_the_records_loader(study, tmp_path):
    folder, model, _ = study
    dest = tmp_path / "records" / "model_vs_human"
    assert cli.main(["export", "predictions", "--study", str(folder), "--format", "model-vs-human",
                     "--out", str(dest)]) == 0
    stem = export.stem(model)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.csv"))
    assert files == [f"raw-data/cue-conflict/cue-conflict_{stem}_session-1.csv",
                     f"raw-data/edge/edge_{stem}_session-1.csv"]
    raw = pd.read_csv(dest / files[0])
    assert list(raw.columns) == export.MVH_COLUMNS and list(raw.trial) == [1, 2, 3, 4]
    back = records.decisions.load_model_vs_human(root=tmp_path)
    assert set(back.model) == {stem} and set(back.dataset) == {"cue-conflict", "edge"}
    cue = back[back.dataset == "cue-conflict"].set_index("image")
    assert sorted(cue.index) == ["cat1-elephant1.png", "cat2-cat3.png", "knife1-bird2.png", "truck4-clock10.png"]
    assert cue.loc["knife1-bird2.png", "shape"] == "knife" and cue.loc["knife1-bird2.png", "texture"] == "bird"
    preds = pd.concat(export.frames(folder, datasets=("cue-conflict",)))
    want = dict(zip([Path(k).name for k in preds.key], preds.predicted_name))
    assert cue["decision"].to_dict() == want and set(cue.condition) == {"0"}


def test_imagenet_x_predictions_round_trip_through_the_imagenet_x_loader(study, tmp_path, monkeypatch):
    """imagenet_x's loader scores all 50,000 val images: the study's few are refused with the count; predictions
    for every val file name (what a full run's units give; made here without encoding 50,000 images) are
    written in its order and read back by `imagenet_x.utils.load_model_predictions` unchanged."""
    from imagenet_x.utils import load_model_predictions

    from clipstudy.datasets.imagenet import val_labels

    folder, model, _ = study
    n = len(pd.concat(export.frames(folder, datasets=("imagenet",))))
    with pytest.raises(Exception, match=f"predictions for {n} of the 50,000 ImageNet val images"):
        export.export(folder, "imagenet-x", tmp_path / "partial")
    assert not (tmp_path / "partial").exists()

    labels = val_labels()
    names = list(labels)[::-1]  # any order in: the file is written in the loader's
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 1000, len(names))
    pred[:20000] = [labels[n] for n in names[:20000]]
    full = pd.DataFrame({"model": model, "dataset": "imagenet", "prompts": "single", "precision": "fp32",
                         "key": names, "label": [labels[n] for n in names], "label_name": "",
                         "predicted_class": pred, "predicted_name": "", "file_name": names,
                         "predicted_probability": rng.random(len(names))})
    monkeypatch.setattr(export, "frames", lambda *a, **k: iter([full]))
    assert cli.main(["export", "predictions", "--study", str(folder), "--format", "imagenet-x",
                     "--out", str(tmp_path / "x")]) == 0
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [f"{export.stem(model)}.csv"]
    models, top1 = load_model_predictions(str(tmp_path / "x"))
    got = models[export.stem(model)]
    assert list(got.columns) == ["predicted_class", "predicted_probability"]
    want = full.set_index("file_name").loc[got.index]
    assert (got.predicted_class.to_numpy() == want.predicted_class.to_numpy()).all()
    assert np.allclose(got.predicted_probability, want.predicted_probability)
    assert top1[export.stem(model)] == pytest.approx((full.predicted_class == full.label).mean())


def test_export_says_what_is_missing(study, tmp_path):
    with pytest.raises(Exception, match="no units.csv"):
        export.export(tmp_path, "csv", tmp_path / "out")
    assert cli.main(["export", "predictions", "--study", str(tmp_path), "--format", "csv"]) == 2
