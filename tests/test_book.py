"""The book: paired notebooks, papermill execution, failure reporting, and the smoke build of every chapter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from clipstudy import book, profiles
from clipstudy.axes import Axis, claims
from clipstudy.book import chapters, grids, html
from clipstudy.profiles import Profile

REPO = Path(__file__).resolve().parents[1]


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells if c.source.strip()]


def test_every_chapter_is_a_paired_jupytext_notebook_with_parameters():
    book_ = chapters.notebooks()
    assert [n.name[:2] for n in book_] == [f"{i:02d}" for i in range(1, 12)]
    toc = (REPO / "_toc.yml").read_text()
    for n in book_:
        p = n.source
        py = jupytext.read(p)
        ipynb_path = p.with_suffix(".ipynb")
        assert ipynb_path.exists(), f"{p.name} has no paired .ipynb (run jupytext --sync {p})"
        assert _cells(py) == _cells(jupytext.read(ipynb_path)), f"{p.name} and its .ipynb differ: jupytext --sync"
        tagged = [c for c in py.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{p.name} needs exactly one cell tagged 'parameters'"
        assert f"book/chapters/{n.name}" in toc


def test_the_toc_is_the_declared_chapter_order():
    """_toc.yml is the rendering of this package's chapter declaration (`Axis.order`, `Axis.part`): the verdict
    first, then the study in order, then the reference pages; the build writes the same toc for its book."""
    import yaml

    declared = chapters.notebooks()
    assert (REPO / "_toc.yml").read_text() == html.toc_text(declared), \
        "_toc.yml differs from the chapters' declaration: write html.toc_text(chapters.notebooks()) into it"
    parts = {p["caption"]: [c["file"] for c in p["chapters"]] for p in yaml.safe_load(html.toc_text(declared))["parts"]}
    assert list(parts) == ["The verdict", "The study", "Reference"]
    claims_axis = next(n.axis for n in declared if n.axis.part == "The verdict")
    assert parts["The verdict"] == [f"book/chapters/{claims_axis.chapter}"]
    study = sorted((n.axis for n in declared if n.axis.part == "The study"), key=lambda a: a.order)
    assert parts["The study"] == [f"book/chapters/{a.chapter}" for a in study]


def test_the_build_order_is_declared_and_the_chapters_that_read_all_run_last():
    order = [n.axis for n in chapters.notebooks()]
    readers = [a for a in order if a.reads_all]
    assert {a.key for a in readers} == {"summary", "claims"} and order[-len(readers):] == readers
    rest = order[:-len(readers)]
    assert [a.order for a in rest] == sorted(a.order for a in rest)


def test_renaming_a_notebook_file_leaves_the_build_order_unchanged(tmp_path, monkeypatch):
    """The order is the axes' declaration: notebooks whose file names sort the other way (and a plugin's notebook
    in its own folder) build in the declared order, the chapters that read all others last, and the book's toc
    lists each by its declaration."""
    def declare(names: dict[str, str]) -> list[str]:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        axes_ = []
        for key, order, reads_all in (("first", 1, False), ("second", 2, False), ("everything", 0.5, True),
                                      ("third", 3, False)):
            path = folder / names[key]
            _write_nb(path, ["x = 1"])
            axes_.append(Axis(key, key, f"chapter_{key}", order=order, reads_all=reads_all, notebook=str(path)))
        monkeypatch.setattr(chapters, "declared", lambda: list(reversed(axes_)))
        return [n.name for n in chapters.notebooks()]

    first = declare({"first": "01_a.py", "second": "02_b.py", "third": "03_c.py", "everything": "00_all.py"})
    renamed = declare({"first": "zz_first.py", "second": "aa_second.py", "third": "mm.py", "everything": "01_x.py"})
    assert first == renamed == ["chapter_first", "chapter_second", "chapter_third", "chapter_everything"]
    toc = html.toc_text(chapters.notebooks())
    assert toc.index("chapter_everything") < toc.index("chapter_first")  # the toc lists by order, not run order
    with pytest.raises(Exception, match="does not exist"):
        monkeypatch.setattr(chapters, "declared", lambda: [Axis("gone", "gone", "gone", order=1,
                                                                notebook=str(tmp_path / "gone.py"))])
        chapters.notebooks()


def _write_nb(path: Path, cells: list[str]) -> None:
    nb = jupytext.reads("\n\n".join(["# %% tags=[\"parameters\"]\nparams = {'profile': 'x'}"] + [f"# %%\n{c}" for c in cells]),
                        fmt="py:percent")
    jupytext.write(nb, path)


def _declare(monkeypatch, folder: Path) -> None:
    """The book's chapters are the notebooks in `folder`, declared in the order of their names (a test book)."""
    def declared():
        return [Axis(p.stem, p.stem, p.stem, order=i, notebook=str(p)) for i, p in enumerate(sorted(folder.glob("*.py")))]
    monkeypatch.setattr(chapters, "declared", declared)


