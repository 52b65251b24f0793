"""The study runner (`clipstudy run`): the store key, collections, plan/execute/evaluate on every executor
(in-process, submitit's local executor with real subprocess jobs, a local Ray instance), and its reliability:
warm re-runs, SIGKILL mid-unit, two concurrent runs, Ctrl-C, failing units, and the SLURM dry run.

Random-initialised tiny CLIPs and a smoke-profile lab model on fixture datasets in their real layouts:
pipeline checks, never findings.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import runner_fixtures as R
from clipstudy import cli, results, run, store
from clipstudy.models import collection
from clipstudy.cache import FeatureCache

REPO = Path(__file__).resolve().parents[1]
SUMMARY = {"units_total", "units_computed", "units_reused", "units_failed", "images_encoded", "prompts_encoded"}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Fixture datasets in their real layouts and two tiny random CLIPs as local-dir models."""
    root = tmp_path_factory.mktemp("runner")
    return SimpleNamespace(root=root, data=R.data_root(root / "data"),
                           models=[R.tiny_local_dir(root / "m0", 0), R.tiny_local_dir(root / "m1", 1, width=96)])


@pytest.fixture
def env(grid, monkeypatch, tmp_path):
    """CLIPSTUDY_DATA at the fixtures, a fresh feature and unit store (lab models and rendered lab sets are the
    session's, trained once), and subprocesses (jobs, workers) importing this checkout."""
    monkeypatch.setenv("CLIPSTUDY_DATA", str(grid.data))
    session_lab = Path(os.environ["CLIPSTUDY_CACHE"]) / "lab"
    session_lab.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "lab").symlink_to(session_lab)
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / "cache"))
    path = [str(REPO), str(REPO / "tests")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    return grid


def _cli(*args: str) -> int:
    return cli.main(["run", "--quiet", *args])


def _summary(path: Path) -> dict:
    s = json.loads(Path(path).read_text())
    assert set(s) == SUMMARY
    return s


# ----------------------------------------------------------------- the store key and collections
def test_store_key_is_frozen_and_each_field_changes_its_name():
    k = store.Key.of("features", "ViT-B-32/openai", "w1", "imagenet#fp", "t", "fp32", n=3, subset="all")
    with pytest.raises(Exception):
        k.model = "other"  # frozen
    assert hash(k) == hash(store.Key.of("features", "ViT-B-32/openai", "w1", "imagenet#fp", "t", "fp32", subset="all", n=3))
    names = {k.name}
    for change in [dict(kind="head"), dict(model="m"), dict(weights="w2"), dict(data="imagenet#other"),
                   dict(transform="u"), dict(precision="bf16")]:
        names.add(store.Key.of(**{**dict(kind="features", model="ViT-B-32/openai", weights="w1", data="imagenet#fp",
                                          transform="t", precision="fp32", n=3, subset="all"), **change}).name)
    names.add(store.Key.of("features", "ViT-B-32/openai", "w1", "imagenet#fp", "t", "fp32", n=4, subset="all").name)
    assert len(names) == 8
    # the feature cache names its entries through the store's key
    assert FeatureCache.key("m", "w", "d", "t", "all", n=2, precision="fp32", data="fp") == \
        store.Key.of("features", "m", "w", "d#fp", "t", "fp32", subset="all", n=2).name


def test_collections_expand_and_the_models_command_lists_them(capsys):
    from clipstudy import zoo

    base = collection.expand_models("@baselines")
    assert len(base) == len(collection.BASELINES) and all(zoo.get(n).source == "timm" for n in base)
    ft = collection.expand_models("@fine-tuned")
    assert ft and all(zoo.get(n).finetuned for n in ft)  # `all` over an empty collection would pass
    assert set(ft) == {n for n in zoo.names() if zoo.get(n).finetuned and zoo.get(n).source == "timm"}
    zs = collection.expand_models(["@zero-shot"])
    assert zs and all(zoo.get(n).source == "open_clip" and not zoo.get(n).finetuned for n in zs)
    assert set(collection.expand_models("@loss=siglip")) == {n for n in zoo.names() if zoo.get(n).loss == "siglip"}
    from clipstudy import axes
    from clipstudy.axes import shifts

    assert axes.expand_datasets("@shifts,imagenet,@3d") == list(shifts.AXIS.live) + ["imagenet-3dcc"]
    with pytest.raises(KeyError, match="@baselines"):
        collection.expand_models("@baseline")
    assert cli.main(["models", "--collection", "baselines"]) == 0
    out = capsys.readouterr().out
    assert "timm:resnet50.tv_in1k" in out and f"{len(collection.BASELINES)} models" in out


def test_the_chapter_grid_is_what_the_axis_modules_declare():
    """The grid `build --profile live` runs is what the chosen chapters' axis modules declare (`AXIS.live`), and
    every chapter's notebook starts with its axis module."""
    from clipstudy import axes, book

    declared = {a.chapter: a.live for a in axes.all_axes()}
    assert book.live_grid("06") == list(declared["06_ood_detection"]) == list(axes.datasets("ood"))
    assert book.live_grid() == list(dict.fromkeys(d for ds in declared.values() for d in ds))
    for nb in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        a = axes.of_chapter(nb.stem)
        assert a is not None, f"{nb.name} has no axis module (clipstudy/axes/) declaring it"
        assert re.search(rf"from clipstudy\.axes import {a.key} as axis\b", nb.read_text()), nb.name


def test_a_plugin_axis_joins_the_runner_the_collections_and_the_summary(env, tmp_path, monkeypatch):
    """A toy axis declared in a plugin module (tests/plugins/toy_axis.py: one Axis, one dataset, one metric) runs
    through `clipstudy run --axes`, is an `@` collection, and gets a summary column, with nothing else edited."""
    from clipstudy import axes
    from clipstudy.axes import summary

    monkeypatch.syspath_prepend(str(REPO / "tests" / "plugins"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests" / "plugins"), os.environ["PYTHONPATH"]]))
    monkeypatch.setenv("CLIPSTUDY_PLUGINS", "toy_axis")
    try:
        assert "toy" in axes.resolve("all") and axes.datasets("toy") == ["imagenet-sketch"]
        assert "imagenet-sketch" in axes.datasets("book")
        assert "toy confidence" in [a.name for a in summary.expected()]
        study = tmp_path / "study"
        assert _cli("--models", env.models[0], "--datasets", "@toy", "--axes", "toy", "--prompts", "single",
                    "--study", str(study)) == 0
        t = run.read(study)
        assert list(t["axis"].unique()) == ["toy"] and list(t["metric"].unique()) == ["mean_confidence"]
        assert 0 < float(t["value"].iloc[0]) <= 1 and int(t["n"].iloc[0]) > 0
        with pytest.raises(KeyError, match="toy"):  # a wrong name lists the plugin's axis among the choices
            axes.resolve("toyy")
    finally:  # the next tests see the package's axes only
        axes.REGISTRY.pop("toy", None)
        sys.modules.pop("toy_axis", None)


# ----------------------------------------------------------------- local executor, warm re-run, failures
def test_local_run_counts_exactly_and_a_warm_rerun_encodes_nothing(env, tmp_path):
    from clipstudy import datasets

    sets = ["imagenet", "imagenet-sketch", "textures", "cue-conflict", "coco-5k"]
    args = ["--models", ",".join(env.models), "--datasets", ",".join(sets), "--prompts", "single",
            "--study", str(tmp_path / "study")]
    assert _cli(*args, "--summary-json", str(tmp_path / "cold.json")) == 0
    cold = _summary(tmp_path / "cold.json")
    n_images = sum(len(datasets.load(d)) for d in sets)
    assert cold == dict(units_total=10, units_computed=10, units_reused=0, units_failed=0,
                        images_encoded=2 * n_images,  # each (model, image) once: redundancy 1.00
                        prompts_encoded=2 * (1000 + 16 + 20))  # ImageNet head once per model, cue-conflict, captions
    table = run.read(tmp_path / "study")
    assert set(table["axis"]) == {"shifts", "calibration", "ood", "shape", "retrieval"}
    assert not table.duplicated(list(results.STUDY_IDENTITY)).any()
    assert _cli(*args, "--summary-json", str(tmp_path / "warm.json")) == 0
    assert _summary(tmp_path / "warm.json") == dict(units_total=10, units_computed=0, units_reused=10, units_failed=0,
                                                    images_encoded=0, prompts_encoded=0)
    pd.testing.assert_frame_equal(run.read(tmp_path / "study"), table)
    logs = list((tmp_path / "study" / "logs").glob("*.log"))
    assert len(logs) == 10 and all("done:" in p.read_text() for p in logs)


def test_failing_units_are_reported_and_the_rest_of_the_grid_runs(env, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(env.models[0].split(":", 1)[1], broken)
    (broken / "open_clip_pytorch_model.bin").write_bytes(b"not a checkpoint")
    rc = _cli("--models", f"{env.models[0]},local-dir:{broken},NoSuchArch/none", "--datasets",
              "imagenet-sketch,imagenet-r", "--prompts", "single", "--study", str(tmp_path / "s"),
              "--summary-json", str(tmp_path / "s.json"))
    assert rc == 1
    s = _summary(tmp_path / "s.json")
    assert s["units_total"] == 6 and s["units_computed"] == 1 and s["units_failed"] == 5
    units = pd.read_csv(tmp_path / "s" / "units.csv").set_index(["model", "dataset"])
    assert units.loc[(env.models[0], "imagenet-sketch"), "status"] == "computed"
    err = capsys.readouterr().err
    assert "imagenet-r dataset not found at" in err and "unknown model 'NoSuchArch/none'" in err
    assert re.search(r"broken x imagenet-sketch: could not load local-dir:.*broken", err)
    assert set(run.read(tmp_path / "s")["model"]) == {env.models[0]}


def _nan_copy(model: str, folder: Path) -> str:
    """A copy of a local-dir model whose checkpoint is all NaN (as a diverged training run leaves it)."""
    import torch

    shutil.copytree(model.split(":", 1)[1], folder)
    ckpt = folder / "open_clip_pytorch_model.bin"
    sd = torch.load(ckpt, weights_only=True)
    torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in sd.items()}, ckpt)
    return f"local-dir:{folder}"


def test_a_nan_checkpoint_fails_its_own_units_at_evaluation_and_the_others_rows_are_written(env, tmp_path, capsys):
    nan = _nan_copy(env.models[0], tmp_path / "nan")
    args = ["--models", f"{env.models[0]},{nan}", "--datasets", "imagenet,imagenet-sketch,textures", "--prompts",
            "single", "--study", str(tmp_path / "s")]
    assert _cli(*args, "--summary-json", str(tmp_path / "s.json")) == 1
    s = _summary(tmp_path / "s.json")
    assert s["units_total"] == 6 and s["units_computed"] == 3 and s["units_failed"] == 3
    units = pd.read_csv(tmp_path / "s" / "units.csv", keep_default_na=False).set_index(["model", "dataset"])
    assert (units.loc[env.models[0], "status"] == "computed").all()
    assert (units.loc[nan, "status"] == "failed").all()
    assert units.loc[(nan, "imagenet"), "error"].startswith("evaluation failed:")
    assert "NaN" in units.loc[(nan, "imagenet"), "error"]
    table = run.read(tmp_path / "s")
    assert set(table["model"]) == {env.models[0]}
    assert set(table["dataset"]) == {"imagenet", "imagenet-sketch", "textures"}
    assert (tmp_path / "s" / "summary.json").exists()
    # a warm re-run reuses every unit and still fails the NaN ones, counted once each
    assert _cli(*args, "--summary-json", str(tmp_path / "w.json")) == 1
    assert _summary(tmp_path / "w.json") == dict(units_total=6, units_computed=0, units_reused=3, units_failed=3,
                                                 images_encoded=0, prompts_encoded=0)
    assert "outputs are NaN or infinite" in units.loc[(nan, "imagenet"), "error"]  # named, with what to check
    # `eval` of the same model: a one-line error naming the model, not a traceback
    assert cli.main(["eval", nan, "imagenet-sketch", "--prompts", "single", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{nan} on imagenet-sketch: its outputs are NaN or infinite" in err and "Traceback" not in err


def test_weights_replaced_by_cp_p_of_a_same_size_file_are_a_new_unit(env, tmp_path):
    """`cp -p` of another checkpoint of the same size over a local-dir model's, its mtime set to the old one's
    to the nanosecond: the unit's identity is the content hash, so the next run (in this process, where hashes
    are cached) computes the unit again and gives the new weights' numbers."""
    model = tmp_path / "m"
    shutil.copytree(env.models[0].split(":", 1)[1], model)
    other = R.tiny_local_dir(tmp_path / "other", seed=7).split(":", 1)[1]
    ckpt, new = model / "open_clip_pytorch_model.bin", Path(other) / "open_clip_pytorch_model.bin"
    assert ckpt.stat().st_size == new.stat().st_size and ckpt.read_bytes() != new.read_bytes()
    args = ["--datasets", "imagenet,imagenet-sketch", "--prompts", "single", "--axes", "shifts,calibration"]
    assert _cli("--models", f"local-dir:{model}", *args, "--study", str(tmp_path / "s")) == 0
    before = run.read(tmp_path / "s")
    st = ckpt.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    subprocess.run(["cp", "-p", str(new), str(ckpt)], check=True)
    after_st = ckpt.stat()
    assert (after_st.st_size, after_st.st_mtime_ns, after_st.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert _cli("--models", f"local-dir:{model}", *args, "--study", str(tmp_path / "s"),
                "--summary-json", str(tmp_path / "s.json")) == 0
    assert _summary(tmp_path / "s.json")["units_computed"] == 2
    assert _cli("--models", f"local-dir:{other}", *args, "--study", str(tmp_path / "o")) == 0
    got, want = run.read(tmp_path / "s"), run.read(tmp_path / "o")
    assert len(got) == len(before)  # the model's rows were replaced, not added
    ids = ["dataset", "axis", "part", "metric"]
    pd.testing.assert_series_equal(got.set_index(ids)["value"], want.set_index(ids)["value"])
    assert not np.allclose(got.set_index(ids)["value"], before.set_index(ids)["value"])


@pytest.mark.parametrize("table", ["results.csv", "units.csv"])
def test_a_cut_off_or_garbage_study_table_is_refused_before_any_work(env, tmp_path, capsys, table):
    study = tmp_path / "s"
    args = ["--datasets", "imagenet-sketch", "--prompts", "single", "--study", str(study)]
    assert _cli("--models", env.models[0], *args) == 0
    good = (study / table).read_bytes()
    units = sorted((Path(os.environ["CLIPSTUDY_CACHE"]) / "units").iterdir())
    capsys.readouterr()
    for damaged, why in [(good[:-12], "cut off"),  # cut mid-row, as a copy interrupted by a full disk leaves it
                         (good.splitlines()[0] + b"\nlocal-di,,,\n", "line 2 is damaged"),
                         (b"a,b\n1,2\n", "lacks the column")]:
        (study / table).write_bytes(damaged)
        assert _cli("--models", env.models[1], *args) == 2
        err = capsys.readouterr().err
        assert f"{study / table} is not a clipstudy" in err and why in err and "Move it away" in err, err
        assert "Traceback" not in err
        assert sorted((Path(os.environ["CLIPSTUDY_CACHE"]) / "units").iterdir()) == units  # nothing ran
        assert (study / table).read_bytes() == damaged  # and nothing was overwritten
    if table == "results.csv":
        from clipstudy.errors import ClipstudyError

        with pytest.raises(ClipstudyError, match="cut off|damaged|lacks"):
            run.read(study)
    (study / table).write_bytes(good)
    assert _cli("--models", env.models[1], *args) == 0
    t = run.read(study)
    assert set(t["model"]) == set(env.models) and t["n"].dtype == "int64"
    u = pd.read_csv(study / "units.csv")
    assert set(u["model"]) == set(env.models)  # the earlier run's unit is kept, as results.csv keeps its rows


def test_odd_paths_and_names_are_one_line_errors_before_any_work(env, tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    base = ["--models", env.models[0], "--datasets", "imagenet-sketch", "--prompts", "single"]
    cases = [
        (["--study", str(tmp_path / "file" / "sub")], "is a file, so no folder can be made under it"),
        (["--study", str(tmp_path / "s"), "--summary-json", str(tmp_path)], "is a folder; give a file name"),
        (["--study", str(tmp_path / "s"), "--summary-json", str(tmp_path / "file" / "s.json")],
         "file is a file; give a folder"),
    ]
    for extra, why in cases:
        assert _cli(*base, *extra) == 2, extra
        err = capsys.readouterr().err
        assert why in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (Path(os.environ["CLIPSTUDY_CACHE"]) / "units").exists()  # nothing ran
    assert _cli("--models", "lab:base#x@smoke", "--datasets", "lab-val:8", "--study", str(tmp_path / "l")) == 1
    assert "the seed after '#' must be a whole number" in capsys.readouterr().err
    from clipstudy.errors import ClipstudyError
    from clipstudy.lab import zoo as lab_zoo

    monkeypatch.setenv("CLIPSTUDY_TRAIN_WORKERS", "abc")
    with pytest.raises(ClipstudyError, match="CLIPSTUDY_TRAIN_WORKERS='abc': expected a whole number"):
        lab_zoo.train_workers(lab_zoo.profile_of("smoke"), 3)


# ----------------------------------------------------------------- submitit and Ray against the local executor
def test_submitit_and_ray_give_the_local_table_row_for_row(env, tmp_path):
    """Lab model and random tiny CLIP, lab sets and fixture datasets; each executor computes every unit
    afresh (the store is emptied between runs; the lab model and lab sets stay cached)."""
    ray = pytest.importorskip("ray", reason="ray is in requirements.txt; install it to run this check")
    models = [env.models[0], "lab:base@smoke"]
    sets = ["lab-val:24", "lab-ood:24", "cue-conflict", "coco-5k"]
    cache = Path(os.environ["CLIPSTUDY_CACHE"])
    tables, summaries = {}, {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    try:
        for name, opts in [("local", {}), ("slurm", dict(array_parallelism=2, time_min=10)), ("ray", {})]:
            for d in ("features", "units"):
                shutil.rmtree(cache / d, ignore_errors=True)
            out = run.run(models, sets, prompts="single", executor=name, executor_options=opts,
                          lab_profile="smoke", study=tmp_path / name, progress=False)
            summaries[name], tables[name] = out.summary.as_dict(), out.table
            assert out.summary.units_computed == out.summary.units_total == 8, [r.error for r in out.failed]
            workers = {(r.worker["pid"], r.worker["package"]) for r in out.results}
            assert {pkg for _, pkg in workers} == {str(REPO / "clipstudy")}  # workers import this checkout
            assert (name == "local") == ({pid for pid, _ in workers} == {os.getpid()})
    finally:
        ray.shutdown()
    assert summaries["slurm"] == summaries["local"] == summaries["ray"]
    assert set(tables["local"]["axis"]) == {"shifts", "calibration", "ood", "shape", "retrieval"}
    for name in ("slurm", "ray"):
        pd.testing.assert_frame_equal(tables[name], tables["local"], check_exact=True)
    pd.testing.assert_frame_equal(run.read(tmp_path / "ray"), run.read(tmp_path / "local"), check_exact=True)


# ----------------------------------------------------------------- SIGKILL, concurrent runs, Ctrl-C
@pytest.fixture(scope="module")
def slow_set(grid) -> str:
    """48 large JPEGs (decoding is the cost), so a unit takes long enough to be interrupted."""
    import numpy as np
    from PIL import Image

    root = grid.root / "slow"
    rng = np.random.default_rng(3)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for j in range(24):
            Image.fromarray((rng.random((900, 900, 3)) * 255).astype(np.uint8)).save(root / c / f"{j}.jpg", quality=95)
    return f"imagefolder:{root}"


def _spawn(args: list[str], **env) -> subprocess.Popen:
    # SIGINT as a terminal gives it: a test run started in the background (nohup, `&`) passes SIGINT ignored down
    # to its children, and a Ctrl-C test would then test nothing
    return subprocess.Popen([sys.executable, "-m", "clipstudy.cli", "run", "--quiet", *args], cwd=REPO,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _shards(cache: Path) -> list[Path]:
    return sorted((cache / "features").glob("*/shard-*.pt"))


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 180) -> None:
    t0 = time.time()
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.01)


def test_sigkill_mid_unit_loses_only_the_unfinished_shard(env, slow_set, tmp_path):
    data = slow_set
    cache = Path(os.environ["CLIPSTUDY_CACHE"])
    args = ["--models", env.models[0], "--datasets", data, "--prompts", "single", "--batch-size", "4",
            "--study", str(tmp_path / "s"), "--summary-json", str(tmp_path / "s.json")]
    proc = _spawn(args, CLIPSTUDY_SHARD_SECONDS="0")  # every batch closes a shard
    _wait_for(lambda: len(_shards(cache)) >= 2, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list((cache / "features").glob("*/meta.json")), "the unit finished before the kill"
    import torch

    kept = max(torch.load(p, weights_only=True)["stop"] for p in _shards(cache))
    assert 0 < kept < 48
    assert _cli(*args) == 0  # the lock died with the killed worker
    s = _summary(tmp_path / "s.json")
    assert s["units_computed"] == 1 and s["images_encoded"] == 48 - kept  # resumed from the finished shards
    shutil.rmtree(cache / "features")
    shutil.rmtree(cache / "units")
    assert _cli("--models", env.models[0], "--datasets", data, "--prompts", "single", "--study", str(tmp_path / "c")) == 0
    pd.testing.assert_frame_equal(run.read(tmp_path / "s"), run.read(tmp_path / "c"), check_exact=True)


def test_two_concurrent_runs_compute_each_unit_once(env, slow_set, tmp_path):
    data = slow_set
    args = ["--models", ",".join(env.models), "--datasets", f"{data},imagenet-sketch", "--prompts", "single",
            "--study", str(tmp_path / "s")]
    procs = [_spawn(args + ["--summary-json", str(tmp_path / f"{i}.json")]) for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    a, b = (_summary(tmp_path / f"{i}.json") for i in range(2))
    assert a["units_total"] == b["units_total"] == 4
    assert a["units_computed"] + b["units_computed"] == 4  # each unit computed by exactly one of the runs
    assert a["units_computed"] + a["units_reused"] == b["units_computed"] + b["units_reused"] == 4
    assert a["images_encoded"] + b["images_encoded"] == 2 * (48 + 4)
    assert len(run.read(tmp_path / "s")) and not list(Path(os.environ["CLIPSTUDY_CACHE"]).rglob("*.tmp"))


def test_two_concurrent_runs_of_two_grids_leave_one_summary_of_both(env, tmp_path):
    """Two runs at once on one study folder, each its own model: units.csv and the study's summary.json hold
    both grids (a summary of the last run only was the fault), while each --summary-json is its own run's."""
    study = tmp_path / "s"
    procs = [_spawn(["--models", m, "--datasets", "imagenet-sketch", "--prompts", "single", "--study", str(study),
                     "--summary-json", str(tmp_path / f"{i}.json")]) for i, m in enumerate(env.models[:2])]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    units = pd.read_csv(study / "units.csv", keep_default_na=False)
    assert set(units["model"]) == set(env.models[:2]) and len(units) == 2
    merged = _summary(study / "summary.json")
    assert merged["units_total"] == 2 and merged["units_computed"] == 2, merged
    assert [_summary(tmp_path / f"{i}.json")["units_total"] for i in range(2)] == [1, 1]
    assert merged["images_encoded"] == sum(_summary(tmp_path / f"{i}.json")["images_encoded"] for i in range(2))


def test_ctrl_c_stops_with_a_message_not_a_traceback(env, slow_set, tmp_path):
    data = slow_set
    cache = Path(os.environ["CLIPSTUDY_CACHE"])
    proc = _spawn(["--models", env.models[0], "--datasets", data, "--prompts", "single", "--batch-size", "4",
                   "--study", str(tmp_path / "s")], CLIPSTUDY_SHARD_SECONDS="0")
    _wait_for(lambda: len(_shards(cache)) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and "Run the same command again" in err
    assert not list(cache.rglob("*.tmp")) and not list((cache / "units").glob("*/unit.json"))


def _worker_pid(study: Path, label: str, proc: subprocess.Popen) -> int:
    """The pid of the worker that logged the start of unit `label` (`MODEL x DATASET`)."""
    found: list[int] = []

    def started() -> bool:
        for log in (study / "logs").glob("*.log") if (study / "logs").is_dir() else []:
            m = re.search(r"\[(\d+)\] start " + re.escape(label) + " ", log.read_text())
            if m:
                found.append(int(m.group(1)))
                return True
        return False

    _wait_for(started, proc)
    return found[0]


def test_a_worker_killed_with_sigkill_fails_only_its_unit_and_the_rest_go_on(env, slow_set, tmp_path):
    """`--workers 2`; the worker running one unit is SIGKILLed by pid (as an OOM kill would): that unit fails,
    saying why; its worker is replaced and the other three units are computed."""
    study, cache = tmp_path / "s", Path(os.environ["CLIPSTUDY_CACHE"])
    args = ["--models", ",".join(env.models), "--datasets", f"{slow_set},imagenet-sketch", "--prompts", "single",
            "--batch-size", "4", "--workers", "2", "--study", str(study), "--summary-json", str(tmp_path / "s.json")]
    proc = _spawn(args, CLIPSTUDY_SHARD_SECONDS="0")
    victim = _worker_pid(study, f"{env.models[0]} x {slow_set}", proc)
    assert victim != proc.pid
    _wait_for(lambda: len(_shards(cache)) >= 1, proc)
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    s = _summary(tmp_path / "s.json")
    assert s["units_total"] == 4 and s["units_computed"] == 3 and s["units_failed"] == 1, err
    units = pd.read_csv(study / "units.csv", keep_default_na=False).set_index(["model", "dataset"])
    why = units.loc[(env.models[0], slow_set), "error"]
    assert "worker running it died" in why and "SIGKILL" in why and "BrokenProcessPool" not in why
    assert (units.drop(index=(env.models[0], slow_set))["status"] == "computed").all()
    assert set(run.read(study)["model"]) == set(env.models)
    assert _cli(*args[:-2]) == 0  # the failed unit resumes on the next run


def test_workers_die_with_their_parent_and_leave_no_tmp_a_later_run_keeps(env, slow_set, tmp_path):
    """SIGKILL on the parent of a `--workers 2` run: both workers exit too (parent-death signal), and the next
    run removes the temporary files dead workers left (a 0-byte shard `.tmp`, as Ctrl-C or SIGKILL leaves)."""
    from clipstudy import store as store_mod

    study, cache = tmp_path / "s", Path(os.environ["CLIPSTUDY_CACHE"])
    args = ["--models", ",".join(env.models), "--datasets", slow_set, "--prompts", "single", "--batch-size", "4",
            "--workers", "2", "--study", str(study)]
    proc = _spawn(args, CLIPSTUDY_SHARD_SECONDS="0")
    pids = [_worker_pid(study, f"{m} x {slow_set}", proc) for m in env.models]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t0 = time.time()
    try:
        while any(store_mod._alive(p) for p in pids):  # a zombie counts as gone: this container's init may not reap
            assert time.time() - t0 < 20, f"orphaned workers {[p for p in pids if store_mod._alive(p)]}"
            time.sleep(0.1)
    finally:
        for p in pids:  # never leave an orphan behind a failed check
            if store_mod._alive(p):
                os.kill(p, signal.SIGKILL)
    left = cache / "features" / "left-by-a-dead-worker"
    left.mkdir(parents=True, exist_ok=True)
    stale = left / f"shard-00000.pt.{store_mod._host()}.{pids[0]}.abcd1234.tmp"
    stale.write_bytes(b"")
    live = left / f"shard-00001.pt.{store_mod._host()}.{os.getpid()}.abcd1234.tmp"  # a live writer's: kept
    live.write_bytes(b"")
    assert _cli(*args) == 0
    assert not stale.exists() and live.exists()
    live.unlink()
    assert not list(cache.rglob("*.tmp"))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_with_workers_leaves_no_tmp(env, slow_set, tmp_path, workers):
    cache = Path(os.environ["CLIPSTUDY_CACHE"])
    proc = _spawn(["--models", ",".join(env.models), "--datasets", slow_set, "--prompts", "single",
                   "--batch-size", "4", "--workers", workers, "--study", str(tmp_path / "s")],
                  CLIPSTUDY_SHARD_SECONDS="0")
    _wait_for(lambda: len(_shards(cache)) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and not list(cache.rglob("*.tmp"))


def test_importing_clipstudy_needs_neither_engine_and_a_missing_one_names_its_extra(monkeypatch):
    code = ("import sys, clipstudy, clipstudy.cli, clipstudy.run, clipstudy.run.local, clipstudy.book; "
            "print(sorted(m for m in ('ray', 'submitit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from clipstudy.errors import ClipstudyError
    from clipstudy.run import executors

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "clipstudy.run.raycluster", raising=False)
    with pytest.raises(ClipstudyError, match=r"pip install 'clipstudy\[ray\]'"):
        executors.get("ray")


# ----------------------------------------------------------------- SLURM dry run
def test_slurm_dry_run_of_a_40_unit_grid_writes_the_array_script_and_submits_nothing(env, tmp_path, capsys):
    models = ["RN50/random", "RN101/random", "ViT-B-32/random", "ViT-B-16/random", "ViT-L-14/random",
              "convnext_base/random", "ViT-B-16-SigLIP/random", "coca_ViT-B-32/random"]
    sets = ["imagenet", "imagenet-sketch", "textures", "cue-conflict", "coco-5k"]
    rc = _cli("--models", ",".join(models), "--datasets", ",".join(sets), "--executor", "slurm", "--dry-run",
              "--partition", "gpu", "--gpus-per-job", "1", "--cpus-per-job", "8", "--time-min", "90",
              "--array-parallelism", "16", "--study", str(tmp_path / "s"))
    assert rc == 0
    out = capsys.readouterr().out
    folder = tmp_path / "s" / "submitit"
    script = (folder / "dry-run.sbatch").read_text()
    assert script in out and "40 missing unit(s) -> one job array of 40 task(s); nothing was submitted" in out
    for line in ["#SBATCH --array=0-39%16", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --time=90", "#SBATCH --signal=USR2@90",
                 f"#SBATCH --output={folder}/%A_%a_0_log.out"]:
        assert line in script.splitlines(), line
    assert re.search(r"srun .* -m submitit\.core\._submit " + re.escape(str(folder)), script)
    assert sorted(p.name for p in folder.iterdir()) == ["dry-run.sbatch"]  # no job pickles, no job ids
    assert not (Path(os.environ["CLIPSTUDY_CACHE"]) / "units").exists()  # nothing ran


# ----------------------------------------------------------------- the book's live profile
def test_build_live_runs_the_declared_grid_and_chapters_read_its_table(env, tmp_path, monkeypatch):
    from clipstudy import book, chapter

    out = book.run_live_grid("02", device="cpu", models=[env.models[0]], prompts="single", study=tmp_path / "live")
    # chapter 02 declares six shift sets; the fixtures hold ImageNet and ImageNet-Sketch
    assert sorted({u.dataset for u in out.plan.units}) == ["imagenet", "imagenet-sketch"]
    assert out.summary.units_computed == 2
    ch = chapter.Chapter("02_natural_shifts", tmp_path, "live")
    top1 = ch.live_results("shifts", metric="top1")
    assert list(top1["dataset"]) == ["imagenet", "imagenet-sketch"] and top1["value"].between(0, 1).all()
    # the chapter's live section reads that table (no encoding) and names, in one notice, what it lacks
    from clipstudy import axes
    from clipstudy.axes import shifts
    from clipstudy.config import PROFILES

    shown = []
    monkeypatch.setattr(chapter, "notice", lambda title, body: shown.append((title, body)))
    monkeypatch.setattr(chapter, "finding", lambda text, **k: text.format(**k))
    ch = chapter.Chapter(shifts.AXIS.chapter, tmp_path, "live", axis=shifts.AXIS, params=PROFILES["live"])
    from clipstudy import encode

    monkeypatch.setattr(encode, "encode_images", lambda *a, **k: pytest.fail("a live section encoded images"))
    ler = shifts.live(ch, None)
    assert list(ler["dataset"]) == ["imagenet-sketch"] and ler["ood_acc"].iloc[0] == top1["value"].iloc[1]
    assert [t for t, _ in shown] == ["Live rows missing"]
    assert all(d in shown[0][1] for d in ("imagenet-v2", "imagenet-r", "imagenet-a", "objectnet"))


def test_an_in_process_unit_leaves_the_callers_environment(tmp_path, monkeypatch):
    """The unit sets the cache and data variables for itself only; its lab profile is no environment variable
    (it travels in the unit, Unit.lab_profile, and is passed down explicitly)."""
    from clipstudy.run import unit as unit_mod

    before = {k: os.environ.get(k) for k in ("CLIPSTUDY_CACHE", "CLIPSTUDY_DATA", "CLIPSTUDY_LAB_PROFILE")}
    seen = {}
    monkeypatch.setattr(unit_mod, "_compute", lambda u: seen.update(os.environ) or (0, 0))
    u = unit_mod.Unit("m", "d", "fp32", ("p",), "k", "mid", "d", "", "classify", str(tmp_path / "c"),
                      str(tmp_path / "data"), "smoke", study=str(tmp_path / "s"))
    assert unit_mod.execute(u).status == "computed"
    assert seen.get("CLIPSTUDY_LAB_PROFILE") == before["CLIPSTUDY_LAB_PROFILE"]  # not set by the unit
    assert seen["CLIPSTUDY_CACHE"] == str(tmp_path / "c")
    assert {k: os.environ.get(k) for k in before} == before


def test_a_smoke_unit_loads_the_smoke_model_of_a_bare_lab_name(tmp_path, monkeypatch):
    """`lab:base` in a smoke grid is the smoke model, named so explicitly (run.unit.lab_model_name) where the
    plan identifies it and where the worker loads it, with no environment variable."""
    import importlib

    from clipstudy.errors import ClipstudyError
    from clipstudy.run import unit as unit_mod

    plan_mod = importlib.import_module("clipstudy.run.plan")  # the package exports plan(), the function

    monkeypatch.delenv("CLIPSTUDY_LAB_PROFILE", raising=False)
    assert plan_mod.lab_model_name("lab:base", "smoke") == "lab:base@smoke"
    assert plan_mod.lab_model_name("lab:base#1", "smoke") == "lab:base#1@smoke"
    assert plan_mod.lab_model_name("lab:base@lab", "smoke") == "lab:base@lab"
    assert plan_mod.lab_model_name("lab:base", "lab") == "lab:base"
    assert plan_mod.lab_model_name("RN50/random", "smoke") == "RN50/random"
    assert plan_mod.model_identity("lab:base", "smoke") == plan_mod.model_identity("lab:base@smoke", "smoke")
    assert plan_mod.model_identity("lab:base", "smoke") != plan_mod.model_identity("lab:base", "lab")
    asked = []

    def load(name, device):
        asked.append((name, os.environ.get("CLIPSTUDY_LAB_PROFILE")))
        raise ClipstudyError("stop here")

    monkeypatch.setattr(unit_mod, "load_model", load)
    u = unit_mod.Unit("lab:base", "lab-val:8", "fp32", ("lab-single",), "k", "mid", "lab-val", "", "classify",
                      str(tmp_path / "c"), str(tmp_path / "data"), "smoke", device="cpu", study=str(tmp_path / "s"))
    res = unit_mod.execute(u)
    assert res.status == "failed" and "stop here" in res.error
    assert asked == [("lab:base@smoke", None)]


# The record fields the runner wrote before one record type: an encoder unit (20 fields) and an LMM unit (23).
ENCODER_RECORD = dict(model="m", model_id="m#abc", dataset="imagenet-d", data_id="imagenet-d", task="classification",
                      id_set="imagenet", features="feat-key", heads=["single"], needs_heads=True, texts=False,
                      precision="fp32", logit_scale=100.0, is_classifier=False, classnames=["a", "b"],
                      class_index=None, n=4, n_skipped=0, device="cpu", torch="2.0", written="2025-01-01T00:00:00")
LMM_RECORD = dict(ENCODER_RECORD, model="llava:x@m", task="lmm", checkpoint="x", clip="m",
                  questions=["questions-single.parquet"])


@pytest.mark.parametrize("written", [ENCODER_RECORD, LMM_RECORD], ids=["encoder", "lmm"])
def test_unit_records_written_before_one_record_type_still_load(written, tmp_path):
    """A `unit.json` of either shape loads as the one `UnitRecord` (so no stored unit is computed again), and a
    record written now round-trips; one that lacks a field is not complete (it is computed again)."""
    import dataclasses

    from clipstudy.run import unit as unit_mod

    u = unit_mod.Unit(written["model"], written["dataset"], "fp32", ("single",), "k", written["model_id"],
                      written["data_id"], "", written["task"], str(tmp_path / "c"))
    u.entry().mkdir(parents=True)
    (u.entry() / unit_mod.RECORD).write_text(json.dumps(written))
    rec = unit_mod.read_record(u)
    assert isinstance(rec, unit_mod.UnitRecord) and dataclasses.asdict(rec) == {**dataclasses.asdict(rec), **written}
    assert (rec.checkpoint, rec.clip) == ((written["checkpoint"], written["clip"]) if "clip" in written else ("", ""))
    (u.entry() / unit_mod.RECORD).write_text(json.dumps(dataclasses.asdict(rec)))
    assert unit_mod.read_record(u) == rec
    (u.entry() / unit_mod.RECORD).write_text(json.dumps({k: v for k, v in written.items() if k != "logit_scale"}))
    assert unit_mod.read_record(u) is None and not unit_mod.is_complete(u)


def test_every_task_computes_through_one_table_and_lab_names_are_asked_of_their_form():
    """The unit's work is chosen by its task from one table (an LMM answers, every other task encodes), and a lab
    model is told by its name form or its spec's source, never by a prefix test in the runner."""
    from clipstudy import tasks, zoo
    from clipstudy.models.sources import lab as lab_source
    from clipstudy.run import unit as unit_mod

    assert {t: unit_mod.TASKS.get(t, unit_mod.ENCODE).work.__name__ for t in tasks.TASKS} == {
        **{t: "_encode" for t in tasks.TASKS}, tasks.LMM: "_answer"}
    assert lab_source.parse("lab:base#1@smoke") == lab_source.LabName("base#1", "smoke")
    assert lab_source.parse("ViT-B-32/openai") is None and lab_source.parse("llava:lab:base") is None
    assert zoo.get("lab:base@smoke").is_lab and not zoo.get("RN50/random").is_lab
    runner = REPO / "clipstudy" / "run"
    assert not [p.name for p in runner.glob("*.py") if '"lab:' in p.read_text()]
