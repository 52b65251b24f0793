"""`clipstudy.api.evaluate` returns what `clipstudy run` writes, and `clipstudy export results --format
clip_benchmark` writes files that CLIP_benchmark's own `build` merges (tiny random CLIP: pipeline checks only)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import runner_fixtures as R

from clipstudy import api, cli, export, run, zoo

DATASETS = ["imagenet", "coco-5k"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A tiny CLIP and a CLIPSTUDY_DATA with miniature ImageNet val and a COCO Karpathy test split; the grid run
    once through the CLI into `cli-study`."""
    root = tmp_path_factory.mktemp("api")
    data = R.data_root(root / "data")
    model = R.tiny_local_dir(root / "m0", 0)
    mp = pytest.MonkeyPatch()
    mp.setenv("CLIPSTUDY_DATA", str(data))
    mp.setenv("CLIPSTUDY_CACHE", str(tmp_path_factory.getbasetemp() / "clipstudy-cache"))  # the tests' (conftest)
    p = subprocess.run([sys.executable, "-m", "clipstudy.cli", "run", "--models", model, "--datasets", *DATASETS,
                        "--axes", "shifts,retrieval", "--prompts", "single", "--precision", "fp32", "--device", "cpu",
                        "--study", str(root / "cli-study"), "--quiet"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    yield root, model
    mp.undo()


def test_api_evaluate_returns_what_clipstudy_run_writes(grid):
    root, model = grid
    df = api.evaluate([model], DATASETS, axes="shifts,retrieval", prompts="single", study=root / "api-study",
                      precision="fp32", device="cpu", progress=False)
    written = run.read(root / "cli-study")
    assert len(df) and set(df["axis"]) == {"shifts", "retrieval"} and df.attrs["failed"] == {}
    key = ["model", "dataset", "axis", "part", "metric", "prompts", "precision"]
    a, b = df.sort_values(key).reset_index(drop=True), written.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert list(df.columns) == list(run.read(root / "api-study").columns)  # the table's own columns, revision too
    assert set(df["revision"]) == {""}  # a local folder has no hub revision


def test_clip_benchmark_build_merges_the_export(grid, tmp_path):
    pytest.importorskip("clip_benchmark", reason="clip-benchmark is not installed (benchmarks/requirements.txt "
                                                 "installs it): its own `build` is the reference here")
    root, model = grid
    out = tmp_path / "cb"
    assert cli.main(["export", "results", "--study", str(root / "cli-study"), "--format", "clip_benchmark",
                     "--prompts", "single", "--out", str(out)]) == 0
    name, pretrained = export.model_and_pretrained(model)
    assert name == zoo.get(model).arch and pretrained == zoo.model_id(zoo.get(model)).rpartition("#")[2]
    stem = export.stem(name)
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == [f"imagenet1k_{pretrained}_{stem}_en_zeroshot_classification.json",
                     f"mscoco_captions_{pretrained}_{stem}_en_zeroshot_retrieval.json"]
    csv = tmp_path / "benchmark.csv"
    code = ("import sys; from clip_benchmark.cli import main; "
            f"sys.argv = ['clip_benchmark', 'build', *{[str(p) for p in sorted(out.glob('*.json'))]!r}, "
            f"'--output', {str(csv)!r}]; main()")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    bench = pd.read_csv(csv).set_index("dataset")
    res = run.read(root / "cli-study")
    top1 = res[(res.dataset == "imagenet") & (res.metric == "top1")].value.item()
    assert bench.loc["imagenet1k", "acc1"] == pytest.approx(top1)
    assert bench.loc["imagenet1k", "task"] == "zeroshot_classification"
    assert bench.loc["imagenet1k", "model_fullname"] == f"{name} {pretrained}"
    preds = pd.concat(export.frames(root / "cli-study"))
    preds = preds[preds.dataset == "imagenet"]
    per_class = preds.assign(hit=preds.label == preds.predicted_class).groupby("label")["hit"].mean()
    assert bench.loc["imagenet1k", "mean_per_class_recall"] == pytest.approx(per_class.mean())  # brute force
    t2i = res[(res.dataset == "coco-5k") & (res.part == "text→image") & (res.metric == "recall@5")].value.item()
    assert bench.loc["mscoco_captions", "image_retrieval_recall@5"] == pytest.approx(t2i)
    assert bench.loc["mscoco_captions", "task"] == "zeroshot_retrieval"
    run_ = json.loads((out / files[0]).read_text())
    assert set(run_) == {"dataset", "model", "pretrained", "task", "metrics", "language", "prompts"}
    assert set(run_["metrics"]) == {"acc1", "acc5", "mean_per_class_recall"} and run_["language"] == "en"


def test_an_export_under_prompts_the_study_lacks_says_what_it_has(grid, tmp_path):
    root, _ = grid
    from clipstudy.errors import ClipstudyError

    with pytest.raises(ClipstudyError, match="no zero-shot accuracy under prompts 'openai80' \\(it has single\\)"):
        export.export_results(root / "cli-study", "clip_benchmark", tmp_path, prompts="openai80")