def test_a_failing_chapter_is_named_with_its_cell_and_the_others_still_build(tmp_path, monkeypatch, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _write_nb(nbdir / "01_good.py", ["x = 1 + 1", "print('profile', params['profile'])"])
    _write_nb(nbdir / "02_bad.py", ["y = 2", "raise ValueError('broken on purpose')"])
    _write_nb(nbdir / "03_after.py", ["z = 3"])
    _declare(monkeypatch, nbdir)
    monkeypatch.setitem(profiles.PROFILES, "t", Profile("t", lab=None))
    rc = book.build(profile="t", skip_html=True, out=tmp_path / "out", fetch=False)
    out, err = capsys.readouterr()
    assert rc == 1
    stages = out[out.index("build stages:"):]  # every stage's time is printed, failed chapters included
    assert all(f"chapter {n}" in stages for n in ("01_good", "02_bad", "03_after")) and "total" in stages, stages
    assert "02_bad" in err and "ValueError: broken on purpose" in err and "cell 3 (raise" in err, err
    folder = tmp_path / "out" / "book" / "chapters"
    assert (folder / "03_after.ipynb").exists()  # later chapters still ran
    good = json.loads((folder / "01_good.ipynb").read_text())
    assert "profile t" in json.dumps(good)  # the profile's parameters were injected


def test_the_build_is_one_record_made_before_any_work(tmp_path, monkeypatch):
    """`build` makes one `Build` (the profile object, the chapters in their order, the device, the precision as
    asked and as resolved, the folders) before any stage runs, and hands it to every stage."""
    from clipstudy import encode

    monkeypatch.setattr(book, "fetch_records", lambda: pytest.fail("prepare did work"))
    b = book.prepare("smoke", device="cpu", precision="bf16", out=tmp_path / "out")
    assert b.profile is profiles.PROFILES["smoke"] and b.profile.lab is profiles.SMOKE_LAB and not b.fetch
    assert (b.device, b.precision, b.resolved_precision) == ("cpu", "bf16", "bf16")
    assert b.parameters["params"]["precision"] == "bf16" and b.parameters["params"]["profile"] == "smoke"
    assert [n.name for n in b.notebooks] == [n.name for n in chapters.notebooks()]
    assert b.live_study == tmp_path / "out" / "book" / "results" / "live" and b.chapters_dir.parent.name == "book"
    auto = book.prepare(profiles.PROFILES["lab"], only="04", device="cpu", out=tmp_path / "o2")
    assert auto.precision == "auto" and auto.resolved_precision == encode.resolve_precision("auto", "cpu")
    assert [n.name for n in auto.notebooks] == ["04_shape_bias"] and auto.fetch
    assert auto.parameters["params"]["precision"] == auto.resolved_precision


def test_unknown_chapter_and_profile_list_the_valid_ones():
    from clipstudy.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="02_natural_shifts"):
        chapters.select("99")
    with pytest.raises(UnknownNameError, match="smoke"):
        book.build("fast")


