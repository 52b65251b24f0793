"""Raw tracebacks of the trials (issue 26) become one-line errors, checked up front, before any work: a path to
write that is a file, under a file or read-only; a bad CLIPSTUDY_TRAIN_WORKERS; a lab name with a bad seed."""
from __future__ import annotations

import os

import pytest
from checks import one_line_error

from clipstudy import cli

RUN = ["run", "--models", "lab:base", "--datasets", "lab-val:4", "--lab-profile", "smoke", "--quiet"]


_one_line_error = one_line_error


def test_summary_json_under_a_file_or_read_only_fails_before_any_work(tmp_path, capsys, read_only):
    (tmp_path / "afile").write_text("x")
    study = tmp_path / "study"
    assert cli.main(RUN + ["--study", str(study), "--summary-json", str(tmp_path / "afile" / "s.json")]) == 2
    _one_line_error(capsys, "--summary-json", "afile")
    (tmp_path / "ro").mkdir()
    read_only(tmp_path / "ro")
    assert cli.main(RUN + ["--study", str(study), "--summary-json", str(tmp_path / "ro" / "s.json")]) == 2
    _one_line_error(capsys, "--summary-json", "not writable")
    assert cli.main(RUN + ["--study", str(study), "--summary-json", str(tmp_path)]) == 2
    _one_line_error(capsys, "--summary-json", "is a folder")
    assert not study.exists()  # nothing was planned or run


def test_build_out_that_is_a_file_or_read_only_fails_before_any_work(tmp_path, capsys, read_only, monkeypatch):
    from clipstudy import book

    monkeypatch.setattr(book, "fetch_records", lambda: pytest.fail("the build did work before checking --out"))
    (tmp_path / "afile").write_text("x")
    for out, says in ((tmp_path / "afile", "is a file; give a folder"), (tmp_path / "afile" / "b", "is a file, so")):
        assert cli.main(["build", "--profile", "lab", "--no-html", "--out", str(out)]) == 2
        _one_line_error(capsys, "--out", says)
    (tmp_path / "ro").mkdir()
    read_only(tmp_path / "ro")
    assert cli.main(["build", "--profile", "lab", "--no-html", "--out", str(tmp_path / "ro" / "b")]) == 2
    _one_line_error(capsys, "--out", "not writable")
    assert cli.main(["build", "--profile", "lab", "--only", "99", "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "unknown chapter '99'")


def test_a_bad_train_workers_variable_is_named(monkeypatch, capsys):
    monkeypatch.setenv("CLIPSTUDY_TRAIN_WORKERS", "abc")
    assert cli.main(["lab", "train", "base", "--profile", "smoke"]) == 2
    _one_line_error(capsys, "CLIPSTUDY_TRAIN_WORKERS='abc'", "1 or more")


def test_a_lab_name_with_a_bad_seed_is_one_line(tmp_path, capsys):
    assert cli.main(["eval", "lab:base#x", "lab-val", "--limit", "2", "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "lab:base#x", "lab:base#1")


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as ENOSPC would
resource.setrlimit(resource.RLIMIT_FSIZE, (500, 500))
from clipstudy import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_full_disk_under_study_names_the_folder_and_study_not_the_cache(tmp_path):
    """The trial filled the disk under --study. Simulated here with RLIMIT_FSIZE (no mount needed): the cache is
    warm, so the only files that grow are the study's tables (results.csv of this grid is ~900 bytes)."""
    import subprocess
    import sys
    from pathlib import Path

    assert cli.main(RUN + ["--study", str(tmp_path / "warm")]) == 0  # encodes into the cache
    study = tmp_path / "full"
    repo = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK, *RUN, "--study", str(study)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and line.startswith(f"clipstudy: error: --study {study}:"), proc.stderr
    assert f"results.csv was not written in {study}" in line and "CLIPSTUDY_CACHE" not in line, line
    assert "nothing was written" not in line and "run again" in line, line


def test_a_foreign_results_table_in_study_is_refused_naming_study(tmp_path, capsys):
    study = tmp_path / "study"
    study.mkdir()
    (study / "results.csv").write_text("name,score\nalice,3\n")  # someone else's table
    assert cli.main(RUN + ["--study", str(study)]) == 2
    line = _one_line_error(capsys, f"--study {study.resolve()}", "results.csv")
    assert "--out" not in line, line
    assert (study / "results.csv").read_text() == "name,score\nalice,3\n"  # left as it was


def test_a_ray_address_where_nothing_listens_fails_fast_in_words(tmp_path, capsys, monkeypatch):
    """The trial: --ray-address 127.0.0.1:1 hung (still at 180 s) with only Ray's warnings."""
    import time

    pytest.importorskip("ray")
    monkeypatch.setenv("CLIPSTUDY_RAY_CONNECT_TIMEOUT", "5")
    t0 = time.time()
    assert cli.main(RUN + ["--study", str(tmp_path / "s"), "--executor", "ray", "--ray-address", "127.0.0.1:1"]) == 2
    assert time.time() - t0 < 30
    _one_line_error(capsys, "--ray-address 127.0.0.1:1", "nothing answers", "ray start --head")
    assert not (tmp_path / "s").exists()  # before any work
    assert cli.main(RUN + ["--study", str(tmp_path / "s"), "--executor", "ray", "--ray-address", "nohost"]) == 2
    _one_line_error(capsys, "expected HOST:PORT")


def test_eval_opens_a_lab_set_as_the_runner_does_under_the_models_profile(tmp_path):
    """`clipstudy eval` and the study runner open datasets through one function (`run.data.open_dataset`): a lab set
    is rendered at the profile's image size with its calibrated 3D strengths, and keyed as the runner keys it."""
    from clipstudy.lab import sets
    from clipstudy.profiles import SMOKE_LAB
    from clipstudy.run.data import open_dataset

    ds, ds_id = cli._open_dataset("lab-3dcc:4", None, None, None, "smoke")
    runner = open_dataset("lab-3dcc:4", None, "smoke")
    assert ds_id == runner.data_id and len(ds) == len(runner.dataset)
    assert ds[0][0].shape[-1] == SMOKE_LAB.image_size
    assert ds_id != sets.build("lab-3dcc", n=4).dataset_id  # uncalibrated at the default size: another set
    _, limited = cli._open_dataset("lab-val:8", None, None, 2, "smoke")
    assert limited == open_dataset("lab-val:8", None, "smoke").data_id + "[:2]"