def _tree_state(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


@pytest.mark.slow
def test_smoke_profile_executes_every_chapter_and_builds_the_book(tmp_path):
    """The whole book at tiny sizes, through the CLI, as `make book` runs it; any cell error fails. An OOD score
    registered by a plugin (one function) appears in chapter 06's table.

    It builds in a temporary folder: the user's own book/ (chapters, tables, HTML) is left untouched.
    """
    before = {d: _tree_state(book.BOOK / d) for d in ("_build", "chapters", "results")}
    out = tmp_path / "book-out"
    env = dict(os.environ, MPLBACKEND="Agg")  # as in CI: the build must still put inline figures in the book
    # a plugin registers one more OOD score (tests/ood_plugin_example.py): chapter 06 must score with it
    env.update(CLIPSTUDY_PLUGINS="ood_plugin_example",
               PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "clipstudy.cli", "build", "--profile", "smoke", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=2700)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert {d: _tree_state(book.BOOK / d) for d in before} == before  # nothing in the checkout's book changed
    for p in chapters.notebooks():
        nb = json.loads((out / "book" / "chapters" / f"{p.name}.ipynb").read_text())
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{p.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
        figures = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert figures or p.name.startswith(("01_", "10_")), f"{p.name} shows no figure"
        assert (out / "book" / "_build" / "html" / "book" / "chapters" / f"{p.name}.html").exists()
    from test_metrics_ood_registry import check_plugin_score

    check_plugin_score(out / "book" / "results", out / "book" / "chapters")
    # the claims page, the book's front door: every claim of paper_claims.csv with a computed verdict
    table = pd.read_csv(out / "book" / "results" / "11_claims" / "claims.csv")
    assert list(table["id"]) == list(claims.listing()["id"])
    assert set(table["verdict"]) <= set(claims.VERDICTS) and table["verdict"].notna().all()
    ev = pd.read_csv(out / "book" / "results" / "11_claims" / "claims_evidence.csv", keep_default_na=False)
    judged = ev[(ev["role"] != "secondary") & (ev["effect"].astype(str) != "")]
    for r in table.itertuples():  # each measured source names its unit; a small n or a proxy says so in a caveat
        for s in claims.SOURCES:
            if getattr(r, f"{s}_verdict") != "not measured":
                assert isinstance(getattr(r, f"{s}_unit"), str) and getattr(r, f"{s}_unit"), (r.id, s)
    small = judged[judged["caveat"].astype(str).str.startswith("n too small")]
    assert set(small["id"]) <= set(table.loc[table["caveat"].fillna("").str.len() > 0, "id"])
    assert str(table.set_index("id").loc["C10", "caveat"]).startswith("proxy") or \
        table.set_index("id").loc["C10", "records_verdict"] == "not measured"
    # every effect between real models from the records has an interval, or says why not (Evidence III)
    eff = pd.read_csv(out / "book" / "results" / "10_summary" / "all_effects.csv", keep_default_na=False)
    rec = eff[eff["source"] == "records"]
    lo, hi = pd.to_numeric(rec["ci_low"]), pd.to_numeric(rec["ci_high"])
    bounded = np.isfinite(lo) & np.isfinite(hi)
    bare = rec[~bounded & ~rec["note"].str.startswith("n too small")]
    assert len(rec) >= 20 and bare.empty, bare[["chapter", "metric", "comparison"]].to_string()
    assert (lo[bounded] <= hi[bounded]).all()
    # the cache's request log splits the build's encoding cost by chapter (benchmarks/book_cost.py reads it)
    from clipstudy.config import cache_root

    logged = [json.loads(line) for line in (cache_root() / "features" / "requests.jsonl").read_text().splitlines()]
    stems = {p.name for p in chapters.notebooks()}
    asking = {r["chapter"] for r in logged if r.get("kind") == "images"} & stems
    assert len(asking) >= 5, asking  # every lab chapter encodes through the engine


def test_chapter_helpers_show_one_notice_when_evidence_is_missing(tmp_path, monkeypatch):
    from clipstudy import chapter

    shown = []
    monkeypatch.setattr(chapter, "notice", lambda title, body: shown.append((title, body)))
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    assert chapter.records_ready() is False and shown[-1][0] == "Records missing"
    (tmp_path / "records" / "open_clip").mkdir(parents=True)
    n = len(shown)
    assert chapter.records_ready() is True and len(shown) == n

    # the live sections read the runner's results table: one notice when the profile is not live, when the
    # table is absent, and one naming the declared datasets the table has no rows for
    from clipstudy.axes import calibration, shifts
    from clipstudy.profiles import PROFILES

    ch = chapter.Chapter(shifts.AXIS.chapter, tmp_path, "lab", axis=shifts.AXIS, params=PROFILES["lab"])
    assert ch.live() is None and "live profile was not selected" in shown[-1][1]
    ch = chapter.Chapter(shifts.AXIS.chapter, tmp_path, "live", axis=shifts.AXIS, params=PROFILES["live"])
    assert ch.live() is None and "the live results table" in shown[-1][1]
    rows = [dict(model="m", dataset=d, axis=a, part="all", metric="top1", value=0.5, n=10, prompts="p", precision="fp32")
            for d, a in (("imagenet", "shifts"), ("imagenet-sketch", "shifts"), ("coco-5k", "retrieval"))]
    (tmp_path / "live").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "live" / "results.csv", index=False)
    n = len(shown)
    got = ch.live()
    assert list(got["dataset"]) == ["imagenet", "imagenet-sketch"] and len(shown) == n + 1
    assert shown[-1][0] == "Live rows missing" and "imagenet-v2" in shown[-1][1] and "imagenet-sketch" not in shown[-1][1]
    assert ch.live(calibration.AXIS) is None and "rows of axis `calibration`" in shown[-1][1]


def test_book_pages_fold_code_and_replace_widgets_with_a_static_note(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("explore()"), nbformat.v4.new_markdown_cell("text")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "text/plain": "interactive(children=...)"})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / "05_x.ipynb"
    nbformat.write(nb, path)
    chapters.tidy_parameters(path)
    got = nbformat.read(path, as_version=4)
    assert "remove-cell" in got.cells[0].metadata["tags"] and "hide-input" in got.cells[1].metadata["tags"]
    (out,) = got.cells[1].outputs
    assert list(out["data"]) == ["text/markdown"] and "notebooks/05_x.ipynb" in out["data"]["text/markdown"]
    assert "widgets" not in got.metadata


def test_html_check_finds_raw_tex_empty_widgets_and_cut_tables():
    from clipstudy.htmlcheck import dom_problems

    assert dom_problems("<p>ok</p><mjx-container>\\(x\\)</mjx-container><pre>\\(code\\)</pre>") == []
    assert "raw TeX" in dom_problems("<p>ECE \\(=\\sum_b\\)</p>")[0]
    assert "widget" in dom_problems('<script type="application/vnd.jupyter.widget-view+json">{}</script>')[0]
    assert "truncated" in dom_problems("<table><tr><td>1</td><td>...</td></tr></table>")[0]
    assert "truncated" in dom_problems("<pre>x</pre><p>[200 rows x 5 columns]</p>")[0]


def test_mathjax_is_served_from_the_book(tmp_path):
    dest = html.vendor_mathjax(tmp_path)
    assert dest == tmp_path / "_static" / "mathjax" / "tex-svg.js" and dest.stat().st_size > 500_000
    assert "mathjax_path: mathjax/tex-svg.js" in (REPO / "_config.yml").read_text()


@pytest.mark.parametrize("profile,fetches", [("t", True), ("smoke", False)])
def test_build_fetches_missing_records_first_except_in_smoke(tmp_path, monkeypatch, profile, fetches, capsys):
    calls = []
    import dataclasses

    monkeypatch.setattr(book, "fetch_records", lambda: calls.append(1) or "offline (test)")
    (tmp_path / "none").mkdir()
    _declare(monkeypatch, tmp_path / "none")
    # the profile's own rule without its lab: smoke fetches nothing, a profile that says nothing fetches
    prof = dataclasses.replace(profiles.PROFILES[profile], lab=None) if profile in profiles.PROFILES \
        else Profile(profile, lab=None)
    monkeypatch.setitem(profiles.PROFILES, profile, prof)
    assert book.build(profile=profile, skip_html=True, out=tmp_path / "out") == 0
    assert bool(calls) == fetches
    if fetches:
        assert "clipstudy fetch records" in capsys.readouterr().out


@pytest.mark.parametrize("lo,hi", [(-1, 5), (-5, 5), (0.5, 1.2), (-2.0, -1.9), (-8, 8)])
def test_logit_axis_labels_never_repeat_or_crowd(lo, hi):
    from clipstudy import plots

    ticks = plots.logit_ticks(lo, hi)
    fmt = plots._pct_formatter(ticks)
    labels = [fmt(t) for t in ticks]
    assert 2 <= len(ticks) <= 6 and len(set(labels)) == len(labels)
    assert all(lo <= t <= hi for t in ticks) and (np.diff(ticks) > 0).all()


def _book_env(tmp_path, monkeypatch, book_: dict[str, list[str]]) -> Path:
    """A book of the given chapters (stem -> cells) under tmp_path/notebooks, with a profile without the lab."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir(exist_ok=True)
    for stem, cells in book_.items():
        _write_nb(nbdir / f"{stem}.py", cells)
    _declare(monkeypatch, nbdir)
    monkeypatch.setitem(profiles.PROFILES, "t", Profile("t", lab=None))
    return tmp_path / "out" / "book" / "chapters"


def test_a_failed_chapter_keeps_the_previous_good_chapter_and_the_build_names_it(tmp_path, monkeypatch, capsys):
    folder = _book_env(tmp_path, monkeypatch, {"01_one": ["print('good version')"]})
    assert book.build(profile="t", skip_html=True, out=tmp_path / "out", fetch=False) == 0
    good = (folder / "01_one.ipynb").read_bytes()
    # the chapter breaks: the book keeps the good one, and the build says which chapter failed and where it is
    _write_nb(tmp_path / "notebooks" / "01_one.py", ["raise ValueError('broken on purpose')"])
    capsys.readouterr()
    assert book.build(profile="t", skip_html=True, out=tmp_path / "out", fetch=False) == 1
    err = capsys.readouterr().err
    assert (folder / "01_one.ipynb").read_bytes() == good
    assert "01_one" in err and "broken on purpose" in err and "previous good chapter is kept" in err, err
    failed = folder / ".01_one.failed.ipynb"
    assert failed.exists() and "broken on purpose" in failed.read_text() and str(failed) in err
    assert sorted(p.name for p in folder.iterdir()) == [".01_one.failed.ipynb", "01_one.ipynb"]


def test_only_into_a_folder_holding_a_failed_chapter_does_not_publish_it(tmp_path, monkeypatch, capsys):
    """The trial: a build in which 02 fails, then `--only 01` into the same folder. The HTML is never built
    with a failed chapter, and the build never just says "book written"."""
    folder = _book_env(tmp_path, monkeypatch, {"01_one": ["x = 1"], "02_bad": ["raise ValueError('bad')"]})
    built = []
    monkeypatch.setattr(html, "build_html", lambda project, toc=None: built.append(project) or project / "book" / "_build")
    assert book.build(profile="t", skip_html=True, out=tmp_path / "out", fetch=False) == 1
    capsys.readouterr()
    # as the trial ran it: 02 has no good version, so the book written without it says so and exits 1
    assert book.build(profile="t", only="01", out=tmp_path / "out", fetch=False) == 1
    out, err = capsys.readouterr()
    assert "without chapter(s) 02_bad: their last build failed" in err, out + err
    # a failed notebook in chapters/ (as an older build left it): the HTML is refused, naming the chapter
    (folder / "02_bad.ipynb").write_bytes((folder / ".02_bad.failed.ipynb").read_bytes())
    built.clear()
    assert book.build(profile="t", only="01", out=tmp_path / "out", fetch=False) == 1
    out, err = capsys.readouterr()
    assert not built and "book written" not in out
    assert "book NOT written" in err and "02_bad: it failed: cell 2" in err and "--only 02" in err, err


_INTERRUPTED_BUILD = """
import sys
from pathlib import Path
from clipstudy import book, cli, profiles
from clipstudy.axes import Axis
from clipstudy.profiles import Profile
book.chapters.declared = lambda: [Axis(p.stem, p.stem, p.stem, order=i, notebook=str(p))
                                  for i, p in enumerate(sorted(Path(sys.argv[1]).glob("*.py")))]
profiles.PROFILES["t"] = Profile("t", lab=None)  # cli.PROFILES is the same table: --profile t is a choice
sys.exit(cli.main(["build", "--profile", "t", "--no-html", "--no-fetch", "--out", sys.argv[2]]))
"""


def test_ctrl_c_during_a_chapter_leaves_no_half_executed_notebook(tmp_path):
    """Ctrl-C (SIGINT to the build's process group, as a terminal sends it) while a chapter runs: the chapter's
    previous good version is kept as it was, and nothing half-executed is left in chapters/."""
    import signal
    import time

    nbdir, out = tmp_path / "notebooks", tmp_path / "out"
    nbdir.mkdir()
    started = tmp_path / "started"
    _write_nb(nbdir / "01_slow.py", ["print('first cell done')",
                                     f"open({str(started)!r}, 'w').close()\nimport time\ntime.sleep(120)"])
    folder = out / "book" / "chapters"
    folder.mkdir(parents=True)
    (folder / "01_slow.ipynb").write_text("previous good chapter")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_BUILD, str(nbdir), str(out)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # SIGINT as a terminal gives it, even under a test run started in the background
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not started.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert started.exists(), proc.communicate(timeout=30)
        time.sleep(1.0)  # papermill has saved the executed first cell by now
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stdout + stderr
    assert sorted(p.name for p in folder.iterdir()) == ["01_slow.ipynb"]
    assert (folder / "01_slow.ipynb").read_text() == "previous good chapter"
    assert "build interrupted in chapter 01_slow" in stderr, stderr


def test_your_models_join_the_live_panel_and_every_chapter_marks_them(tmp_path, monkeypatch):
    """`build --models` (a live profile only): the researcher's checkpoints join the live panel, the build's live
    mark names them, and a chapter labels them "(yours)" in its tables, saved tables and figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clipstudy import chapter, tables
    from clipstudy.axes import shifts
    from clipstudy.config import live_yours
    from clipstudy.profiles import PROFILES
    from clipstudy.errors import ClipstudyError, UnknownNameError

    with pytest.raises(ClipstudyError, match="--profile live"):
        book.your_models(["ViT-B-32/openai"], profiles.PROFILES["lab"])
    with pytest.raises(UnknownNameError):
        book.your_models(["ViT-B-32/opena"], profiles.PROFILES["live"])
    import runner_fixtures

    with pytest.raises(ClipstudyError, match="open_clip_config.json"):  # a folder that holds no model fails now
        book.your_models([f"local-dir:{tmp_path / 'empty'}"], profiles.PROFILES["live"])
    mine = runner_fixtures.tiny_local_dir(tmp_path / "my-clip", 0)
    assert book.your_models([f"ViT-B-16/openai,{mine}"], profiles.PROFILES["live"]) == ["ViT-B-16/openai", mine]

    seen = {}
    monkeypatch.setattr(chapters, "select", lambda only=None: [])
    monkeypatch.setattr(book.grids, "run_lab", lambda *a, **k: None)
    monkeypatch.setattr(book.grids, "run_live", lambda b, models=None, **k: seen.setdefault(
        "models", list(models or book.grids.live_models(b))))
    from clipstudy.lab import zoo as lab_zoo

    monkeypatch.setattr(lab_zoo, "train", lambda *a, **k: None)
    out = tmp_path / "out"
    assert book.build("live-smoke", device="cpu", skip_html=True, out=out, fetch=False,
                      models=["ViT-B-16/openai"]) == 0
    panel = list(PROFILES["live-smoke"].live_models)
    assert seen["models"] == panel + ["ViT-B-16/openai"]
    results = out / "book" / "results"
    assert live_yours(results) == ["ViT-B-16/openai"]

    ch = chapter.start(shifts.AXIS, profile="live-smoke", device="cpu", results_dir=str(results), precision="fp32")
    try:
        assert tables.MARKED == {"ViT-B-16/openai"}
        frame = pd.DataFrame(dict(model=["ViT-B-16/openai", panel[0]], value=[0.1, 0.2]))
        shown = tables.format_frame(tables.mark_models(frame))
        assert list(shown["model"]) == ["ViT-B-16/openai (yours)", panel[0]]
        ch.save(frame, "mine")
        assert list(pd.read_csv(ch.path("mine"))["yours"]) == [True, False]
        fig, ax = plt.subplots()
        ax.bar(frame["model"], frame["value"], label="x")
        ax.plot([0, 1], [0, 0], label="ViT-B-16/openai")
        ax.legend()
        ch.figure(fig, frame, "mine_fig")
        assert [t.get_text() for t in ax.get_xticklabels()] == ["ViT-B-16/openai (yours)", panel[0]]
        assert "ViT-B-16/openai (yours)" in [t.get_text() for t in ax.get_legend().get_texts()]
        plt.close(fig)
    finally:
        tables.mark(())


_PLUGIN = '''"""A plugin chapter: its axis and, beside this module, its notebook."""
from pathlib import Path

from clipstudy.axes.core import Axis, register

AXIS = register(Axis("toy_chapter", "toy chapter", "95_toy", order=9.5,
                     notebook=str(Path(__file__).with_name("95_toy.py"))))
'''


def test_a_plugin_chapter_joins_the_build_order_and_the_toc(tmp_path, monkeypatch):
    """A chapter declared in a plugin (`CLIPSTUDY_PLUGINS`), its notebook in the plugin's own folder, joins the build
    before the chapters that read all others, its place in the book's toc, and the summary's columns, with nothing
    in clipstudy/ edited."""
    from clipstudy import axes
    from clipstudy.axes import summary

    (tmp_path / "toy_chapter_plugin.py").write_text(_PLUGIN)
    _write_nb(tmp_path / "95_toy.py", ["x = 1"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CLIPSTUDY_PLUGINS", "toy_chapter_plugin")
    try:
        order = [n.name for n in chapters.notebooks()]
        assert order.index("09_lmm") < order.index("95_toy") < order.index("10_summary") < order.index("11_claims")
        assert chapters.select("95")[0].source == tmp_path / "95_toy.py"
        study = [c["file"] for p in html.toc(chapters.notebooks())["parts"] if p["caption"] == "The study"
                 for c in p["chapters"]]
        assert study.index("book/chapters/09_lmm") + 1 == study.index("book/chapters/95_toy") \
            == study.index("book/chapters/10_summary") - 1
        assert "toy chapter" in [a.name for a in summary.expected()]
    finally:  # the next tests see the package's axes only
        axes.REGISTRY.pop("toy_chapter", None)
        sys.modules.pop("toy_chapter_plugin", None)


_TOY_CLAIM_PLUGIN = '''"""A plugin's chapter, end to end: its axis, its notebook (beside this module), one published table, its effects,
and one claim with its evidence. Nothing of it lives in clipstudy/."""
from pathlib import Path

import pandas as pd

from clipstudy.axes import evidence as ev
from clipstudy.axes.core import Axis, register

AXIS = register(Axis("toy_claim", "toy axis", "95_toy", order=9.5, notebook=str(Path(__file__).with_name("95_toy.py"))))
VALUES = AXIS.table("toy_values", recipe="text", seed="int64", value="float64")
ev.claim(id="T1", axis="toy axis", factor="architecture", claim="The toy treatment raises the toy value.",
         effect="toy value", expected="higher", source="a test", rule="positive", metric="toy value",
         lab_primary="treated vs base", lab_unit="seeds")


def run(ch):
    v = pd.DataFrame(dict(recipe=["treated"] * 3 + ["base"] * 3, seed=[0, 1, 2] * 2,
                          value=[0.61, 0.63, 0.62, 0.50, 0.52, 0.51]))
    ch.publish(VALUES, v)
    res = ev.lab_seed_contrast(v, "treated", "base")
    ch.effects.add("architecture", "toy value", res["effect"], "treated vs base", "lab", n=res["n"],
                   ci=(res["ci_low"], res["ci_high"]))
    ch.effects.write(ch)


@ev.evidence("T1")
def t1(results, records_root=None):
    v = VALUES.read(results)
    if v is None:
        return [ev.row("lab", "", note="the toy chapter wrote no table")]
    return [ev.result_row("lab", "toy value, treated vs base", ev.lab_seed_contrast(v, "treated", "base"),
                          role="primary", unit="seeds")]
'''


@pytest.mark.slow
def test_a_plugin_chapter_runs_before_the_summary_shows_in_it_and_its_claim_is_judged(tmp_path, monkeypatch):
    """The whole path of a plugin's chapter through a real build (papermill kernels): declared in the plugin's own
    files, it runs before the summary and the claims page; its published table reaches its claim's evidence; its
    effect is in the summary's table; the claims page lists and judges its claim beside the paper's."""
    from clipstudy import axes
    from clipstudy.axes import claims as claims_axis, evidence, summary

    (tmp_path / "toy_claim_plugin.py").write_text(_TOY_CLAIM_PLUGIN)
    _write_nb(tmp_path / "95_toy.py", ["import toy_claim_plugin as toy\nfrom clipstudy import chapter",
                                       "ch = chapter.start(toy.AXIS, **params)", "toy.run(ch)"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("CLIPSTUDY_PLUGINS", "toy_claim_plugin")
    monkeypatch.setattr(grids, "lab_zoo", lambda b: None)  # the toy reads no lab set: no zoo, no grid
    monkeypatch.setattr(grids, "run_lab", lambda b: None)
    real = chapters.declared
    monkeypatch.setattr(chapters, "declared", lambda: [a for a in real() if a.key in ("toy_claim", "summary",
                                                                                          "claims")])
    out = tmp_path / "out"
    try:
        order = [n.name for n in chapters.notebooks()]
        assert order == ["95_toy", "10_summary", "11_claims"]
        assert book.build(profile="smoke", skip_html=True, out=out, fetch=False) == 0
    finally:  # the next tests see the package's axes and claims only
        axes.REGISTRY.pop("toy_claim", None)
        evidence.DECLARED.pop("T1", None)
        evidence.EVIDENCE.pop("T1", None)
        sys.modules.pop("toy_claim_plugin", None)
    results = out / "book" / "results"
    assert (results / "95_toy" / "toy_values.parquet").is_file()
    eff = pd.read_csv(results / "10_summary" / "all_effects.csv", keep_default_na=False)
    toy = eff[eff["axis"] == "toy axis"]
    assert len(toy) == 1 and toy["effect"].iloc[0] == pytest.approx(0.11) and toy["chapter"].iloc[0] == "95_toy"
    table = pd.read_csv(results / "11_claims" / "claims.csv", keep_default_na=False).set_index("id")
    assert "T1" in table.index and table.loc["T1", "claim"] == "The toy treatment raises the toy value."
    assert table.loc["T1", "lab_verdict"] == "agrees", table.loc["T1"].to_dict()
    assert {"C1", "C4", "C14"} <= set(table.index)  # beside the paper's claims, which this build did not measure
    assert table.loc["C4", "verdict"] == "not measured"
    assert claims_axis.AXIS.reads_all and summary.AXIS.reads_all
